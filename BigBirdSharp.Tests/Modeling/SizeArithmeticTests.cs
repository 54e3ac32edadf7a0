using System.Text.Json.Nodes;
using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;
using BigBirdSharp.IO;
using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.RandomAttention;

namespace BigBirdSharp.Tests.Modeling;

/// <summary>
/// Sizes that come from config.json or from a call's inputs: every product is computed without overflow, HF's
/// full-attention fallback holds for any block_size and num_random_blocks, and a shape too large to hold is a typed
/// error naming the field or tensor and the bound, never an OverflowException, OutOfMemoryException or a wrapped length.
/// </summary>
public sealed class SizeArithmeticTests
{
    private static string Fixture => Path.Combine(RepoPaths.Models, "bs_h32_a4_l2_b4_r2");
    private static readonly Lazy<BigBirdConfig> fixtureConfig = new(() => BigBirdConfig.FromFile(Path.Combine(Fixture, "config.json")));

    private static int[] Ids(int n, int vocab) => Enumerable.Range(0, n).Select(i => (i * 37 + 5) % vocab).ToArray();

    [Theory]
    [InlineData(268435456, 2, 2415919104L)]
    [InlineData(16, 100000000, 3200000080L)]
    [InlineData(715827883, 0, 3579139415L)]
    [InlineData(int.MaxValue, int.MaxValue, long.MaxValue)] // (2^32 + 3)·(2^31 − 1) passes long: saturates
    [InlineData(64, 3, 704L)]
    public void MaxTokensToAttend_is_exact_past_the_int_range(int blockSize, int numRandomBlocks, long expected)
    {
        var c = new BigBirdConfig { BlockSize = blockSize, NumRandomBlocks = numRandomBlocks };
        Assert.Equal(expected, c.MaxTokensToAttend);
    }

    /// <summary>
    /// HF compares seq_length with (5 + 2·num_random_blocks)·block_size in Python integers: however large, a short input
    /// falls back to original_full and runs. The int product used to wrap negative, so these configs ran block_sparse
    /// (and failed with "longer than max_position_embeddings" or a backend ArgumentException).
    /// </summary>
    [Theory]
    [InlineData(268435456, 2)]
    [InlineData(715827883, 2)]
    [InlineData(16, 100000000)]
    [InlineData(4, 1073741823)]
    [InlineData(int.MaxValue, int.MaxValue)]
    [InlineData(1048576, 3)]
    public void A_huge_block_size_or_random_block_count_falls_back_to_full_attention_as_HF_does(int blockSize, int numRandomBlocks)
    {
        using var reader = CheckpointLoader.Open(Fixture);
        using var reference = BigBirdModel.FromReader(fixtureConfig.Value, reader);
        using var hostile = BigBirdModel.FromReader(fixtureConfig.Value with { BlockSize = blockSize, NumRandomBlocks = numRandomBlocks }, reader);
        foreach (int length in new[] { 7, 40, 256 })
        {
            var inputs = BigBirdInputs.FromIds([Ids(length, 100)]);
            var expected = reference.Forward(inputs, new() { AttentionType = AttentionType.OriginalFull });
            var actual = hostile.Forward(inputs);
            Assert.Equal(AttentionType.OriginalFull, actual.AttentionType);
            Tolerance.AssertAllClose(actual.LastHiddenState.Data, expected.LastHiddenState.Data, $"length {length}", 0, 0);
            Tolerance.AssertAllClose(actual.PoolerOutput!.Data, expected.PoolerOutput!.Data, $"pooler, length {length}", 0, 0);
            // asking for block_sparse falls back the same way
            Assert.Equal(AttentionType.OriginalFull, hostile.Forward(inputs, new() { AttentionType = AttentionType.BlockSparse }).AttentionType);
        }
    }

