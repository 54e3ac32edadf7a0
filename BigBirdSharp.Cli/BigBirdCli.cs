using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.RandomAttention;
using BigBirdSharp.Serialization;

namespace BigBirdSharp.Cli;

/// <summary>
/// The <c>bigbird</c> command: the text commands (<c>fill-mask</c>, <c>embed</c>, <c>classify</c>, <c>qa</c>,
/// <c>generate</c>), and <c>run</c>, <c>trace</c>, <c>bench</c> and <c>tokenize</c>. Exit codes: 0 ok, 1 bad input or
/// model, 2 bad usage, 3 <c>trace --compare</c> found a divergence.
/// </summary>
public static partial class BigBirdCli
{
    /// <summary>Exit code for success.</summary>
    public const int Ok = 0;
    /// <summary>Exit code for a model, checkpoint or input error.</summary>
    public const int Failed = 1;
    /// <summary>Exit code for a usage error.</summary>
    public const int Usage = 2;
    /// <summary>Exit code of <c>trace --compare</c> when some tensor differs beyond tolerance or is missing.</summary>
    public const int Diverged = 3;

    private const string UsageText = """
        usage (TEXT: an argument, --text TEXT, --input FILE|- (a .jsonl FILE or --jsonl: one JSON object per line), or stdin;
               without --model every command uses the embedded default model):
          bigbird fill-mask [TEXT] [--model DIR] [--top-k K]
          bigbird embed [TEXT] [--model DIR] [--pooling mean|pooler|cls] [--output FILE.safetensors|FILE.json]
          bigbird classify [TEXT] [--model DIR] [--text-pair TEXT] [--top-k K]
          bigbird qa [CONTEXT] --question Q [--model DIR] [--top-k K] [--max-answer-length N] [--doc-stride N]
              (JSONL lines: {"question": ..., "context": ...})
          bigbird generate [PROMPT] [--model DIR] [--max-new-tokens N] [--repetition-penalty R] [--no-repeat-ngram-size N]
                           [--do-sample [--temperature T] [--top-k K] [--top-p P] [--seed S]]
            every text command also takes: --json (one JSON line per document), --quiet (no progress or model line),
            --no-truncate (refuse input longer than max_position_embeddings instead of truncating it, or for qa
            reading the context in overlapping windows), --strict (refuse invalid UTF-8, lone surrogates and NaN/Inf
            weights instead of warning),
            --attention-type original_full|block_sparse, --random-attention deterministic|seeded
          bigbird run [--model DIR] --inputs FILE.json --output FILE.safetensors
                      [--architecture NAME] [--attention-type original_full|block_sparse]
                      [--random-attention deterministic|seeded] [--output-hidden-states] [--output-attentions]
                      [--generate N [--eos-token-id ID] [--do-sample [--temperature T] [--top-k K] [--top-p P] [--seed S]]]
          bigbird trace [--model DIR] --inputs FILE.json --output FILE.safetensors [--compare OTHER.safetensors]
                        [--atol A] [--rtol R] [--attention-type T] [--random-attention deterministic|seeded]
          bigbird bench [--model DIR] --seq-len N [--batch B] [--repeat R] [--attention-type T] [--random-attention deterministic|seeded]
          bigbird tokenize [--model DIR] --input FILE.jsonl --output FILE.jsonl [--strict]
          run, trace and bench take --strict too (refuse NaN/Inf weights). Input files must be regular files (- is stdin).
        exit codes: 0 ok; 1 bad model, checkpoint or input; 2 bad usage; 3 trace --compare found a divergence
        """;

    /// <summary>The architectures this build can run.</summary>
    public static readonly IReadOnlyList<string> SupportedArchitectures = ["BigBirdModel", .. BigBirdPreTrainedModel.HeadArchitectures];

    /// <summary>Runs the command line with no standard input; returns the process exit code.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr) => Run(args, stdout, stderr, Stream.Null, false);

