using System.CommandLine;
using System.CommandLine.Parsing;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.RandomAttention;
using BigBirdSharp.Serialization;

namespace BigBirdSharp.Cli;

/// <summary>
/// The <c>bigbird</c> command: the text commands (<c>fill-mask</c>, <c>embed</c>, <c>classify</c>, <c>qa</c>,
/// <c>generate</c>), <c>tokenize</c>, and <c>run</c>, <c>trace</c> and <c>bench</c>, parsed by System.CommandLine (see
/// <see cref="CliSchema"/>). Exit codes: 0 ok, 1 bad input or model, 2 bad usage, 3 <c>trace --compare</c> found a
/// divergence, 4 some documents of a batch failed.
/// </summary>
internal static partial class BigBirdCli
{
    /// <summary>Exit code for success.</summary>
    public const int Ok = 0;
    /// <summary>Exit code for a model, checkpoint or input error.</summary>
    public const int Failed = 1;
    /// <summary>Exit code for a usage error.</summary>
    public const int Usage = 2;
    /// <summary>Exit code of <c>trace --compare</c> when some tensor differs beyond tolerance or is missing.</summary>
    public const int Diverged = 3;
    /// <summary>Exit code when some documents of a batch failed (each has an error record in the output) and the rest ran.</summary>
    public const int SomeDocumentsFailed = 4;

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
    /// <c>bigbird: …</c> line (exit 1, or 2 for a usage error, which also says where help is), and anything unexpected
    /// prints one <c>bigbird: internal error (Type): …</c> line asking for a report (exit 1). <paramref name="stdin"/>
    /// holds the UTF-8 bytes read for <c>--input -</c>, or when no text is given and <paramref name="stdinRedirected"/>.
    /// </summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, Stream stdin, bool stdinRedirected) =>
        Run(args, new CliConsole
        {
            Stdout = stdout,
            Stderr = stderr,
            Stdin = stdin,
            StdinRedirected = stdinRedirected,
            StderrIsTerminal = ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected,
            StdoutIsTerminal = ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected,
            StdoutStream = ReferenceEquals(stdout, Console.Out) ? Console.OpenStandardOutput
                         : stdout is StreamWriter writer ? () => writer.BaseStream : null,
        });

    /// <summary>Runs the command line on <paramref name="io"/>; see <see cref="Run(string[], TextWriter, TextWriter, Stream, bool)"/>.</summary>
    internal static int Run(string[] args, CliConsole io)
    {
        string command = "";
        try
        {
            if (args.Length == 0)
            {
                CliSchema.Root.Parse(["--help"]).Invoke(new InvocationConfiguration { Output = io.Stdout, Error = io.Stderr });
                return Usage;
            }
            if (args[0] == "help") args = args.Length > 1 ? [args[1], "--help"] : ["--help"];
            if (!args[0].StartsWith('-') && !CliSchema.Commands.Any(c => c.Name == args[0]))
                throw new UsageException($"unknown command '{args[0]}'; the commands are {string.Join(", ", CliSchema.Commands.Select(c => c.Name))}");
            var parsed = CliSchema.Root.Parse(args);
            command = parsed.CommandResult.Command == CliSchema.Root ? "" : parsed.CommandResult.Command.Name;
            if (parsed.Errors.Count > 0) throw new UsageException(Friendly(parsed.Errors[0]));
            if (parsed.Action is not null) // --help or --version: no command has an action of its own
                return parsed.Invoke(new InvocationConfiguration { Output = io.Stdout, Error = io.Stderr, EnableDefaultExceptionHandler = false });
            var o = new Options(parsed);
            o.RejectOptionLikeTexts();
            Backend(o); // a bad --threads or --backend is an error before anything is read or loaded
            return command switch
            {
                "run" => RunCommand(o, io),
                "bench" => BenchCommand(o, io),
                "trace" => TraceCommand(o, io),
                "tokenize" => Text(o, io, TokenizeCommand.Run),
                "fill-mask" => Text(o, io, TextCommands.FillMask),
                "embed" => Text(o, io, TextCommands.Embed),
                "classify" => Text(o, io, TextCommands.Classify),
                "qa" => Text(o, io, TextCommands.Qa),
                "generate" => Text(o, io, TextCommands.Generate),
                "summarize" => Text(o, io, TextCommands.Summarize),
                _ => throw new UsageException("give a command"),
            };
        }
        catch (Exception e)
        {
            return Report(e, io.Stderr, command);
        }
    }