    [Theory]
    [InlineData(3, "bert.encoder.layer.2.attention.self.query.weight")]
    [InlineData(int.MaxValue, "bert.encoder.layer.2.attention.self.query.weight")]
    public void A_config_claiming_more_layers_than_the_checkpoint_fails_on_the_first_missing_tensor(int layers, string missing)
    {
        var config = new BigBirdConfig { VocabSize = 50, HiddenSize = 8, NumAttentionHeads = 2, IntermediateSize = 8, MaxPositionEmbeddings = 64, NumHiddenLayers = 2 };
        using var reader = new SyntheticCheckpoint(config);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<TensorMismatchException>(() => BigBirdModel.FromReader(config with { NumHiddenLayers = layers }, reader));
        Assert.Equal(missing, e.TensorName);
        // nothing sized by the claimed layer count (an array of int.MaxValue layers is 16 GiB)
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64L << 20, "allocated more than 64 MiB");
    }

    /// <summary>Weights whose element count passes one buffer: a config error naming the fields, from Validate, before any allocation.</summary>
    [Theory]
    [InlineData("vocab_size", 100000000, "embeddings.word_embeddings.weight [vocab_size, hidden_size] = [100000000, 32]")]
    [InlineData("max_position_embeddings", 2000000000, "[max_position_embeddings, hidden_size] = [2000000000, 32]")]
    [InlineData("type_vocab_size", int.MaxValue, "[type_vocab_size, hidden_size] = [2147483647, 32]")]
    [InlineData("intermediate_size", 1000000000, "[intermediate_size, hidden_size] = [1000000000, 32]")]
    [InlineData("hidden_size", 65536, "[hidden_size, hidden_size] = [65536, 65536]")]
    public void Sizes_too_large_for_one_buffer_are_config_errors_naming_the_fields(string field, int value, string expected)
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(Fixture, "config.json")))!.AsObject();
        json[field] = value;
        if (field == "hidden_size") json["num_attention_heads"] = 1;
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<BigBirdConfigException>(() => BigBirdConfig.FromJson(json.ToJsonString(), "cfg/config.json"));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1L << 20, "validation allocated what the config claims");
        Assert.StartsWith("cfg/config.json: ", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.Contains("Array.MaxLength", e.Message);
    }

    /// <summary>
    /// Python integers have no bound. block_size and num_random_blocks past the int range only push HF's full-attention
    /// threshold further (the model runs, as in HF), and token ids past it equal no id; sizes past it are refused by name.
    /// </summary>
    [Theory]
    [InlineData("block_size", "4294967296", true)]
    [InlineData("num_random_blocks", "1e300", true)]
    [InlineData("sep_token_id", "-9999999999", true)]
    [InlineData("eos_token_id", "99999999999999", true)]
    [InlineData("vocab_size", "3000000000", false)]
    [InlineData("max_position_embeddings", "1e12", false)]
    [InlineData("num_hidden_layers", "-4294967296", false)]
    [InlineData("pad_token_id", "4294967296", false)]
    public void Integers_past_the_int_range_saturate_where_that_changes_nothing_and_are_refused_by_name_elsewhere(
        string field, string value, bool runs)
    {
        string text = File.ReadAllText(Path.Combine(Fixture, "config.json"));
        var json = JsonNode.Parse(text)!.AsObject();
        json[field] = 0;
        string hostile = json.ToJsonString().Replace($"\"{field}\":0", $"\"{field}\":{value}");
        if (!runs)
        {
            var e = Assert.Throws<BigBirdConfigException>(() => BigBirdConfig.FromJson(hostile));
            Assert.Contains($"{field} is {value}, outside the", e.Message);
            return;
        }
        var config = BigBirdConfig.FromJson(hostile);
        using var reader = CheckpointLoader.Open(Fixture);
        using var model = BigBirdModel.FromReader(config, reader);
        using var reference = BigBirdModel.FromReader(fixtureConfig.Value, reader);
        var inputs = BigBirdInputs.FromIds([Ids(256, 100)]);
        var type = field is "block_size" or "num_random_blocks" ? AttentionType.OriginalFull : AttentionType.BlockSparse;
        var output = model.Forward(inputs);
        Assert.Equal(type, output.AttentionType);
        Tolerance.AssertAllClose(output.LastHiddenState.Data, reference.Forward(inputs, new() { AttentionType = type }).LastHiddenState.Data,
                                 field, 0, 0);
    }

    /// <summary>vocab_size 2e9 fits one buffer at hidden_size 1, so validation passes; the small checkpoint's shape then decides.</summary>
    [Fact]
    public void A_claimed_vocabulary_of_two_billion_fails_on_the_tensor_shape_without_allocating_it()
    {
        var config = new BigBirdConfig { VocabSize = 50, HiddenSize = 1, NumAttentionHeads = 1, IntermediateSize = 4, MaxPositionEmbeddings = 64, NumHiddenLayers = 1 };
        using var reader = new SyntheticCheckpoint(config);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<TensorMismatchException>(() => BigBirdModel.FromReader(config with { VocabSize = 2_000_000_000 }, reader));
        Assert.Contains("[50, 1], expected [2000000000, 1]", e.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64L << 20, "allocated what the config claims");
    }

    /// <summary>65,536 rows of 32,768 ids (one shared array, so the test holds 128 KiB): 2^31 ids wrapped to int.MinValue.</summary>
    [Fact]
    public void Rows_of_ids_too_many_for_one_buffer_are_an_input_error_naming_them()
    {
        var row = new int[32768];
        var rows = Enumerable.Repeat(row, 65536).ToArray();
        var e = Assert.Throws<BigBirdInputException>(() => BigBirdInputs.FromIds(rows));
        Assert.Contains("input_ids [batch, seq] = [65536, 32768]", e.Message);
        var withNull = new[] { row, null!, row };
        Assert.Contains("input_ids row 1 is null", Assert.Throws<BigBirdInputException>(() => BigBirdInputs.FromIds(withNull)).Message);
        Assert.Contains("attention_mask row 0 is null",
                        Assert.Throws<BigBirdInputException>(() => BigBirdInputs.FromIds([row], [null!])).Message);
        Assert.Throws<BigBirdInputException>(() => BigBirdInputs.FromIds([null!]));
    }

    [Theory]
    [InlineData(1 << 20, 1 << 20, "input_ids [batch, seq] = [1048576, 1048576]")]
    [InlineData(1, 1 << 27, "hidden_states [batch, seq, hidden_size] = [1, 134217728, 32]")]
    public void A_run_state_too_large_for_one_buffer_is_an_input_error_before_any_allocation(int batch, int seq, string expected)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<BigBirdInputException>(() => new ForwardState(fixtureConfig.Value, CpuBackend.Instance, batch, seq));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1L << 20, "allocated before checking");
        Assert.Contains(expected, e.Message);
        Assert.Contains("Array.MaxLength", e.Message);
    }

    /// <summary>
    /// A cache allocates keys and values for every layer of the config it is given: a config claiming two billion layers
    /// used to end in an OutOfMemoryException, and an unvalidated one (negative layers) in an OverflowException.
    /// </summary>
    [Fact]
    public void A_key_value_cache_larger_than_the_process_can_hold_is_a_typed_error()
    {
        var decoder = fixtureConfig.Value with { IsDecoder = true };
        var e = Assert.Throws<BigBirdInputException>(() => new BigBirdKeyValueCache(decoder with { NumHiddenLayers = int.MaxValue }, 1, 256));
        Assert.Contains("2147483647 layers × 1 rows × 256 tokens needs", e.Message);
        Assert.Contains("GiB this process can use", e.Message);
        Assert.Contains("got -1, 4 and 32",
                        Assert.Throws<BigBirdConfigException>(() => new BigBirdKeyValueCache(decoder with { NumHiddenLayers = -1 }, 1, 8)).Message);
        Assert.Throws<BigBirdConfigException>(() => new BigBirdKeyValueCache(decoder with { NumAttentionHeads = 0 }, 1, 8));
        Assert.Equal(2, new BigBirdKeyValueCache(decoder, 1, 256).Layers);
    }

    /// <summary>Every padded length has a plan per layer; inputs of ever-changing lengths must not grow the cache without bound.</summary>
    [Fact]
    public void The_random_plan_cache_stays_within_its_budget_and_eviction_does_not_change_results()
    {
        using var reader = CheckpointLoader.Open(Fixture);
        using var bounded = BigBirdModel.FromReader(fixtureConfig.Value, reader);
        using var unbounded = BigBirdModel.FromReader(fixtureConfig.Value, reader);
        bounded.PlanCacheBudget = 1500;
        var options = new BigBirdForwardOptions { AttentionType = AttentionType.BlockSparse, RandomAttention = RandomAttentionSemantics.Seeded };
        long most = 0;
        for (int length = 37; length <= 256; length += 16)
        {
            var inputs = BigBirdInputs.FromIds([Ids(length, 100)]);
            var a = bounded.Forward(inputs, options);
            most = Math.Max(most, bounded.CachedPlanEntries);
            Assert.Equal(AttentionType.BlockSparse, a.AttentionType);
            Tolerance.AssertAllClose(a.LastHiddenState.Data, unbounded.Forward(inputs, options).LastHiddenState.Data, $"length {length}", 0, 0);
        }
        Assert.InRange(most, 1, 1500);
        Assert.True(unbounded.CachedPlanEntries > 1500, $"the unbounded cache holds {unbounded.CachedPlanEntries} entries; the budget was never tested");
    }

    [Fact]
    public void The_random_plan_split_does_not_overflow_for_huge_random_block_counts()
    {
        // 2·r + 5 used to wrap negative, so the first branch returned negative lengths
        var (lengths, counts) = BigBirdRandomAttention.GetRandAttnPlan(4096, 64, 1_100_000_000);
        Assert.Equal([4096], lengths);
        Assert.Equal([1_100_000_000], counts);
    }

    [Theory]
    [InlineData(1024, 64, int.MaxValue)] // the old plan's [blocks − 2, r] table
    [InlineData(2048, 64, 1 << 30)]      // the per-head [heads, blocks, r] tables
    public void A_random_plan_too_large_for_one_buffer_is_a_typed_error(int seq, int block, int randomBlocks)
    {
        var e = Assert.Throws<BigBirdException>(() => BigBirdRandomAttention.GetRandAttn(
            RandomAttentionSemantics.Seeded, 0, seq, seq, block, block, randomBlocks, numHeads: 4, maxSeqlen: 4096));
        Assert.Contains("one buffer can hold", e.Message);
        Assert.Throws<BigBirdException>(() => BigBirdRandomAttention.BigBirdBlockRandMask(null, 4096, 4096, 64, 64, int.MaxValue));
    }

    // ------------------------------------------------------------------------------------------------
    // the sweep: every integer field of config.json set to hostile values, on tiny models

    private static readonly int[] HostileValues =
        [0, -1, 1, 2, 3, 5, 7, 17, 46341, 65536, 1 << 20, 238609295, 268435456, 715827883, 1 << 30, int.MaxValue, int.MinValue];

    private static readonly string[] IntegerFields =
    [
        "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "max_position_embeddings",
        "type_vocab_size", "pad_token_id", "bos_token_id", "eos_token_id", "sep_token_id", "block_size", "num_random_blocks",
        "chunk_size_feed_forward", "num_labels",
    ];

    public static TheoryData<string> Fields() => new(IntegerFields);

    private static BigBirdConfig With(BigBirdConfig c, string field, int v) => field switch
    {
        "vocab_size" => c with { VocabSize = v },
        "hidden_size" => c with { HiddenSize = v },
        "num_hidden_layers" => c with { NumHiddenLayers = v },
        "num_attention_heads" => c with { NumAttentionHeads = v },
        "intermediate_size" => c with { IntermediateSize = v },
        "max_position_embeddings" => c with { MaxPositionEmbeddings = v },
        "type_vocab_size" => c with { TypeVocabSize = v },
        "pad_token_id" => c with { PadTokenId = v },
        "bos_token_id" => c with { BosTokenId = v },
        "eos_token_id" => c with { EosTokenId = v },
        "sep_token_id" => c with { SepTokenId = v },
        "block_size" => c with { BlockSize = v },
        "num_random_blocks" => c with { NumRandomBlocks = v },
        "chunk_size_feed_forward" => c with { ChunkSizeFeedForward = v },
        "num_labels" => c with { NumLabels = v },
        _ => throw new ArgumentException(field),
    };

    /// <summary>Runs <paramref name="action"/>: a result or a BigBirdException subtype are fine; anything else fails the sweep.</summary>
    private static void Typed(string what, Action action)
    {
        try
        {
            action();
        }
        catch (BigBirdException)
        {
        }
        catch (Exception e)
        {
            Assert.Fail($"{what}: {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
        }
    }

    /// <summary>
    /// Each hostile value of <paramref name="field"/>: (1) as JSON through FromJson; (2) on the fixture's checkpoint
    /// (bare model, block_sparse, 4 heads, block 4) and on a synthetic one with the masked-LM, classification and QA heads;
    /// (3) where the value is small, on a synthetic checkpoint made to match it, so the value reaches the forward pass.
    /// Each model runs short, block-sparse-length and maximal inputs, with and without output_attentions.
    /// </summary>
    [Theory]
    [MemberData(nameof(Fields))]
    public void Every_hostile_integer_config_value_gives_a_result_or_a_typed_error(string field)
    {
        var baseJson = JsonNode.Parse(File.ReadAllText(Path.Combine(Fixture, "config.json")))!.AsObject();
        using var fixtureReader = CheckpointLoader.Open(Fixture);
        var small = new BigBirdConfig
        {
            VocabSize = 40, HiddenSize = 8, NumAttentionHeads = 2, IntermediateSize = 12, NumHiddenLayers = 2, MaxPositionEmbeddings = 96,
            BlockSize = 4, NumRandomBlocks = 1, TypeVocabSize = 2, NumLabels = 3, SepTokenId = 3,
        };
        using var smallReader = new SyntheticCheckpoint(small);
        foreach (int v in HostileValues)
        {
            string what = $"{field} = {v}";
            var json = baseJson.DeepClone().AsObject();
            json[field] = v;
            Typed(what + " (json)", () => BigBirdConfig.FromJson(json.ToJsonString()));
            Typed(what + " (fixture)", () => RunBare(With(fixtureConfig.Value, field, v), fixtureReader));
            Typed(what + " (heads)", () => RunHeads(With(small, field, v), smallReader));
            if (v is > 0 and <= 17)
            {
                var matching = With(small, field, v);
                SyntheticCheckpoint? reader = null;
                try
                {
                    matching.Validate();
                    reader = new SyntheticCheckpoint(matching);
                }
                catch (BigBirdConfigException)
                {
                    continue; // HF refuses it too (hidden_size not a multiple of the heads, pad_token_id past the vocabulary)
                }
                using (reader)
                {
                    Typed(what + " (matching checkpoint)", () => RunBare(matching, reader));
                    Typed(what + " (matching checkpoint, heads)", () => RunHeads(matching, reader));
                }
            }
        }
    }

    private static IEnumerable<BigBirdInputs> SweepInputs(BigBirdConfig c)
    {
        int vocab = Math.Clamp(c.VocabSize, 1, 40);
        int longest = Math.Clamp(c.MaxPositionEmbeddings, 1, 256);
        foreach (int n in new[] { 1, 40, longest }.Distinct())
            yield return BigBirdInputs.FromIds([Ids(n, vocab), Ids(n, vocab).Reverse().ToArray()]);
    }

    private static void RunBare(BigBirdConfig config, ITensorReader reader)
    {
        using var model = BigBirdModel.FromReader(config, reader);
        foreach (var inputs in SweepInputs(config))
            foreach (var type in new AttentionType?[] { null, AttentionType.BlockSparse, AttentionType.OriginalFull })
                Typed($"bare {type}, {inputs.SequenceLength} tokens", () =>
                {
                    var output = model.Forward(inputs, new() { AttentionType = type, OutputAttentions = inputs.SequenceLength < 64 });
                    Assert.All(output.LastHiddenState.Data, x => Assert.True(float.IsFinite(x)));
                });
    }

    private static void RunHeads(BigBirdConfig config, ITensorReader reader)
    {
        foreach (var architecture in new[] { "BigBirdForMaskedLM", "BigBirdForSequenceClassification", "BigBirdForQuestionAnswering" })
        {
            using var head = BigBirdPreTrainedModel.FromReader(config, reader, architecture);
            foreach (var inputs in SweepInputs(config))
                Typed($"{architecture}, {inputs.SequenceLength} tokens", () => head.Forward(inputs));
        }
    }
}