    /// <summary>Runs the command line; returns the process exit code. <paramref name="stdin"/> is read by the text
    /// commands when no text is given and <paramref name="stdinRedirected"/> is true (its characters are read as UTF-8).</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, TextReader stdin, bool stdinRedirected) =>
        Run(args, stdout, stderr, new TextReaderStream(stdin), stdinRedirected);

    /// <summary>
    /// Runs the command line; returns the process exit code and never throws: a typed error prints one
    /// <c>bigbird: …</c> line (exit 1, or 2 for a usage error), and anything unexpected prints one
    /// <c>bigbird: internal error (Type): …</c> line asking for a report (exit 1). <paramref name="stdin"/> holds the
    /// UTF-8 bytes the text commands read when no text is given and <paramref name="stdinRedirected"/> is true.
    /// </summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, Stream stdin, bool stdinRedirected)
    {
        try
        {
            if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
            {
                stdout.WriteLine(UsageText);
                return args.Length == 0 ? Usage : Ok;
            }
            var opts = Options.Parse(args.AsSpan(1));
            return args[0] switch
            {
                "run" => RunCommand(opts, stdout, stderr),
                "bench" => BenchCommand(opts, stdout, stderr),
                "trace" => TraceCommand(opts, stdout, stderr),
                "tokenize" => TokenizeCommand.Run(opts, stdout, stderr),
                "fill-mask" => TextCommands.FillMask(TextContext(opts, stdout, stderr, stdin, stdinRedirected)),
                "embed" => TextCommands.Embed(TextContext(opts, stdout, stderr, stdin, stdinRedirected)),
                "classify" => TextCommands.Classify(TextContext(opts, stdout, stderr, stdin, stdinRedirected)),
                "qa" => TextCommands.Qa(TextContext(opts, stdout, stderr, stdin, stdinRedirected)),
                "generate" => TextCommands.Generate(TextContext(opts, stdout, stderr, stdin, stdinRedirected)),
                _ => throw new UsageException($"unknown command '{args[0]}'"),
            };
        }
        catch (Exception e)
        {
            return Report(e, stderr);
        }
    }

    /// <summary>
    /// Prints <paramref name="error"/> as the CLI reports errors and returns the exit code: a usage error with the usage
    /// text (2); a BigBirdSharp, I/O or argument error as one line (1); anything else as one internal-error line that asks
    /// for a report (1). An AggregateException (or a reflection wrapper) is reported as the first exception inside it.
    /// Never throws.
    /// </summary>
    internal static int Report(Exception error, TextWriter stderr)
    {
        var e = Unwrap(error);
        try
        {
            switch (e)
            {
                case UsageException:
                    stderr.WriteLine($"bigbird: {OneLine(e.Message)}");
                    stderr.WriteLine(UsageText);
                    return Usage;
                case BigBirdException or IOException or ArgumentException or UnauthorizedAccessException:
                    stderr.WriteLine($"bigbird: {OneLine(e.Message)}");
                    return Failed;
                default:
                    stderr.WriteLine(InternalErrorLine(e));
                    return Failed;
            }
        }
        catch
        {
            return Failed; // stderr itself failed (closed pipe): the exit code still says it
        }
    }

    /// <summary>The one line an unexpected exception prints.</summary>
    internal static string InternalErrorLine(Exception e) =>
        $"bigbird: internal error ({e.GetType().Name}): {OneLine(e.Message)} Please report it with the command line.";

    private static Exception Unwrap(Exception e)
    {
        for (int depth = 0; depth < 16; depth++)
        {
            Exception? inner = e switch
            {
                AggregateException a => a.InnerExceptions.Count > 0 ? a.InnerExceptions[0] : null,
                System.Reflection.TargetInvocationException t => t.InnerException,
                TypeInitializationException t => t.InnerException,
                _ => null,
            };
            if (inner is null) return e;
            e = inner;
        }
        return e;
    }

