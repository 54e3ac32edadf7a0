using System.Text.Json;
using BigBirdSharp.RandomAttention;
using FsCheck.Xunit;

namespace BigBirdSharp.Tests.RandomAttention;

public sealed class NumpyRandomStateTests
{
    // Values from numpy 1.24: np.random.seed(s); np.random.randint(0, 2**32, size=1000, dtype=np.uint32)
    [Theory]
    [InlineData(0u, new uint[] { 2357136044u, 2546248239u, 3071714933u, 3626093760u }, 3043451800u)]
    [InlineData(1u, new uint[] { 1791095845u, 4282876139u, 3093770124u, 4005303368u }, 548926898u)]
    [InlineData(5u, new uint[] { 953453411u, 236996814u, 3739766767u, 3570525885u }, 3298208229u)]
    [InlineData(42u, new uint[] { 1608637542u, 3421126067u, 4083286876u, 787846414u }, 1946654618u)]
    [InlineData(12345u, new uint[] { 3992670690u, 3823185381u, 1358822685u, 561383553u }, 47030557u)]
    [InlineData(2147483647u, new uint[] { 1689602031u, 3831148394u, 2820341149u, 2744746572u }, 4086752972u)]
    [InlineData(4294967295u, new uint[] { 419326371u, 479346978u, 3918654476u, 2416749639u }, 2673539693u)]
    public void RawOutputsMatchNumpy(uint seed, uint[] first, uint thousandth)
    {
        var rng = new NumpyRandomState(seed);
        var drawn = new uint[1000];
        for (int k = 0; k < drawn.Length; k++)
        {
            drawn[k] = rng.NextUInt32();
        }

        Assert.Equal(first, drawn[..first.Length]);
        Assert.Equal(thousandth, drawn[999]);
    }

    [Fact]
    public void RawOutputsMatchFixtureForEverySeed()
    {
        foreach (JsonElement row in RandomPlanData.Section("mt19937").EnumerateArray())
        {
            var rng = new NumpyRandomState(row.GetProperty("seed").GetUInt32());
            uint[] first = row.GetProperty("first").EnumerateArray().Select(e => e.GetUInt32()).ToArray();
            uint[] ours = new uint[1000];
            for (int k = 0; k < ours.Length; k++)
            {
                ours[k] = rng.NextUInt32();
            }

            Assert.Equal(first, ours[..first.Length]);
            Assert.Equal(row.GetProperty("at1000").GetUInt32(), ours[999]);
        }
    }

    [Fact]
    public void ReseedingRestartsTheStream()
    {
        var rng = new NumpyRandomState(7);
        uint a = rng.NextUInt32();
        rng.NextUInt32();
        rng.Seed(7);
        Assert.Equal(a, rng.NextUInt32());
    }

    public static TheoryData<int> PermutationCases()
    {
        var data = new TheoryData<int>();
        int count = RandomPlanData.Section("permutations").GetArrayLength();
        for (int k = 0; k < count; k++)
        {
            data.Add(k);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(PermutationCases))]
    public void PermutationMatchesNumpy(int index)
    {
        JsonElement row = RandomPlanData.Section("permutations")[index];
        uint seed = row.GetProperty("seed").GetUInt32();
        int n = row.GetProperty("n").GetInt32();
        int[] expected = RandomPlanData.Ints(row.GetProperty("perm"));

        Assert.Equal(expected, new NumpyRandomState(seed).Permutation(n));

        int[] identity = Enumerable.Range(0, n).ToArray();
        Assert.Equal(expected, new NumpyRandomState(seed).Permutation(identity));
        Assert.Equal(Enumerable.Range(0, n).ToArray(), identity);
    }

    [Fact]
    public void SequentialArrayPermutationsMatchNumpy()
    {
        JsonElement section = RandomPlanData.Section("sequential");
        var rng = new NumpyRandomState(section.GetProperty("seed").GetUInt32());
        int steps = 0;
        foreach (JsonElement step in section.GetProperty("steps").EnumerateArray())
        {
            int[] values = RandomPlanData.Ints(step.GetProperty("values"));
            Assert.Equal(RandomPlanData.Ints(step.GetProperty("perm")), rng.Permutation(values));
            steps++;
        }

        Assert.Equal(6, steps);
    }

    [Fact]
    public void NegativePermutationLengthIsRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new NumpyRandomState(0).Permutation(-1));
    }

    [Property(MaxTest = 300)]
    public bool BoundedDrawStaysInRange(uint seed, uint max)
    {
        var rng = new NumpyRandomState(seed);
        for (int k = 0; k < 20; k++)
        {
            if (rng.NextBounded(max) > max)
            {
                return false;
            }
        }

        return true;
    }

    [Property(MaxTest = 200)]
    public bool PermutationIsAPermutation(uint seed, byte size)
    {
        int[] perm = new NumpyRandomState(seed).Permutation(size);
        return perm.Order().SequenceEqual(Enumerable.Range(0, size));
    }
}
