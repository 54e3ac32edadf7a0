using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace BigBirdSharp.Bench;

/// <summary>
/// <c>ort --onnx FILE --seq-len N [--repeat R] [--threads T] [--vocab-size V]</c>: times an ONNX export of a
/// BigBird checkpoint under ONNX Runtime the way <c>bigbird bench</c> times ours (the same synthetic ids, one
/// warm-up, then R timed runs), and prints one JSON line with the same keys plus <c>"engine":"onnxruntime"</c>.
/// </summary>
public static class OnnxRuntimeCommand
{
    /// <summary>The usage line printed on a bad argument list.</summary>
    public const string Usage =
        "usage: ort --onnx FILE --seq-len N [--repeat R (5)] [--threads T (2)] [--batch B (1)] [--vocab-size V (50358)]";

    /// <summary>Runs the command; returns the process exit code (0 ok, 2 usage).</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 1; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
            {
                stderr.WriteLine($"ort: unexpected argument '{args[i]}'");
                stderr.WriteLine(Usage);
                return 2;
            }
            values[args[i]] = args[++i];
        }
        string[] known = ["--onnx", "--seq-len", "--repeat", "--threads", "--batch", "--vocab-size"];
        string? unknown = values.Keys.FirstOrDefault(k => !known.Contains(k));
        if (unknown is not null || !values.ContainsKey("--onnx") || !values.ContainsKey("--seq-len"))
        {
            stderr.WriteLine(unknown is null ? "ort: --onnx and --seq-len are required" : $"ort: unknown option '{unknown}'");
            stderr.WriteLine(Usage);
            return 2;
        }
        int Int(string name, int fallback) => values.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
        string onnx = values["--onnx"];
        int seqLen = Int("--seq-len", 0), repeat = Int("--repeat", 5), threads = Int("--threads", 2), batch = Int("--batch", 1);
        int vocab = Int("--vocab-size", 50358);
        if (seqLen <= 0 || repeat <= 0 || threads <= 0 || batch <= 0 || vocab <= 0)
        {
            stderr.WriteLine("ort: --seq-len, --repeat, --threads, --batch and --vocab-size must be positive");
            return 2;
        }
        if (!File.Exists(onnx))
        {
            stderr.WriteLine($"ort: {onnx}: no such file; export one with fixtures/bench/export_onnx.py");
            return 1;
        }

        using var runner = new OnnxRuntimeRunner(onnx, threads, batch, seqLen, vocab);
        double meanAbs = runner.WarmUp(); // one forward, untimed; its output is the checksum
        var times = new double[repeat];
        for (int r = 0; r < repeat; r++)
        {
            var sw = Stopwatch.StartNew();
            runner.Run();
            times[r] = sw.Elapsed.TotalSeconds;
        }
        Array.Sort(times);
        double median = repeat % 2 == 1 ? times[repeat / 2] : (times[repeat / 2 - 1] + times[repeat / 2]) / 2;
        var line = new Dictionary<string, object>
        {
            ["engine"] = "onnxruntime",
            ["seq_len"] = seqLen,
            ["batch"] = batch,
            ["repeat"] = repeat,
            ["threads"] = threads,
            ["median_s"] = median,
            ["min_s"] = times[0],
            ["tokens_per_s"] = batch * seqLen / median,
            ["mean_abs_last_hidden"] = meanAbs,
        };
        stdout.WriteLine(JsonSerializer.Serialize(line));
        return 0;
    }
}

/// <summary>
/// One ONNX Runtime session over a BigBird export, with its inputs built once: the synthetic ids of
/// <c>bigbird bench</c> and an all-ones attention mask, as int64 [batch, seq]. Only the inputs the graph
/// declares are fed (an export may have pruned one).
/// </summary>
public sealed class OnnxRuntimeRunner : IDisposable
{
    private readonly InferenceSession _session;
    private readonly List<NamedOnnxValue> _inputs = new();

    /// <summary>Loads <paramref name="onnxPath"/> with <paramref name="threads"/> intra-op threads, one inter-op thread and every graph optimization.</summary>
    public OnnxRuntimeRunner(string onnxPath, int threads, int batch, int seqLen, int vocabSize)
    {
        var options = new SessionOptions
        {
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        };
        _session = new InferenceSession(onnxPath, options);
        var ids = SyntheticIds(batch * seqLen, vocabSize);
        int[] shape = [batch, seqLen];
        foreach (var name in _session.InputMetadata.Keys)
        {
            var tensor = new DenseTensor<long>(shape);
            for (int i = 0; i < ids.Length; i++)
                tensor.Buffer.Span[i] = name switch
                {
                    "input_ids" => ids[i],
                    "attention_mask" => 1,
                    _ => 0, // token_type_ids, if exported
                };
            _inputs.Add(NamedOnnxValue.CreateFromTensor(name, tensor));
        }
    }

    /// <summary>The ids <c>bigbird bench</c> feeds: xorshift32 from 2463534242, each value mod the vocabulary size.</summary>
    public static int[] SyntheticIds(int count, int vocabSize)
    {
        var ids = new int[count];
        uint x = 2463534242;
        for (int i = 0; i < ids.Length; i++)
        {
            x ^= x << 13; x ^= x >> 17; x ^= x << 5;
            ids[i] = (int)(x % (uint)vocabSize);
        }
        return ids;
    }

    /// <summary>One forward pass; returns the first element of the first output so the work cannot be skipped.</summary>
    public float Run()
    {
        using var results = _session.Run(_inputs);
        return results[0].AsTensor<float>().GetValue(0);
    }

    /// <summary>One forward pass (the warm-up); returns mean |x| over the first output (last_hidden_state), a checksum to hold against PyTorch's.</summary>
    public double WarmUp()
    {
        using var results = _session.Run(_inputs);
        double sum = 0;
        long n = 0;
        foreach (float v in results[0].AsTensor<float>()) { sum += Math.Abs(v); n++; }
        return sum / n;
    }

    /// <inheritdoc />
    public void Dispose() => _session.Dispose();
}
