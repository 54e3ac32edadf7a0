using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using BigBirdSharp.Modeling;
using BigBirdSharp.RandomAttention;

namespace BigBirdSharp.Bench;

/// <summary>
/// Our <see cref="BigBirdModel.Forward"/> against ONNX Runtime on the same checkpoint and the same synthetic ids
/// (batch 1, all-ones mask), both on two threads' worth of work per call.
/// Paths come from the environment: <c>BIGBIRD_BENCH_MODEL</c> (the folder written by
/// <c>fixtures/bench/make_checkpoint.py</c>) and <c>BIGBIRD_BENCH_ONNX_DIR</c> (the folder of
/// <c>bigbird_&lt;seq&gt;.onnx</c> files written by <c>fixtures/bench/export_onnx.py</c>). Without them, setup
/// throws with a message that says what to set, and BenchmarkDotNet reports the case as failed.
/// Ours runs the <c>seeded</c> random-attention semantics, which the 4.27.1 export bakes in.
/// Run: <c>dotnet run -c Release --project BigBirdSharp.Bench -- --filter *OnnxRuntime*</c>.
/// </summary>
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 3)]
public class OnnxRuntimeBenchmarks
{
    /// <summary>Folder of the checkpoint (config.json + weights).</summary>
    public const string ModelVariable = "BIGBIRD_BENCH_MODEL";

    /// <summary>Folder of <c>bigbird_&lt;seq&gt;.onnx</c> exports.</summary>
    public const string OnnxDirVariable = "BIGBIRD_BENCH_ONNX_DIR";

    private OnnxRuntimeRunner? _ort;
    private BigBirdModel? _model;
    private BigBirdInputs _inputs = null!;
    private static readonly BigBirdForwardOptions Seeded = new() { RandomAttention = RandomAttentionSemantics.Seeded };

    /// <summary>Tokens per sequence (512 runs full attention everywhere: it is under HF's block-sparse threshold).</summary>
    [Params(512, 1024, 2048, 4096)]
    public int SeqLen { get; set; }

    /// <summary>Loads the ONNX export for <see cref="SeqLen"/>.</summary>
    [GlobalSetup(Target = nameof(OnnxRuntime))]
    public void SetupOnnxRuntime()
    {
        string dir = Required(OnnxDirVariable, "the folder of bigbird_<seq>.onnx files from fixtures/bench/export_onnx.py");
        string path = Path.Combine(dir, $"bigbird_{SeqLen}.onnx");
        if (!File.Exists(path))
            throw new InvalidOperationException($"skipped: {path} does not exist; run fixtures/bench/export_onnx.py --seq-len {SeqLen}");
        _ort = new OnnxRuntimeRunner(path, threads: Environment.ProcessorCount >= 2 ? 2 : 1, batch: 1, SeqLen, vocabSize: 50358);
    }

    /// <summary>Loads our model from the same checkpoint.</summary>
    [GlobalSetup(Target = nameof(BigBirdSharp))]
    public void SetupBigBirdSharp()
    {
        string dir = Required(ModelVariable, "the checkpoint folder from fixtures/bench/make_checkpoint.py");
        _model = BigBirdModel.FromPretrained(dir);
        _inputs = new BigBirdInputs(1, SeqLen) { InputIds = OnnxRuntimeRunner.SyntheticIds(SeqLen, _model.Config.VocabSize) };
    }

    /// <summary>ONNX Runtime, two intra-op threads, ORT_ENABLE_ALL.</summary>
    [Benchmark(Baseline = true)]
    public float OnnxRuntime() => _ort!.Run();

    /// <summary>Our forward pass, seeded random attention.</summary>
    [Benchmark]
    public float BigBirdSharp() => _model!.Forward(_inputs, Seeded).LastHiddenState.Data[0];

    /// <summary>Releases the session and the model.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _ort?.Dispose();
        _model?.Dispose();
    }

    private static string Required(string variable, string what) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException($"skipped: set {variable} to {what}");
}
