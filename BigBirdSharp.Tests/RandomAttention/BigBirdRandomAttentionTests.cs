using System.Text.Json;
using BigBirdSharp.RandomAttention;
using FsCheck.Xunit;

namespace BigBirdSharp.Tests.RandomAttention;

public sealed class BigBirdRandomAttentionTests
{
    public static TheoryData<int> TableCases() => Indices("tables");

    public static TheoryData<int> SmallCases() => Indices("small");

    public static TheoryData<int> PlanCases() => Indices("plans");

    [Theory]
    [MemberData(nameof(TableCases))]
    public void SeededTableMatchesTransformers(int index)
    {
        JsonElement row = RandomPlanData.Section("tables")[index];
        Assert.True(row.GetProperty("ok").GetBoolean());
        int[] ours = Run(RandomAttentionSemantics.Seeded, row);
        Assert.Equal(RandomPlanData.Ints(row.GetProperty("rand_attn")), ours);
        Assert.Equal(ExpectedLength(row), ours.Length);
    }

    [Theory]
    [MemberData(nameof(SmallCases))]
    public void SmallConfigurationsMatchTransformersIncludingErrors(int index)
    {
        JsonElement row = RandomPlanData.Section("small")[index];
        if (row.GetProperty("ok").GetBoolean())
        {
            int[] ours = Run(RandomAttentionSemantics.Seeded, row);
            Assert.Equal(RandomPlanData.Ints(row.GetProperty("rand_attn")), ours);
        }
        else
        {
            string error = row.GetProperty("error").GetString()!;
            const string prefix = "ValueError: ";
            Assert.StartsWith(prefix, error);
            var ex = Assert.Throws<BigBirdException>(() => Run(RandomAttentionSemantics.Seeded, row));
            Assert.Equal(error[prefix.Length..], ex.Message);
        }

        // Deterministic semantics never draws, so it never fails on these shapes.
        int[] zeros = Run(RandomAttentionSemantics.Deterministic, row);
        Assert.Equal(ExpectedLength(row), zeros.Length);
        Assert.All(zeros, v => Assert.Equal(0, v));
    }

    [Theory]
    [MemberData(nameof(PlanCases))]
    public void PlanMatchesTransformers(int index)
    {
        JsonElement row = RandomPlanData.Section("plans")[index];
        (int[] fromLength, int[] numRand) = BigBirdRandomAttention.GetRandAttnPlan(
            row.GetProperty("seq_len").GetInt32(), row.GetProperty("block_size").GetInt32(),
            row.GetProperty("num_rand_blocks").GetInt32());
        Assert.Equal(RandomPlanData.Ints(row.GetProperty("plan_from_length")), fromLength);
        Assert.Equal(RandomPlanData.Ints(row.GetProperty("plan_num_rand_blocks")), numRand);
    }

    [Fact]
    public void FixtureCoversTheRequiredGrid()
    {
        var rows = RandomPlanData.Section("tables").EnumerateArray().ToList();
        var blockSizes = rows.Select(r => r.GetProperty("block_size").GetInt32()).ToHashSet();
        Assert.Superset(new HashSet<int> { 2, 4, 16, 64 }, blockSizes);
        Assert.Equal(new[] { 1, 2, 3 }, rows.Select(r => r.GetProperty("num_rand_blocks").GetInt32()).Distinct().Order());
        Assert.Equal(new[] { 1, 2, 4, 12 }, rows.Select(r => r.GetProperty("heads").GetInt32()).Distinct().Order());
        Assert.Contains(rows, r => r.GetProperty("seq_len").GetInt32() == 1024 && r.GetProperty("max_seqlen").GetInt32() == 2048);
        Assert.Contains(rows, r => r.GetProperty("seq_len").GetInt32() == 3072);
        Assert.Contains(rows, r => r.GetProperty("seq_len").GetInt32() == 4096);
        Assert.Contains(rows, r => r.GetProperty("seq_len").GetInt32() / r.GetProperty("block_size").GetInt32() == 13);
        Assert.Equal("4.27.1", RandomPlanData.Data.GetProperty("transformers").GetString());
    }

