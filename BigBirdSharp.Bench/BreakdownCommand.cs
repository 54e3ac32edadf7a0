using System.Diagnostics;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;
using BigBirdSharp.Kernels;
using BigBirdSharp.Modeling;
using BigBirdSharp.RandomAttention;

namespace BigBirdSharp.Bench;

/// <summary>
/// <c>breakdown --model DIR --seq-len N</c>: where a forward pass spends its time. The model is loaded on a
/// <see cref="ProfilingBackend"/> over the CPU backend, run once untimed, then <c>--repeat</c> times; one JSON line per
/// operation kind (seconds per forward, calls per forward, share of the forward) and a last line with the forward's own
/// median, on the synthetic ids of <c>bigbird bench</c>. The shares of one run are comparable with each other; compare
/// absolute times only with runs made back to back.
/// </summary>
public static class BreakdownCommand
{
    private static readonly JsonSerializerOptions Json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The usage line printed on a bad argument list.</summary>
    public const string Usage =
        "usage: breakdown --model DIR --seq-len N [--repeat R (2)] [--threads T (all)] [--attention-type T] [--random-attention deterministic|seeded (seeded)]";

    /// <summary>Runs the command; returns the process exit code (0 ok, 2 usage).</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 1; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
            {
                stderr.WriteLine($"breakdown: unexpected argument '{args[i]}'");
                stderr.WriteLine(Usage);
                return 2;
            }
            values[args[i]] = args[++i];
        }
        string[] known = ["--model", "--seq-len", "--repeat", "--threads", "--attention-type", "--random-attention"];
        string? unknown = values.Keys.FirstOrDefault(k => !known.Contains(k));
        if (unknown is not null || !values.ContainsKey("--model") || !values.ContainsKey("--seq-len"))
        {
            stderr.WriteLine(unknown is null ? "breakdown: --model and --seq-len are required" : $"breakdown: unknown option '{unknown}'");
            stderr.WriteLine(Usage);
            return 2;
        }
        if (!TryInt(values, "--seq-len", 0, out int seqLen) || !TryInt(values, "--repeat", 2, out int repeat)
            || !TryInt(values, "--threads", 0, out int threads) || seqLen <= 0 || repeat <= 0 || threads < 0)
        {
            stderr.WriteLine("breakdown: --seq-len and --repeat must be positive integers, --threads a positive integer");
            return 2;
        }
        RandomAttentionSemantics semantics;
        switch (values.GetValueOrDefault("--random-attention", "seeded"))
        {
            case "seeded": semantics = RandomAttentionSemantics.Seeded; break;
            case "deterministic": semantics = RandomAttentionSemantics.Deterministic; break;
            default:
                stderr.WriteLine("breakdown: --random-attention must be deterministic or seeded");
                return 2;
        }
        var forwardOptions = new BigBirdForwardOptions
        {
            AttentionType = values.TryGetValue("--attention-type", out var at) ? BigBirdConfig.ParseAttentionType(at, "--attention-type") : null,
            RandomAttention = semantics,
        };

        var cpu = threads > 0 ? CpuBackend.Create(threads) : CpuBackend.Instance;
        var profiler = new ProfilingBackend(cpu);
        using var model = BigBirdModel.FromPretrained(values["--model"], new BigBirdModelOptions { Backend = profiler });
        var ids = OnnxRuntimeRunner.SyntheticIds(seqLen, model.Config.VocabSize);
        var inputs = new BigBirdInputs(1, seqLen) { InputIds = ids };
        model.Forward(inputs, forwardOptions); // warm-up, untimed
        profiler.Reset();
        var times = new double[repeat];
        for (int r = 0; r < repeat; r++)
        {
            var sw = Stopwatch.StartNew();
            model.Forward(inputs, forwardOptions);
            times[r] = sw.Elapsed.TotalSeconds;
        }
        double total = times.Sum() / repeat;
        foreach (var (operation, seconds, calls) in profiler.Snapshot())
        {
            stdout.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["op"] = operation,
                ["s_per_forward"] = Math.Round(seconds / repeat, 4),
                ["calls_per_forward"] = calls / repeat,
                ["share"] = Math.Round(seconds / repeat / total, 4),
            }, Json));
        }
        Array.Sort(times);
        stdout.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["op"] = "forward",
            ["seq_len"] = seqLen,
            ["repeat"] = repeat,
            ["threads"] = cpu.Threads,
            ["simd"] = KernelInfo.Describe(),
            ["median_s"] = repeat % 2 == 1 ? times[repeat / 2] : (times[repeat / 2 - 1] + times[repeat / 2]) / 2,
            ["mean_s"] = total,
        }, Json));
        return 0;
    }

    private static bool TryInt(Dictionary<string, string> values, string name, int fallback, out int value)
    {
        value = fallback;
        return !values.TryGetValue(name, out var text) || int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out value);
    }
}
