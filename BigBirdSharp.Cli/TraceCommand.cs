using System.Globalization;
using System.Text.Json;
using BigBirdSharp.Configuration;
using BigBirdSharp.IO;
using BigBirdSharp.Modeling;
using BigBirdSharp.Serialization;

namespace BigBirdSharp.Cli;

internal static partial class BigBirdCli
{
    /// <summary>
    /// <c>trace</c>: runs the encoder of a checkpoint and writes every intermediate tensor, named by HF module path
    /// (see <see cref="BigBirdForwardOptions.Trace"/>); with <c>--compare</c>, reports where another port's trace
    /// first leaves the tolerance.
    /// </summary>
    private static int TraceCommand(Options o, CliConsole io)
    {
        string inputs = RequiredInputs(o, "a JSON object of forward arguments, as run takes");
        string output = o.Get("--output") ?? throw new UsageException("--output is required (a .safetensors file, or - for standard output)");
        CheckBinaryOutput(output, io);
        double atol = o.Float("--atol"), rtol = o.Float("--rtol");
        if (atol < 0 || rtol < 0) throw new UsageException("--atol and --rtol must be non-negative");
        string? compare = o.Get("--compare");
        if (compare is not null && !File.Exists(compare)) throw new BigBirdInputException($"{compare}: trace to compare with not found.");
        if (compare is not null) CliInput.CheckRegularFile(compare, "--compare");
        var forwardOptions = new BigBirdForwardOptions
        {
            AttentionType = o.Get("--attention-type") is { } at ? BigBirdConfig.ParseAttentionType(at, "--attention-type") : null,
            RandomAttention = ParseSemantics(o.Get("--random-attention") ?? "deterministic"),
        };
        string model = ModelOrDefault(o, io.Stderr);
        var forwardInputs = ReadRunInputs(inputs, io);
        using var bigbird = BigBirdModel.FromPretrained(model, LoadOptions(o, io.Stderr));
        var traced = new List<(string Name, FloatTensor Tensor)>();
        var result = bigbird.Forward(forwardInputs, forwardOptions with { Trace = (name, tensor) => traced.Add((name, tensor)) });
        // the report goes where the summary goes: stderr when stdout holds the trace itself
        var report = output == "-" ? io.Stderr : io.Stdout;
        bool same = true;
        WriteBinaryOutput(output, io, path =>
        {
            SafeTensorsWriter.Write(path, traced.Select(t => new SafeTensorsWriter.Entry(t.Name, t.Tensor.Shape, t.Tensor.Data)));
            Summary(o, io, output, $"traced {traced.Count} tensors (attention {BigBirdConfig.AttentionTypeName(result.AttentionType)}) → {Shown(output)}",
                    new() { ["tensors"] = traced.Count, ["attention_type"] = BigBirdConfig.AttentionTypeName(result.AttentionType), ["output"] = output });
            if (compare is not null) same = TraceComparison.Compare(path, compare, atol, rtol, report, o.Flag("--json"));
        });
        return same ? Ok : Diverged;
    }
}

/// <summary>Compares two traces tensor by tensor, in forward order, and says where and how much they diverge.</summary>
internal static class TraceComparison
{
    /// <summary>
    /// Prints one line per tensor (OK, DIFF with the first index beyond |a − b| ≤ atol + rtol·|b| and the count,
    /// SHAPE, or MISSING) and then the first diverging tensor in forward order. <paramref name="theirsPath"/> plays b.
    /// Returns true when every tensor of both files matches.
    /// </summary>
    public static bool Compare(string oursPath, string theirsPath, double atol, double rtol, TextWriter stdout) =>
        Compare(oursPath, theirsPath, atol, rtol, stdout, json: false);