    private static string OneLine(string message)
    {
        string line = string.Join(' ', message.Split((char[])['\r', '\n'], StringSplitOptions.RemoveEmptyEntries)).Trim();
        return line.Length == 0 ? "(no message)" : line;
    }

    private static TextCommandContext TextContext(Options o, TextWriter stdout, TextWriter stderr, Stream stdin, bool redirected) => new()
    {
        Options = o,
        Stdout = stdout,
        Stderr = stderr,
        Stdin = stdin,
        StdinRedirected = redirected,
        Interactive = ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected,
    };

    /// <summary><c>--model</c>, or the embedded default model, which is then named on stderr.</summary>
    internal static string ModelOrDefault(Options o, TextWriter stderr)
    {
        if (o.Get("--model") is { } model)
        {
            if (Directory.Exists(model)) CliInput.CheckModelFolder(model);
            return model;
        }
        stderr.WriteLine($"model: {ModelFolder.Resolve(null, causal: false).Description}");
        return ModelFolder.DefaultDirectory;
    }

    private static int RunCommand(Options o, TextWriter stdout, TextWriter stderr)
    {
        string model = ModelOrDefault(o, stderr), inputs = o.Required("--inputs"), output = o.Required("--output");
        o.RejectUnknown("--model", "--inputs", "--output", "--architecture", "--attention-type", "--random-attention",
                        "--output-hidden-states", "--output-attentions", "--generate", "--eos-token-id",
                        "--do-sample", "--temperature", "--top-k", "--top-p", "--seed", "--strict");
        var modelOptions = LoadOptions(o, stderr);
        var forwardOptions = new BigBirdForwardOptions
        {
            AttentionType = o.Get("--attention-type") is { } at ? BigBirdConfig.ParseAttentionType(at, "--attention-type") : null,
            RandomAttention = ParseSemantics(o.Get("--random-attention") ?? "deterministic"),
            OutputHiddenStates = o.Flag("--output-hidden-states"),
            OutputAttentions = o.Flag("--output-attentions"),
        };
        int? generate = o.Get("--generate") is null ? null : o.Int("--generate", null);
        if (generate is < 0) throw new UsageException("--generate must be a non-negative number of tokens");
        if (generate is null && (o.Get("--eos-token-id") ?? o.Get("--temperature") ?? o.Get("--top-k") ?? o.Get("--top-p") ?? o.Get("--seed")) is not null
            || generate is null && o.Flag("--do-sample"))
            throw new UsageException("--eos-token-id, --do-sample, --temperature, --top-k, --top-p and --seed go with --generate N");
        if (!Directory.Exists(model))
            throw new BigBirdException($"{model}: no such folder; pass a Hugging Face checkpoint folder (config.json + weights).");
        var config = BigBirdConfig.FromFile(Path.Combine(model, "config.json"));
        string architecture = o.Get("--architecture") ?? config.Architectures.FirstOrDefault() ?? "BigBirdModel";
        if (!SupportedArchitectures.Contains(architecture))
            throw new BigBirdException(
                $"architecture '{architecture}' is not supported; supported: {string.Join(", ", SupportedArchitectures)}. " +
                "Pass --architecture to choose one, e.g. BigBirdModel for the bare encoder of any BigBird checkpoint.");
        if (!File.Exists(inputs)) throw new BigBirdInputException($"{inputs}: inputs file not found.");
        var forwardInputs = RunInputs.Read(inputs);
        if (forwardInputs.NumChoices > 0 && architecture != "BigBirdForMultipleChoice")
            throw new BigBirdInputException($"{inputs}: input_ids is [batch][choices][seq], which only BigBirdForMultipleChoice takes; {architecture} takes [batch][seq].");

        string summary;
        if (architecture == "BigBirdModel")
        {
            using var bigbird = BigBirdModel.FromPretrained(model, modelOptions);
            if (generate is not null) throw new UsageException("--generate needs a BigBirdForCausalLM checkpoint (or --architecture BigBirdForCausalLM)");
            var result = bigbird.Forward(forwardInputs, forwardOptions);
            SafeTensorsWriter.Write(output, SafeTensorsWriter.Entries(result));
            summary = $"attention {BigBirdConfig.AttentionTypeName(result.AttentionType)}";
        }
        else
        {
            using var head = BigBirdPreTrainedModel.Load(model, architecture, modelOptions);
            if (generate is int n)
            {
                if (head is not BigBirdForCausalLM causal)
                    throw new UsageException($"--generate needs BigBirdForCausalLM, not {architecture}");
                var generation = new GenerationConfig
                {
                    MaxNewTokens = n,
                    EosTokenId = o.Get("--eos-token-id") is null ? null : o.Int("--eos-token-id", null),
                    DoSample = o.Flag("--do-sample"),
                    Temperature = o.Float("--temperature", 1f),
                    TopK = o.Int("--top-k", 50),
                    TopP = o.Float("--top-p", 1f),
                    Seed = o.Int("--seed", 0),
                };
                var sequences = causal.Generate(forwardInputs, generation, forwardOptions);
                int rows = forwardInputs.BatchSize, length = sequences.Length / rows;
                SafeTensorsWriter.Write(output, [new SafeTensorsWriter.Entry("sequences", [rows, length], [], sequences.Select(x => (long)x).ToArray())]);
                summary = $"generated {length - forwardInputs.SequenceLength} tokens per row";
            }
            else
            {
                var result = head.Forward(forwardInputs, forwardOptions);
                SafeTensorsWriter.Write(output, SafeTensorsWriter.Entries(result));
                summary = $"attention {BigBirdConfig.AttentionTypeName(result.AttentionType)}" +
                          (result.Loss is float loss ? $", loss {loss.ToString("G6", CultureInfo.InvariantCulture)}" : "");
            }
        }
        stdout.WriteLine($"{architecture}: batch {forwardInputs.BatchSize}, length {forwardInputs.SequenceLength}, {summary} → {output}");
        return Ok;
    }

