using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling;
using BigBirdSharp.RandomAttention;
using BigBirdSharp.Serialization;

namespace BigBirdSharp.Cli;

/// <summary>The <c>bigbird</c> command: <c>run</c>, <c>bench</c> and <c>tokenize</c>. Exit codes: 0 ok, 1 bad input or model, 2 bad usage.</summary>
public static class BigBirdCli
{
    /// <summary>Exit code for success.</summary>
    public const int Ok = 0;
    /// <summary>Exit code for a model, checkpoint or input error.</summary>
    public const int Failed = 1;
    /// <summary>Exit code for a usage error.</summary>
    public const int Usage = 2;

    private const string UsageText = """
        usage:
          bigbird run --model DIR --inputs FILE.json --output FILE.safetensors
                      [--architecture NAME] [--attention-type original_full|block_sparse]
                      [--random-attention deterministic|seeded] [--output-hidden-states] [--output-attentions]
          bigbird bench --model DIR --seq-len N [--batch B] [--repeat R]
          bigbird tokenize --model DIR --input FILE.jsonl --output FILE.jsonl
        """;

    /// <summary>The architectures this build can run.</summary>
    public static readonly IReadOnlyList<string> SupportedArchitectures = ["BigBirdModel"];

    /// <summary>Runs the command line; returns the process exit code.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            stdout.WriteLine(UsageText);
            return args.Length == 0 ? Usage : Ok;
        }
        try
        {
            var opts = Options.Parse(args.AsSpan(1));
            return args[0] switch
            {
                "run" => RunCommand(opts, stdout),
                "bench" => BenchCommand(opts, stdout),
                "tokenize" => TokenizeCommand.Run(opts, stdout),
                _ => throw new UsageException($"unknown command '{args[0]}'"),
            };
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"bigbird: {e.Message}");
            stderr.WriteLine(UsageText);
            return Usage;
        }
        catch (BigBirdException e)
        {
            stderr.WriteLine($"bigbird: {e.Message}");
            return Failed;
        }
        catch (IOException e)
        {
            stderr.WriteLine($"bigbird: {e.Message}");
            return Failed;
        }
        catch (ArgumentException e)
        {
            stderr.WriteLine($"bigbird: {e.Message}");
            return Failed;
        }
        catch (UnauthorizedAccessException e)
        {
            stderr.WriteLine($"bigbird: {e.Message}");
            return Failed;
        }
    }

    private static int RunCommand(Options o, TextWriter stdout)
    {
        string model = o.Required("--model"), inputs = o.Required("--inputs"), output = o.Required("--output");
        o.RejectUnknown("--model", "--inputs", "--output", "--architecture", "--attention-type", "--random-attention",
                        "--output-hidden-states", "--output-attentions");
        var forwardOptions = new BigBirdForwardOptions
        {
            AttentionType = o.Get("--attention-type") is { } at ? BigBirdConfig.ParseAttentionType(at, "--attention-type") : null,
            RandomAttention = ParseSemantics(o.Get("--random-attention") ?? "deterministic"),
            OutputHiddenStates = o.Flag("--output-hidden-states"),
            OutputAttentions = o.Flag("--output-attentions"),
        };
        if (!File.Exists(inputs)) throw new BigBirdInputException($"{inputs}: inputs file not found.");
        using var bigbird = BigBirdModel.Load(model);
        string architecture = o.Get("--architecture") ?? bigbird.config.Architectures.FirstOrDefault() ?? "BigBirdModel";
        if (!SupportedArchitectures.Contains(architecture))
            throw new BigBirdException(
                $"architecture '{architecture}' is not supported by this build; supported: {string.Join(", ", SupportedArchitectures)}. " +
                "Pass --architecture BigBirdModel to run the bare encoder of this checkpoint.");
        var forwardInputs = ReadInputs(inputs);
        var result = bigbird.Forward(forwardInputs, forwardOptions);
        SafeTensorsWriter.Write(output, SafeTensorsWriter.Entries(result));
        stdout.WriteLine($"{architecture}: batch {forwardInputs.BatchSize}, length {forwardInputs.SequenceLength}, " +
                         $"attention {BigBirdConfig.AttentionTypeName(result.AttentionType)} → {output}");
        return Ok;
    }

    private static int BenchCommand(Options o, TextWriter stdout)
    {
        string model = o.Required("--model");
        int seqLen = o.Int("--seq-len", null);
        int batch = o.Int("--batch", 1), repeat = o.Int("--repeat", 5);
        o.RejectUnknown("--model", "--seq-len", "--batch", "--repeat");
        if (seqLen <= 0 || batch <= 0 || repeat <= 0) throw new UsageException("--seq-len, --batch and --repeat must be positive");
        if ((long)batch * seqLen > 1 << 24) throw new UsageException("--batch × --seq-len must be at most 16777216 tokens");
        using var bigbird = BigBirdModel.Load(model);
        // synthetic ids: a fixed pseudo-random sequence away from the special tokens
        var ids = new int[batch * seqLen];
        uint x = 2463534242;
        for (int i = 0; i < ids.Length; i++)
        {
            x ^= x << 13; x ^= x >> 17; x ^= x << 5;
            ids[i] = (int)(x % (uint)bigbird.config.VocabSize);
        }
        var inputs = new BigBirdInputs(batch, seqLen) { InputIds = ids };
        bigbird.Forward(inputs); // warm-up
        var times = new double[repeat];
        for (int r = 0; r < repeat; r++)
        {
            var sw = Stopwatch.StartNew();
            bigbird.Forward(inputs);
            times[r] = sw.Elapsed.TotalSeconds;
        }
        Array.Sort(times);
        double median = repeat % 2 == 1 ? times[repeat / 2] : (times[repeat / 2 - 1] + times[repeat / 2]) / 2;
        var line = new Dictionary<string, object>
        {
            ["seq_len"] = seqLen,
            ["batch"] = batch,
            ["repeat"] = repeat,
            ["attention_type"] = BigBirdConfig.AttentionTypeName(bigbird.EffectiveAttentionType(seqLen)),
            ["median_s"] = median,
            ["min_s"] = times[0],
            ["tokens_per_s"] = batch * seqLen / median,
        };
        stdout.WriteLine(JsonSerializer.Serialize(line));
        return Ok;
    }

    private static RandomAttentionSemantics ParseSemantics(string value) => value switch
    {
        "deterministic" => RandomAttentionSemantics.Deterministic,
        "seeded" => RandomAttentionSemantics.Seeded,
        _ => throw new UsageException($"--random-attention must be deterministic or seeded, not '{value}'"),
    };

    /// <summary>Reads the <c>run</c> inputs: a JSON object of [batch][seq] int arrays named as HF's forward arguments.</summary>
    /// <exception cref="BigBirdInputException">Not JSON, unknown keys, wrong shapes, or non-integers.</exception>
    public static BigBirdInputs ReadInputs(string path)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new BigBirdInputException($"{path}: not valid JSON: {e.Message}");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new BigBirdInputException($"{path}: expected a JSON object of forward arguments such as {{\"input_ids\": [[...]]}}.");
            int[][]? ids = null, mask = null, types = null, positions = null;
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                var value = IntMatrix(p.Value, path, p.Name);
                switch (p.Name)
                {
                    case "input_ids": ids = value; break;
                    case "attention_mask": mask = value; break;
                    case "token_type_ids": types = value; break;
                    case "position_ids": positions = value; break;
                    default:
                        throw new BigBirdInputException($"{path}: unknown input '{p.Name}'; BigBirdModel takes input_ids, attention_mask, token_type_ids, position_ids.");
                }
            }
            if (ids is null) throw new BigBirdInputException($"{path}: input_ids is required.");
            return BigBirdInputs.FromIds(ids, mask, types, positions);
        }
    }

    private static int[][] IntMatrix(JsonElement e, string path, string name)
    {
        if (e.ValueKind != JsonValueKind.Array)
            throw new BigBirdInputException($"{path}: {name} must be a [batch][seq] array of integers.");
        var rows = new List<int[]>();
        foreach (var row in e.EnumerateArray())
        {
            if (row.ValueKind != JsonValueKind.Array)
                throw new BigBirdInputException($"{path}: {name} must be a [batch][seq] array of integers.");
            var values = new List<int>();
            foreach (var v in row.EnumerateArray())
            {
                if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int x))
                    throw new BigBirdInputException($"{path}: {name} holds '{v.GetRawText()}', which is not a 32-bit integer.");
                values.Add(x);
            }
            rows.Add(values.ToArray());
        }
        return rows.ToArray();
    }

    /// <summary>A command-line usage error.</summary>
    internal sealed class UsageException(string message) : Exception(message);

    /// <summary>Parsed <c>--name value</c> and <c>--flag</c> options.</summary>
    internal sealed class Options
    {
        private static readonly HashSet<string> Flags = ["--output-hidden-states", "--output-attentions"];
        private readonly Dictionary<string, string?> _values = new();

        public static Options Parse(ReadOnlySpan<string> args)
        {
            var o = new Options();
            for (int i = 0; i < args.Length; i++)
            {
                string a = args[i];
                if (!a.StartsWith("--", StringComparison.Ordinal)) throw new UsageException($"unexpected argument '{a}'");
                if (o._values.ContainsKey(a)) throw new UsageException($"{a} given twice");
                if (Flags.Contains(a)) { o._values[a] = null; continue; }
                if (i + 1 >= args.Length) throw new UsageException($"{a} needs a value");
                o._values[a] = args[++i];
            }
            return o;
        }

        public string? Get(string name) => _values.TryGetValue(name, out var v) ? v : null;
        public bool Flag(string name) => _values.ContainsKey(name);
        public string Required(string name) => Get(name) ?? throw new UsageException($"{name} is required");

        public int Int(string name, int? fallback)
        {
            string? v = Get(name);
            if (v is null) return fallback ?? throw new UsageException($"{name} is required");
            return int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int x)
                ? x : throw new UsageException($"{name} must be an integer, not '{v}'");
        }

        public void RejectUnknown(params string[] known)
        {
            foreach (var k in _values.Keys)
                if (!known.Contains(k)) throw new UsageException($"unknown option {k}");
        }
    }
}
