using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;

namespace BigBirdSharp.Tests.Modeling;

[CollectionDefinition(nameof(LargeShapeCollection), DisableParallelization = true)]
public sealed class LargeShapeCollection;

/// <summary>
/// Inputs whose buffers would pass one .NET array (logits, attention probabilities, block-sparse scratch, traced
/// activations) on cheap models with long position tables: each is a typed error naming the tensor and the bound.
/// These calls fill the CPU backend's shared work-space pool with large idle buffers, so they run alone and trim the
/// pool afterwards (the pool's own conformance test counts on it having room).
/// </summary>
[Collection(nameof(LargeShapeCollection))]
public sealed class LargeShapeTests : IDisposable
{
    private static int[] Ids(int n, int vocab) => Enumerable.Range(0, n).Select(i => (i * 37 + 5) % vocab).ToArray();

    public void Dispose() => CpuBackend.Instance.Workspace.Trim();

    // hidden 4, one head, a 300,000-row position table: long inputs that stay cheap to run
    private static BigBirdConfig LongConfig => new()
    {
        VocabSize = 50000, HiddenSize = 4, NumAttentionHeads = 1, IntermediateSize = 4, NumHiddenLayers = 1, MaxPositionEmbeddings = 300000,
        BlockSize = 64, NumRandomBlocks = 1, AttentionType = AttentionType.BlockSparse, SepTokenId = 3,
    };

    private static readonly Lazy<SyntheticCheckpoint> longCheckpoint = new(() => new SyntheticCheckpoint(LongConfig));

    /// <summary>
    /// [batch·seq, vocab] logits grow fastest: 46,400 × 50,000 passes one buffer while everything else fits. The product
    /// used to wrap negative and end as an OverflowException from the work-space pool.
    /// </summary>
    [Fact]
    public void Masked_LM_logits_too_large_for_one_buffer_are_an_input_error_naming_them()
    {
        using var mlm = BigBirdPreTrainedModel.FromReader(LongConfig, longCheckpoint.Value, "BigBirdForMaskedLM");
        var e = Assert.Throws<BigBirdInputException>(() => mlm.Forward(BigBirdInputs.FromIds([Ids(46400, 50000)])));
        Assert.Contains("prediction_scores [batch·seq, vocab_size] = [46400, 50000]", e.Message);
        // a call that fits still runs on the same model
        Assert.Equal(50000 * 100, mlm.Forward(BigBirdInputs.FromIds([Ids(100, 50000)])).Logits!.Data.Length);
    }

    /// <summary>
    /// A trace of the feed-forward intermediate holds [batch·seq, intermediate_size] at once while the run itself works in
    /// 512-row chunks: 65,536 × 32,768 is 2^31 and wrapped to int.MinValue.
    /// </summary>
    [Fact]
    public void A_traced_intermediate_too_large_for_one_buffer_is_an_input_error_naming_it()
    {
        var config = new BigBirdConfig
        {
            VocabSize = 10, HiddenSize = 1, NumAttentionHeads = 1, IntermediateSize = 32768, NumHiddenLayers = 1, MaxPositionEmbeddings = 65536,
            BlockSize = 64, NumRandomBlocks = 0, SepTokenId = 3,
        };
        using var reader = new SyntheticCheckpoint(config);
        using var model = BigBirdModel.FromReader(config, reader);
        var traced = new List<string>();
        var e = Assert.Throws<BigBirdInputException>(() =>
            model.Forward(BigBirdInputs.FromIds([Ids(65536, 10)]), new() { Trace = (name, _) => traced.Add(name) }));
        Assert.Contains("encoder.layer.0.intermediate [batch·seq, intermediate_size] = [65536, 32768]", e.Message);
        Assert.Contains("embeddings", traced);
    }

    [Fact]
    public void Attention_probabilities_too_large_for_one_buffer_are_an_input_error_naming_them()
    {
        using var model = BigBirdModel.FromReader(LongConfig, longCheckpoint.Value);
        var e = Assert.Throws<BigBirdInputException>(() =>
            model.Forward(BigBirdInputs.FromIds([Ids(46400, 50000)]), new() { OutputAttentions = true }));
        Assert.Contains("attentions [batch, heads, seq, keys] = [1, 1, 46400, 46400]", e.Message);
        Assert.Contains("output_attentions", e.Message);
    }

    /// <summary>
    /// block_size 46,341 over 278,046 tokens (six blocks, no random ones): the per-thread [block, seq] score buffer is
    /// 1.29e10 floats. The int product wrapped to 27,798 and the kernel would have written past it; HF would need 51 GB
    /// for the same product.
    /// </summary>
    [Fact]
    public void A_block_sparse_scratch_buffer_too_large_for_one_buffer_is_an_input_error_naming_block_size()
    {
        using var model = BigBirdModel.FromReader(LongConfig with { BlockSize = 46341, NumRandomBlocks = 0 }, longCheckpoint.Value);
        var e = Assert.Throws<BigBirdInputException>(() => model.Forward(BigBirdInputs.FromIds([Ids(6 * 46341, 50000)])));
        Assert.Contains("block_size 46341 over 278046 tokens", e.Message);
        Assert.Contains("Array.MaxLength", e.Message);
        // the model stays usable: a short call falls back to full attention and runs
        Assert.Equal(AttentionType.OriginalFull, model.Forward(BigBirdInputs.FromIds([Ids(50, 50000)])).AttentionType);
    }
}