    /// <summary>
    /// The parser's message for <paramref name="error"/> in the words of the rest of the CLI, naming the option
    /// (<c>--top-k must be an integer, not 'x'</c>; <c>--model needs a value</c>; <c>unknown option --colour</c>). A message
    /// it does not know (another language's, say) is passed on as it is, on one line.
    /// </summary>
    internal static string Friendly(ParseError error)
    {
        string m = Regex.Replace(error.Message, @"\s+", " ").Trim();
        string? option = error.SymbolResult switch
        {
            OptionResult o => o.Option.Name,
            ArgumentResult { Parent: OptionResult o } => o.Option.Name,
            _ => null,
        };
        Match x;
        if ((x = Regex.Match(m, @"^Cannot parse argument '(.*)' for option '(.*)' as expected type '(.*)'\.$")).Success)
            return $"{x.Groups[2].Value} must be {(x.Groups[3].Value.Contains("Int", StringComparison.Ordinal) ? "an integer" : "a number")}, not '{x.Groups[1].Value}'";
        if ((x = Regex.Match(m, @"^Required argument missing for option: '(.*)'\.$")).Success)
            return $"{x.Groups[1].Value} needs a value";
        if ((x = Regex.Match(m, @"^Option '(.*)' expects a single argument but (\d+) were provided\.$")).Success)
            return $"{x.Groups[1].Value} given {(x.Groups[2].Value == "2" ? "twice" : x.Groups[2].Value + " times")} (it takes one value)";
        if ((x = Regex.Match(m, @"^Unrecognized command or argument '(.*)'\.$")).Success)
            return x.Groups[1].Value.StartsWith('-') ? $"unknown option {x.Groups[1].Value}" : $"unexpected argument '{x.Groups[1].Value}'";
        if ((x = Regex.Match(m, @"^Argument '(.*)' not recognized\. Must be one of: (.*)$")).Success && option is not null)
        {
            var values = Regex.Matches(x.Groups[2].Value, "'([^']*)'").Select(v => v.Groups[1].Value).ToArray();
            return $"{option} must be {string.Join(", ", values[..^1])} or {values[^1]}, not '{x.Groups[1].Value}'";
        }
        return m;
    }