    [Theory]
    [InlineData(1024, 64, 2, 4, 4096)]
    [InlineData(4096, 64, 3, 12, 4096)]
    [InlineData(832, 64, 3, 2, 4096)]
    [InlineData(26, 2, 1, 1, 4096)]
    public void DeterministicReturnsZerosOfTheSeededShape(int seqLen, int blockSize, int r, int heads, int maxSeqlen)
    {
        int[] seeded = BigBirdRandomAttention.GetRandAttn(
            RandomAttentionSemantics.Seeded, 3, seqLen, seqLen, blockSize, blockSize, r, heads, maxSeqlen);
        int[] zeros = BigBirdRandomAttention.GetRandAttn(
            RandomAttentionSemantics.Deterministic, 3, seqLen, seqLen, blockSize, blockSize, r, heads, maxSeqlen);
        Assert.Equal(heads * (seqLen / blockSize - 2) * r, zeros.Length);
        Assert.Equal(seeded.Length, zeros.Length);
        Assert.All(zeros, v => Assert.Equal(0, v));
        Assert.Contains(seeded, v => v != 0);
    }

    [Fact]
    public void DeterministicIsTheDefaultSemantics()
    {
        Assert.Equal(RandomAttentionSemantics.Deterministic, default(RandomAttentionSemantics));
    }

    [Theory]
    [InlineData(RandomAttentionSemantics.Seeded)]
    [InlineData(RandomAttentionSemantics.Deterministic)]
    public void DifferentBlockCountsAreRejected(RandomAttentionSemantics semantics)
    {
        var ex = Assert.Throws<BigBirdException>(() =>
            BigBirdRandomAttention.GetRandAttn(semantics, 0, 640, 704, 64, 64, 3, 2, 4096));
        Assert.Equal("Error the number of blocks needs to be same!", ex.Message);
        Assert.Throws<BigBirdException>(() =>
            BigBirdRandomAttention.BigBirdBlockRandMask(null, 640, 640, 64, 32, 3));
    }

    [Fact]
    public void LengthOutsideThePlanIsRejected()
    {
        var ex = Assert.Throws<BigBirdException>(() => BigBirdRandomAttention.BigBirdBlockRandMaskWithHead(
            new NumpyRandomState(0), 640, 640, 64, 64, 2, [448, 600], [3, 0]));
        Assert.Equal("Error from sequence length not in plan!", ex.Message);
    }

    [Fact]
    public void OldPlanLongerThanMaxPositionsIsRejected()
    {
        Assert.Throws<BigBirdException>(() => BigBirdRandomAttention.GetRandAttn(
            RandomAttentionSemantics.Seeded, 0, 4096, 4096, 64, 64, 3, 2, 2048));
    }

    [Theory]
    [InlineData(-1, 640, 64, 3, 2)]
    [InlineData(0, 640, 0, 3, 2)]
    [InlineData(0, 640, 64, -1, 2)]
    [InlineData(0, 640, 64, 3, 0)]
    [InlineData(0, -64, 64, 3, 2)]
    public void InvalidArgumentsAreRejected(int seed, int seqLen, int blockSize, int r, int heads)
    {
        Assert.Throws<BigBirdException>(() => BigBirdRandomAttention.GetRandAttn(
            RandomAttentionSemantics.Seeded, seed, seqLen, seqLen, blockSize, blockSize, r, heads, 4096));
    }

    [Fact]
    public void SingleBlockRowSkipsIllegalBlocks()
    {
        // Block 5 in [0, 12): window 4..6, global 0 and 11 are illegal; all 7 legal blocks fit when asking for 20.
        int[] row = BigBirdRandomAttention.GetSingleBlockRowAttention(new NumpyRandomState(9), 5, 0, 12, 20);
        Assert.Equal(new[] { 1, 2, 3, 7, 8, 9, 10 }, row.Order());
    }

    [Fact]
    public void OldPlanLengthsAreRecognised()
    {
        Assert.True(BigBirdRandomAttention.IsOldPlanLength(1024));
        Assert.True(BigBirdRandomAttention.IsOldPlanLength(3072));
        Assert.True(BigBirdRandomAttention.IsOldPlanLength(4096));
        Assert.False(BigBirdRandomAttention.IsOldPlanLength(2048));
    }