    private static int BenchCommand(Options o, TextWriter stdout, TextWriter stderr)
    {
        string model = ModelOrDefault(o, stderr);
        int seqLen = o.Int("--seq-len", null);
        int batch = o.Int("--batch", 1), repeat = o.Int("--repeat", 5);
        var forwardOptions = new BigBirdForwardOptions
        {
            AttentionType = o.Get("--attention-type") is { } at ? BigBirdConfig.ParseAttentionType(at, "--attention-type") : null,
            RandomAttention = ParseSemantics(o.Get("--random-attention") ?? "deterministic"),
        };
        o.RejectUnknown("--model", "--seq-len", "--batch", "--repeat", "--attention-type", "--random-attention", "--strict");
        if (seqLen <= 0 || batch <= 0 || repeat <= 0) throw new UsageException("--seq-len, --batch and --repeat must be positive");
        if ((long)batch * seqLen > 1 << 24) throw new UsageException("--batch × --seq-len must be at most 16777216 tokens");
        using var bigbird = BigBirdModel.FromPretrained(model, LoadOptions(o, stderr));
        // synthetic ids: a fixed pseudo-random sequence away from the special tokens
        var ids = new int[batch * seqLen];
        uint x = 2463534242;
        for (int i = 0; i < ids.Length; i++)
        {
            x ^= x << 13; x ^= x >> 17; x ^= x << 5;
            ids[i] = (int)(x % (uint)bigbird.Config.VocabSize);
        }
        var inputs = new BigBirdInputs(batch, seqLen) { InputIds = ids };
        bigbird.Forward(inputs, forwardOptions); // warm-up
        var times = new double[repeat];
        for (int r = 0; r < repeat; r++)
        {
            var sw = Stopwatch.StartNew();
            bigbird.Forward(inputs, forwardOptions);
            times[r] = sw.Elapsed.TotalSeconds;
        }
        Array.Sort(times);
        double median = repeat % 2 == 1 ? times[repeat / 2] : (times[repeat / 2 - 1] + times[repeat / 2]) / 2;
        var line = new Dictionary<string, object>
        {
            ["seq_len"] = seqLen,
            ["batch"] = batch,
            ["repeat"] = repeat,
            ["attention_type"] = BigBirdConfig.AttentionTypeName(bigbird.EffectiveAttentionType(seqLen, forwardOptions.AttentionType)),
            ["random_attention"] = forwardOptions.RandomAttention == RandomAttentionSemantics.Seeded ? "seeded" : "deterministic",
            ["backend"] = bigbird.Backend.Name,
            ["simd"] = BigBirdSharp.Kernels.KernelInfo.Describe(),
            ["threads"] = BigBirdSharp.Kernels.KernelInfo.Threads,
            ["median_s"] = median,
            ["min_s"] = times[0],
            ["tokens_per_s"] = batch * seqLen / median,
        };
        stdout.WriteLine(JsonSerializer.Serialize(line));
        return Ok;
    }