    /// <summary><see cref="Compare(string, string, double, double, TextWriter)"/>; with <paramref name="json"/>, each line
    /// is a JSON object (<c>name</c>, <c>status</c> ok|diff|shape|missing, and the numbers) and the last one says
    /// <c>match</c> and <c>first_divergence</c>.</summary>
    internal static bool Compare(string oursPath, string theirsPath, double atol, double rtol, TextWriter stdout, bool json)
    {
        using var ours = CheckpointLoader.Open(oursPath);
        using var theirs = CheckpointLoader.Open(theirsPath);
        var names = ours.Names.Union(theirs.Names).OrderBy(ForwardOrder).ThenBy(n => n, StringComparer.Ordinal).ToList();
        string? first = null;
        foreach (var name in names)
        {
            bool inOurs = ours.TryGetInfo(name, out var a), inTheirs = theirs.TryGetInfo(name, out var b);
            string? problem = null;
            if (!inOurs || !inTheirs)
            {
                problem = json ? Json(name, "missing", ("only_in", inOurs ? "ours" : "theirs"))
                               : $"MISSING {name}: only in {(inOurs ? "ours" : "theirs")}";
            }
            else if (!a!.Shape.SequenceEqual(b!.Shape))
            {
                problem = json ? Json(name, "shape", ("ours", a.Shape), ("theirs", b.Shape))
                               : $"SHAPE   {name}: ours {a.ShapeText}, theirs {b.ShapeText}";
            }
            else
            {
                var x = ours.ReadFloat32(name).Span;
                var y = theirs.ReadFloat32(name).Span;
                long bad = 0, firstBad = -1;
                double maxDiff = 0;
                for (int i = 0; i < x.Length; i++)
                {
                    double d = Math.Abs((double)x[i] - y[i]);
                    if (double.IsNaN(d)) d = double.PositiveInfinity;
                    maxDiff = Math.Max(maxDiff, d);
                    if (d > atol + rtol * Math.Abs((double)y[i]))
                    {
                        bad++;
                        if (firstBad < 0) firstBad = i;
                    }
                }
                if (bad == 0)
                {
                    stdout.WriteLine(json ? Json(name, "ok", ("shape", a.Shape), ("max_abs_diff", Finite(maxDiff)))
                                          : $"OK      {name} {a.ShapeText} max |a-b| {F(maxDiff)}");
                    continue;
                }
                int at = (int)firstBad;
                problem = json
                    ? Json(name, "diff", ("shape", a.Shape), ("beyond_tolerance", bad), ("elements", x.Length), ("first_at", Index(at, a.Shape)),
                           ("ours", Finite(x[at])), ("theirs", Finite(y[at])), ("max_abs_diff", Finite(maxDiff)))
                    : $"DIFF    {name} {a.ShapeText}: {bad} of {x.Length} elements beyond tolerance; first at {Index(at, a.Shape)}: " +
                          $"ours {F(x[at])}, theirs {F(y[at])}; max |a-b| {F(maxDiff)}";
            }
            stdout.WriteLine(problem);
            first ??= name;
        }
        if (json)
        {
            stdout.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
            {
                ["match"] = first is null, ["tensors"] = names.Count, ["atol"] = atol, ["rtol"] = rtol, ["first_divergence"] = first,
            }));
            return first is null;
        }
        stdout.WriteLine(first is null
            ? $"all {names.Count} tensors match within |a-b| <= {F(atol)} + {F(rtol)}*|b|"
            : $"first divergence in forward order: {first}");
        return first is null;
    }

    /// <summary>Forward order of HF module paths: embeddings, then each layer's modules as they run, then the pooler.</summary>
    public static (int, int, int) ForwardOrder(string name)
    {
        if (name == "embeddings") return (0, 0, 0);
        if (name == "pooler") return (2, 0, 0);
        if (name == "activation") return (2, 1, 0);
        const string layer = "encoder.layer.";
        if (name.StartsWith(layer, StringComparison.Ordinal))
        {
            int dot = name.IndexOf('.', layer.Length);
            if (dot > 0 && int.TryParse(name.AsSpan(layer.Length, dot - layer.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int i))
            {
                string rest = name[(dot + 1)..];
                string[] order =
                [
                    "attention.self.query", "attention.self.key", "attention.self.value", "attention.self", "attention.output",
                    "crossattention.self.query", "crossattention.self.key", "crossattention.self.value", "crossattention.self",
                    "crossattention.output", "intermediate", "output",
                ];
                int k = Array.IndexOf(order, rest);
                return (1, i, k < 0 ? order.Length : k);
            }
        }
        return (3, 0, 0);
    }

    private static string Index(int flat, long[] shape)
    {
        var idx = new long[shape.Length];
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            idx[d] = shape[d] == 0 ? 0 : flat % shape[d];
            flat = shape[d] == 0 ? flat : (int)(flat / shape[d]);
        }
        return "[" + string.Join(", ", idx) + "]";
    }

    private static string Json(string name, string status, params (string Key, object? Value)[] fields)
    {
        var line = new Dictionary<string, object?> { ["name"] = name, ["status"] = status };
        foreach (var (key, value) in fields) line[key] = value;
        return JsonSerializer.Serialize(line);
    }

    /// <summary>A number JSON can hold: NaN and ±Inf become null.</summary>
    private static double? Finite(double v) => double.IsFinite(v) ? v : null;

    private static string F(double v) => v.ToString("G6", CultureInfo.InvariantCulture);
}