    // transformers guarantees, for the per-head plan above the block-sparse threshold, that every random block is
    // a middle block (neither global block) and lies outside the row's sliding window, with no repeats in a row.
    [Property(MaxTest = 150)]
    public bool SeededPerHeadPlanAvoidsWindowAndGlobals(byte seed, byte extraBlocks, byte rChoice, byte headChoice, byte bsChoice)
    {
        int r = 1 + rChoice % 3;
        int heads = 1 + headChoice % 4;
        int blockSize = new[] { 1, 2, 4, 16, 64 }[bsChoice % 5];
        int numBlocks = 2 * r + 6 + extraBlocks % 60;
        int seqLen = numBlocks * blockSize;
        if (BigBirdRandomAttention.IsOldPlanLength(seqLen))
        {
            return true;
        }

        int[] flat = BigBirdRandomAttention.GetRandAttn(
            RandomAttentionSemantics.Seeded, seed, seqLen, seqLen, blockSize, blockSize, r, heads, 4096);
        if (flat.Length != heads * (numBlocks - 2) * r)
        {
            return false;
        }

        for (int h = 0; h < heads; h++)
        {
            for (int row = 0; row < numBlocks - 2; row++)
            {
                int block = row + 1;
                var seen = new HashSet<int>();
                for (int c = 0; c < r; c++)
                {
                    int v = flat[(h * (numBlocks - 2) + row) * r + c];
                    if (v <= 0 || v >= numBlocks - 1 || Math.Abs(v - block) <= 1 || !seen.Add(v))
                    {
                        return false;
                    }
                }
            }
        }

        return true;
    }

    // The old plan only promises middle blocks below last_idx = 1024 tokens (it may hit the row's own window).
    [Property(MaxTest = 40)]
    public bool SeededOldPlanStaysBelowLastIdx(byte seed, byte lengthChoice, byte bsChoice, byte rChoice)
    {
        int seqLen = new[] { 1024, 3072, 4096 }[lengthChoice % 3];
        int blockSize = new[] { 16, 32, 64 }[bsChoice % 3];
        int r = 1 + rChoice % 3;
        int[] flat = BigBirdRandomAttention.GetRandAttn(
            RandomAttentionSemantics.Seeded, seed, seqLen, seqLen, blockSize, blockSize, r, 2, 4096);
        int limit = 1024 / blockSize - 1;
        return flat.Length == 2 * (seqLen / blockSize - 2) * r && flat.All(v => v >= 1 && v <= limit);
    }

    [Property(MaxTest = 100)]
    public bool DeterministicIsAlwaysZero(byte seed, byte extraBlocks, byte rChoice, byte heads)
    {
        int r = rChoice % 4;
        int h = 1 + heads % 6;
        int numBlocks = 2 + extraBlocks % 80;
        int[] flat = BigBirdRandomAttention.GetRandAttn(
            RandomAttentionSemantics.Deterministic, seed, numBlocks * 16, numBlocks * 16, 16, 16, r, h, 4096);
        return flat.Length == h * (numBlocks - 2) * r && flat.All(v => v == 0);
    }

    private static int[] Run(RandomAttentionSemantics semantics, JsonElement row)
    {
        int seqLen = row.GetProperty("seq_len").GetInt32();
        int blockSize = row.GetProperty("block_size").GetInt32();
        return BigBirdRandomAttention.GetRandAttn(
            semantics,
            row.GetProperty("layer").GetInt32(),
            seqLen,
            seqLen,
            blockSize,
            blockSize,
            row.GetProperty("num_rand_blocks").GetInt32(),
            row.GetProperty("heads").GetInt32(),
            row.GetProperty("max_seqlen").GetInt32());
    }

    private static int ExpectedLength(JsonElement row)
    {
        int numBlocks = row.GetProperty("seq_len").GetInt32() / row.GetProperty("block_size").GetInt32();
        return row.GetProperty("heads").GetInt32() * Math.Max(0, numBlocks - 2) * row.GetProperty("num_rand_blocks").GetInt32();
    }

    private static TheoryData<int> Indices(string section)
    {
        var data = new TheoryData<int>();
        int count = RandomPlanData.Section(section).GetArrayLength();
        for (int k = 0; k < count; k++)
        {
            data.Add(k);
        }

        return data;
    }
}