    /// <summary>Load-time settings of run, trace and bench: weight warnings on stderr; --strict refuses non-finite weights.</summary>
    internal static BigBirdModelOptions LoadOptions(Options o, TextWriter stderr) =>
        new() { Warning = line => stderr.WriteLine($"warning: {line}"), RejectNonFiniteWeights = o.Flag("--strict") };

    private static RandomAttentionSemantics ParseSemantics(string value) => value switch
    {
        "deterministic" => RandomAttentionSemantics.Deterministic,
        "seeded" => RandomAttentionSemantics.Seeded,
        _ => throw new UsageException($"--random-attention must be deterministic or seeded, not '{value}'"),
    };

    /// <summary>Reads the <c>run</c> inputs (see <see cref="RunInputs"/>).</summary>
    /// <exception cref="BigBirdInputException">Not JSON, unknown keys, wrong shapes, or wrong element types.</exception>
    public static BigBirdInputs ReadInputs(string path) => RunInputs.Read(path);

    /// <summary>A command-line usage error.</summary>
    internal sealed class UsageException(string message) : Exception(message);

    /// <summary>Parsed <c>--name value</c> and <c>--flag</c> options.</summary>
    internal sealed class Options
    {
        private static readonly HashSet<string> Flags =
            ["--output-hidden-states", "--output-attentions", "--do-sample", "--quiet", "--json", "--no-truncate", "--jsonl", "--strict"];
        private readonly Dictionary<string, string?> _values = new();
        private readonly List<string> _positionals = new();

        /// <summary>Arguments that are not options, in order (texts of the text commands).</summary>
        public IReadOnlyList<string> Positionals => _positionals;

        public static Options Parse(ReadOnlySpan<string> args)
        {
            var o = new Options();
            for (int i = 0; i < args.Length; i++)
            {
                string a = args[i];
                if (!a.StartsWith("--", StringComparison.Ordinal) || a == "--")
                {
                    if (a == "--") { o._positionals.AddRange(args[(i + 1)..].ToArray()); break; }
                    o._positionals.Add(a);
                    continue;
                }
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

        public float Float(string name, float fallback)
        {
            string? v = Get(name);
            if (v is null) return fallback;
            return float.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out float x) && float.IsFinite(x)
                ? x : throw new UsageException($"{name} must be a number, not '{v}'");
        }

        public void RejectUnknown(params string[] known)
        {
            if (_positionals.Count > 0 && !known.Contains("TEXT")) throw new UsageException($"unexpected argument '{_positionals[0]}'");
            foreach (var k in _values.Keys)
                if (!known.Contains(k)) throw new UsageException($"unknown option {k}");
        }
    }
}