    /// <summary>
    /// Prints <paramref name="error"/> as the CLI reports errors and returns the exit code: a usage error with a pointer
    /// to <c>--help</c> (2); a BigBirdSharp, I/O or argument error as one line (1); anything else as one internal-error line that asks
    /// for a report (1). An AggregateException (or a reflection wrapper) is reported as the first exception inside it.
    /// Never throws.
    /// </summary>
    internal static int Report(Exception error, TextWriter stderr, string command = "")
    {
        var e = Unwrap(error);
        try
        {
            switch (e)
            {
                case UsageException:
                    stderr.WriteLine($"bigbird: {OneLine(e.Message)}");
                    stderr.WriteLine($"Run 'bigbird {(command.Length == 0 ? "" : command + " ")}--help' for the options and their defaults.");
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


    /// <summary>Runs a text command; its output file is closed and its warnings written however it ends.</summary>
    private static int Text(Options o, CliConsole io, Func<TextCommandContext, int> command)
    {
        using var context = TextContext(o, io);
        return command(context);
    }

    private static TextCommandContext TextContext(Options o, CliConsole io) => new()
    {
        Options = o,
        Stdout = io.Stdout,
        Stderr = io.Stderr,
        Stdin = io.Stdin,
        StdinRedirected = io.StdinRedirected,
        Interactive = io.StderrIsTerminal,
        StdoutIsTerminal = io.StdoutIsTerminal,
    };

    /// <summary><c>--model</c>, or the embedded default model, which is then named on stderr (unless <c>--quiet</c>).</summary>
    internal static string ModelOrDefault(Options o, TextWriter stderr)
    {
        if (o.Get("--model") is { } model)
        {
            if (Directory.Exists(model)) CliInput.CheckModelFolder(model);
            return model;
        }
        if (!o.Flag("--quiet")) stderr.WriteLine($"model: {ModelFolder.Resolve(null, causal: false).Description}");
        return ModelFolder.DefaultDirectory;
    }

    /// <summary>Reads the run-style inputs file that <c>--input</c> names (<c>-</c>: standard input).</summary>
    /// <exception cref="BigBirdInputException">No such file, or not valid inputs (see <see cref="RunInputs"/>).</exception>
    internal static BigBirdInputs ReadRunInputs(string inputs, CliConsole io)
    {
        var (text, path) = ReadRunText(inputs, io);
        return RunInputs.Parse(text, path);
    }

    /// <summary>The text of the run-style inputs file that <c>--input</c> names, and the name its errors use.</summary>
    /// <exception cref="BigBirdInputException">No such file, or more text than any inputs file holds.</exception>
    internal static (string Text, string Path) ReadRunText(string inputs, CliConsole io)
    {
        if (inputs == "-")
        {
            var text = Utf8Text.Read(io.Stdin, "stdin", Utf8Text.MaxWholeChars, strict: false, line => io.Stderr.WriteLine($"warning: {line}"));
            if (!text.Complete) throw Utf8Text.TooLarge("stdin");
            return (text.Text, "stdin");
        }
        if (!File.Exists(inputs) && !Directory.Exists(inputs)) throw new BigBirdInputException($"{inputs}: inputs file not found.");
        return (RunInputs.ReadText(inputs), inputs);
    }

    /// <summary>The <c>--input</c> of run, trace and bench (or its old name <c>--inputs</c>).</summary>
    private static string RequiredInputs(Options o, string what) =>
        o.Input ?? throw new UsageException($"--input is required ({what}; - reads standard input)");

    /// <summary>
    /// Refuses <c>--output -</c> for binary output (safetensors) when standard output is a terminal, or when this caller's
    /// standard output takes text only.
    /// </summary>
    private static void CheckBinaryOutput(string output, CliConsole io)
    {
        if (output != "-") return;
        if (io.StdoutIsTerminal)
            throw new UsageException("--output - would write binary safetensors to the terminal; redirect standard output to a file or a pipe");
        if (io.StdoutStream is null)
            throw new UsageException("--output -: this standard output takes text only; give --output a file");
    }

    /// <summary>Writes binary output through <paramref name="write"/> to the file <paramref name="output"/>, or for
    /// <c>-</c> to a temporary file that is then copied to standard output (the writers need a seekable file).</summary>
    internal static void WriteBinaryOutput(string output, CliConsole io, Action<string> write)
    {
        if (output != "-")
        {
            write(output);
            return;
        }
        string temp = Path.Combine(Path.GetTempPath(), $"bigbird-{Guid.NewGuid():N}.safetensors");
        try
        {
            write(temp);
            io.Stdout.Flush();
            var stdout = io.StdoutStream!();
            using (var file = new FileStream(temp, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan))
                file.CopyTo(stdout);
            stdout.Flush();
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>The summary line of run and trace: on stdout, or on stderr when stdout holds the binary output; in JSON
    /// with <c>--json</c>; none with <c>--quiet</c>.</summary>
    internal static void Summary(Options o, CliConsole io, string output, string text, Dictionary<string, object?> json)
    {
        if (o.Flag("--quiet")) return;
        var writer = output == "-" ? io.Stderr : io.Stdout;
        writer.WriteLine(o.Flag("--json") ? JsonSerializer.Serialize(json) : text);
    }

    /// <summary>An output path as the summary names it: <c>stdout</c> for <c>-</c>.</summary>
    internal static string Shown(string output) => output == "-" ? "stdout" : output;

    private static int RunCommand(Options o, CliConsole io)
    {
        string inputs = RequiredInputs(o, "a JSON object of forward arguments");
        string output = o.Get("--output") ?? throw new UsageException("--output is required (a .safetensors file, or - for standard output)");
        CheckBinaryOutput(output, io);
        var forwardOptions = new BigBirdForwardOptions
        {
            AttentionType = o.Get("--attention-type") is { } at ? BigBirdConfig.ParseAttentionType(at, "--attention-type") : null,
            RandomAttention = ParseSemantics(o.Get("--random-attention") ?? "deterministic"),
            OutputHiddenStates = o.Flag("--output-hidden-states"),
            OutputAttentions = o.Flag("--output-attentions"),
        };
        int? generate = o.Value<int?>("--generate");
        if (generate is < 0) throw new UsageException("--generate must be a non-negative number of tokens");
        if (generate is null) GenerationFlags.RequireGenerate(o);
        string model = ModelOrDefault(o, io.Stderr);
        var modelOptions = LoadOptions(o, io.Stderr);
        if (!Directory.Exists(model))
            throw new BigBirdException($"{model}: no such folder; pass a Hugging Face checkpoint folder (config.json + weights).");
        if (ConfigFile.ModelTypeOf(model) is { } modelType && BigBirdConfig.SequenceToSequenceClass(modelType) is not null)
            return Seq2SeqRun.Run(o, io, model, modelType, modelOptions, forwardOptions, inputs, output, generate);
        var config = BigBirdConfig.FromFile(Path.Combine(model, "config.json"));
        string architecture = o.Get("--architecture") ?? config.Architectures.FirstOrDefault() ?? "BigBirdModel";
        if (!SupportedArchitectures.Contains(architecture))
            throw new BigBirdException(
                $"architecture '{architecture}' is not supported; supported: {string.Join(", ", SupportedArchitectures)}. " +
                "Pass --architecture to choose one, e.g. BigBirdModel for the bare encoder of any BigBird checkpoint.");
        var forwardInputs = ReadRunInputs(inputs, io);
        if (forwardInputs.NumChoices > 0 && architecture != "BigBirdForMultipleChoice")
            throw new BigBirdInputException($"{inputs}: input_ids is [batch][choices][seq], which only BigBirdForMultipleChoice takes; {architecture} takes [batch][seq].");

        string summary;
        var json = new Dictionary<string, object?>
        {
            ["architecture"] = architecture, ["batch"] = forwardInputs.BatchSize, ["length"] = forwardInputs.SequenceLength,
        };
        if (architecture == "BigBirdModel")
        {
            using var bigbird = BigBirdModel.FromPretrained(model, modelOptions);
            if (generate is not null) throw new UsageException("--generate needs a BigBirdForCausalLM checkpoint (or --architecture BigBirdForCausalLM)");
            var result = bigbird.Forward(forwardInputs, forwardOptions);
            WriteBinaryOutput(output, io, path => SafeTensorsWriter.Write(path, SafeTensorsWriter.Entries(result)));
            summary = $"attention {BigBirdConfig.AttentionTypeName(result.AttentionType)}";
            json["attention_type"] = BigBirdConfig.AttentionTypeName(result.AttentionType);
        }
        else
        {
            using var head = BigBirdPreTrainedModel.Load(model, architecture, modelOptions);
            if (generate is int n)
            {
                if (head is not BigBirdForCausalLM causal)
                    throw new UsageException($"--generate needs BigBirdForCausalLM, not {architecture}");
                var generation = GenerationFlags.Read(o, model, n);
                var sequences = causal.Generate(forwardInputs, generation, forwardOptions);
                int rows = forwardInputs.BatchSize * generation.NumReturnSequences, length = sequences.Length / rows;
                WriteBinaryOutput(output, io, path =>
                    SafeTensorsWriter.Write(path, [new SafeTensorsWriter.Entry("sequences", [rows, length], [], sequences.Select(x => (long)x).ToArray())]));
                summary = $"generated {length - forwardInputs.SequenceLength} tokens per row";
                json["generated_tokens_per_row"] = length - forwardInputs.SequenceLength;
            }
            else
            {
                var result = head.Forward(forwardInputs, forwardOptions);
                WriteBinaryOutput(output, io, path => SafeTensorsWriter.Write(path, SafeTensorsWriter.Entries(result)));
                summary = $"attention {BigBirdConfig.AttentionTypeName(result.AttentionType)}" +
                          (result.Loss is float loss ? $", loss {loss.ToString("G6", CultureInfo.InvariantCulture)}" : "");
                json["attention_type"] = BigBirdConfig.AttentionTypeName(result.AttentionType);
                if (result.Loss is float l) json["loss"] = float.IsFinite(l) ? l : null;
            }
        }
        json["output"] = output;
        Summary(o, io, output, $"{architecture}: batch {forwardInputs.BatchSize}, length {forwardInputs.SequenceLength}, {summary} → {Shown(output)}", json);
        return Ok;
    }

    private static int BenchCommand(Options o, CliConsole io)
    {
        int? seqLen = o.Value<int?>("--seq-len");
        int batch = o.Value<int>("--batch"), repeat = o.Value<int>("--repeat");
        string? input = o.Input;
        if (input is not null && (seqLen is not null || o.Given("--batch")))
            throw new UsageException("--seq-len and --batch make synthetic ids; --input gives the ids instead: pass one or the other");
        if (input is null && seqLen is null) throw new UsageException("--seq-len is required (or --input FILE of token ids)");
        if (seqLen <= 0 || batch <= 0 || repeat <= 0) throw new UsageException("--seq-len, --batch and --repeat must be positive");
        if (seqLen is int s && (long)batch * s > 1 << 24) throw new UsageException("--batch × --seq-len must be at most 16777216 tokens");
        var forwardOptions = new BigBirdForwardOptions
        {
            AttentionType = o.Get("--attention-type") is { } at ? BigBirdConfig.ParseAttentionType(at, "--attention-type") : null,
            RandomAttention = ParseSemantics(o.Get("--random-attention") ?? "deterministic"),
        };
        string model = ModelOrDefault(o, io.Stderr);
        var given = input is null ? null : ReadRunInputs(input, io);
        using var bigbird = BigBirdModel.FromPretrained(model, LoadOptions(o, io.Stderr));
        BigBirdInputs inputs;
        if (given is not null)
        {
            inputs = given;
            batch = given.BatchSize;
            seqLen = given.SequenceLength;
        }
        else
        {
            // synthetic ids: a fixed pseudo-random sequence away from the special tokens
            var ids = new int[batch * seqLen!.Value];
            uint x = 2463534242;
            for (int i = 0; i < ids.Length; i++)
            {
                x ^= x << 13; x ^= x >> 17; x ^= x << 5;
                ids[i] = (int)(x % (uint)bigbird.Config.VocabSize);
            }
            inputs = new BigBirdInputs(batch, seqLen.Value) { InputIds = ids };
        }
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
            ["seq_len"] = seqLen.Value,
            ["batch"] = batch,
            ["repeat"] = repeat,
            ["attention_type"] = BigBirdConfig.AttentionTypeName(bigbird.EffectiveAttentionType(seqLen.Value, forwardOptions.AttentionType)),
            ["random_attention"] = forwardOptions.RandomAttention == RandomAttentionSemantics.Seeded ? "seeded" : "deterministic",
            ["backend"] = bigbird.Backend.Name,
            ["simd"] = BigBirdSharp.Kernels.KernelInfo.Describe(),
            ["threads"] = bigbird.Backend is CpuBackend cpu ? cpu.Threads : BigBirdSharp.Kernels.KernelInfo.Threads,
            ["median_s"] = median,
            ["min_s"] = times[0],
            ["tokens_per_s"] = batch * seqLen.Value / median,
        };
        string output = o.Get("--output") ?? "-";
        if (output == "-") io.Stdout.WriteLine(JsonSerializer.Serialize(line));
        else File.WriteAllText(output, JsonSerializer.Serialize(line) + "\n");
        return Ok;
    }

    /// <summary>Load-time settings of run, trace and bench: weight warnings on stderr; --strict refuses non-finite weights.</summary>
    internal static BigBirdModelOptions LoadOptions(Options o, TextWriter stderr) =>
        new() { Warning = line => stderr.WriteLine($"warning: {line}"), RejectNonFiniteWeights = o.Flag("--strict"), Backend = Backend(o) };

    /// <summary>The most threads <c>--threads</c> takes.</summary>
    public const int MaxThreads = 256;

    /// <summary>
    /// The backend <c>--backend</c> and <c>--threads N</c> ask for: null for the default CPU backend, <see cref="CpuBackend.Create"/>
    /// for <c>--threads</c>, or the process's GPU backend of that kind (started once, on first use).
    /// </summary>
    /// <exception cref="UsageException">N is not in [1, <see cref="MaxThreads"/>], or --threads is given with a GPU backend.</exception>
    /// <exception cref="BigBirdSharp.Gpu.GpuDeviceUnavailableException">The device is missing; the message says what to install or pass.</exception>
    internal static IComputeBackend? Backend(Options o)
    {
        string kind = o.Get("--backend") ?? "cpu";
        int? threads = o.Value<int?>("--threads");
        if (threads is int n && (n < 1 || n > MaxThreads))
            throw new UsageException($"--threads must be between 1 and {MaxThreads}, not {n}");
        if (kind == "cpu") return threads is int t ? CpuBackend.Create(t) : null;
        if (threads is not null)
            throw new UsageException($"--threads sets the threads of the CPU backend; it does not go with --backend {kind}");
        return GpuBackends.Get(kind == "cuda" ? BigBirdSharp.Gpu.GpuDevice.Cuda : BigBirdSharp.Gpu.GpuDevice.IlgpuCpu);
    }

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

    /// <summary>The parsed command line of one command: typed option values by name, and its texts.</summary>
    internal sealed class Options(ParseResult parsed)
    {
        /// <summary>Parses <paramref name="args"/> as the options of <paramref name="command"/>.</summary>
        /// <exception cref="UsageException">The arguments do not parse.</exception>
        public static Options Parse(ReadOnlySpan<string> args, string command = "fill-mask")
        {
            var result = CliSchema.Root.Parse([command, .. args]);
            if (result.Errors.Count > 0) throw new UsageException(result.Errors[0].Message);
            var o = new Options(result);
            o.RejectOptionLikeTexts();
            return o;
        }

        /// <summary>The command's name.</summary>
        public string Command => parsed.CommandResult.Command.Name;

        /// <summary>The texts given as arguments, in order.</summary>
        public IReadOnlyList<string> Positionals =>
            parsed.CommandResult.Command.Arguments.FirstOrDefault() is Argument<string[]> texts ? parsed.GetValue(texts) ?? [] : [];

        /// <summary><c>--input</c>, or its hidden old name <c>--inputs</c>; giving both is a usage error.</summary>
        public string? Input
        {
            get
            {
                string? input = Get("--input"), inputs = Get("--inputs");
                if (input is not null && inputs is not null) throw new UsageException("--input and --inputs are the same option; give it once");
                return input ?? inputs;
            }
        }

        private Option? Find(string name) => parsed.CommandResult.Command.Options.FirstOrDefault(o => o.Name == name);

        /// <summary>True when the command has the option <paramref name="name"/> and the command line gives it.</summary>
        public bool Given(string name) => Find(name) is { } option && parsed.GetResult(option) is { Implicit: false };

        /// <summary>The value of <paramref name="name"/> (its default when not given; default(T) when the command lacks it).</summary>
        public T? Value<T>(string name) => Find(name) is null ? default : parsed.GetValue<T>(name);

        public string? Get(string name) => Value<string?>(name);
        public bool Flag(string name) => Value<bool>(name);

        /// <summary>A float option, which must be finite.</summary>
        public float Float(string name)
        {
            float x = Value<float>(name);
            return float.IsFinite(x) ? x : throw new UsageException($"{name} must be a number, not '{x.ToString(CultureInfo.InvariantCulture)}'");
        }

        /// <summary>
        /// Refuses a text argument that looks like an option (<c>-z</c>, <c>--colour</c>) unless it comes after <c>--</c>:
        /// the parser passes an unknown option through to the texts, where it would be read as a document.
        /// </summary>
        public void RejectOptionLikeTexts()
        {
            if (parsed.CommandResult.Command.Arguments.FirstOrDefault() is not { } argument || parsed.GetResult(argument) is not { } result) return;
            var tokens = parsed.Tokens;
            int doubleDash = -1;
            for (int i = 0; i < tokens.Count; i++)
                if (tokens[i].Type == TokenType.DoubleDash) { doubleDash = i; break; }
            foreach (var token in result.Tokens)
            {
                if (token.Value.Length < 2 || token.Value[0] != '-') continue;
                int at = -1;
                for (int i = 0; i < tokens.Count; i++)
                    if (ReferenceEquals(tokens[i], token)) { at = i; break; }
                if (doubleDash < 0 || at < doubleDash)
                    throw new UsageException($"unknown option {token.Value} (a text that starts with - goes after --: bigbird {Command} -- \"{token.Value}\")");
            }
        }
    }
}

/// <summary>The streams and terminals one run of the CLI works with.</summary>
internal sealed class CliConsole
{
    /// <summary>Results (text).</summary>
    public required TextWriter Stdout { get; init; }
    /// <summary>Messages, warnings and progress.</summary>
    public required TextWriter Stderr { get; init; }
    /// <summary>Standard input, as bytes.</summary>
    public required Stream Stdin { get; init; }
    /// <summary>True when standard input is a file or a pipe (read when no text is given).</summary>
    public required bool StdinRedirected { get; init; }
    /// <summary>True when stderr is a terminal: only then is there a progress bar.</summary>
    public bool StderrIsTerminal { get; init; }
    /// <summary>True when stdout is a terminal.</summary>
    public bool StdoutIsTerminal { get; init; }
    /// <summary>Standard output as bytes, for binary output (<c>--output -</c> of run and trace); null when the caller's
    /// stdout takes text only.</summary>
    public Func<Stream>? StdoutStream { get; init; }
}
