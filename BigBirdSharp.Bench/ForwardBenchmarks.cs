using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling;

namespace BigBirdSharp.Bench;

/// <summary>
/// A full BigBirdModel forward pass (batch 1) on a bigbird-roberta-base-sized model with random weights.
/// Each call takes seconds, so this uses the Monitoring strategy: one invocation per iteration.
/// </summary>
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 3)]
[MemoryDiagnoser]
public class ForwardBenchmarks
{
    private BigBirdModel _model = null!;
    private BigBirdInputs _inputs = null!;

    /// <summary>Tokens per sequence.</summary>
    [Params(1024, 4096)]
    public int SeqLen { get; set; }

    /// <summary>block_sparse (the point of BigBird) or original_full (the baseline).</summary>
    [Params(AttentionType.BlockSparse, AttentionType.OriginalFull)]
    public AttentionType Attention { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var config = SyntheticCheckpoint.RobertaBaseConfig;
        _model = BigBirdModel.FromReader(config, new SyntheticCheckpoint(config));
        var ids = new int[SeqLen];
        for (int i = 0; i < ids.Length; i++) ids[i] = (i * 7919 + 13) % config.VocabSize;
        _inputs = new BigBirdInputs(1, SeqLen) { InputIds = ids };
    }

    [Benchmark]
    public float Forward() =>
        _model.Forward(_inputs, new BigBirdForwardOptions { AttentionType = Attention }).LastHiddenState.Data[0];
}
