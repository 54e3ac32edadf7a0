using ILGPU.Runtime.Cuda;
using System.Reflection;
using System.Text;
using System.Text.Json;
using BigBirdSharp.Cli;
using BigBirdSharp.IO;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Tests.Cli;

/// <summary>
/// The command line as a new user meets it: help and version, shared options with the same names on every command,
/// options never read as text, usage errors that are short, batches in every form with a bad document in the middle,
/// grouped warnings and the progress bar, standard input and output on every command, and tokenize's fields.
/// </summary>
public sealed class CommandLineTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "bigbird-cmdline-" + Guid.NewGuid().ToString("N"));
    private static readonly string TinyModel = Path.Combine(RepoPaths.Models, "bs_h32_a4_l2_b4_r2");

    public CommandLineTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, true);

    private static readonly string[] AllCommands = ["fill-mask", "embed", "classify", "qa", "generate", "tokenize", "run", "trace", "bench"];
    private static readonly string[] ModelCommands = ["fill-mask", "embed", "classify", "qa", "generate", "run", "trace", "bench"];

    public static TheoryData<string> Commands() => [.. AllCommands];

    private sealed record Result(int Code, string Out, string Err, byte[] Binary);

    /// <summary>Runs the CLI with <paramref name="stdin"/> (null: none) and a binary standard output, as a shell would with
    /// both outputs redirected (or with stderr on a terminal when <paramref name="stderrIsTerminal"/>).</summary>
    private static Result Cli(string[] args, string? stdin = null, bool stderrIsTerminal = false, bool stdoutIsTerminal = false,
                              byte[]? stdinBytes = null)
    {
        var binary = new MemoryStream();
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = BigBirdCli.Run(args, new CliConsole
        {
            Stdout = stdout,
            Stderr = stderr,
            Stdin = stdinBytes is not null ? new MemoryStream(stdinBytes) : new MemoryStream(Encoding.UTF8.GetBytes(stdin ?? "")),
            StdinRedirected = stdin is not null || stdinBytes is not null,
            StderrIsTerminal = stderrIsTerminal,
            StdoutIsTerminal = stdoutIsTerminal,
            StdoutStream = () => binary,
        });
        return new Result(code, stdout.ToString(), stderr.ToString(), binary.ToArray());
    }

    private static JsonElement[] JsonLines(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToArray();

    private string File(string name, string content)
    {
        string path = Path.Combine(_dir, name);
        System.IO.File.WriteAllText(path, content);
        return path;
    }

    // ------------------------------------------------------------------------------------------------
    // help and version
    // ------------------------------------------------------------------------------------------------

    [Theory]
    [MemberData(nameof(Commands))]
    public void Every_command_has_help_with_its_defaults_and_the_exit_codes(string command)
    {
        var r = Cli([command, "--help"]);
        Assert.True(r.Code == BigBirdCli.Ok, r.Err);
        Assert.Equal("", r.Err);
        Assert.Contains($"bigbird {command}", r.Out);
        Assert.Contains("-i, --input <FILE>", r.Out);
        Assert.Contains("-o, --output <FILE>", r.Out);
        Assert.Contains("-q, --quiet", r.Out);
        Assert.Contains("--model <DIR>", r.Out);
        Assert.Contains("[default: the embedded default model]", r.Out);
        Assert.DoesNotContain("--inputs", r.Out); // the old name is accepted, not shown
        Assert.Contains("Exit codes: 0 success; 1 a model, checkpoint or input problem", r.Out);
        Assert.Contains("4 some documents of a batch failed", r.Out);
        // -h and `bigbird help COMMAND` print the same
        Assert.Equal(r.Out, Cli([command, "-h"]).Out);
        Assert.Equal(r.Out, Cli(["help", command]).Out);
    }

    [Fact]
    public void Help_shows_each_default_value()
    {
        Assert.Contains("--top-k <K>", Cli(["fill-mask", "--help"]).Out);
        Assert.Matches(@"--top-k <K>\s+How many candidates to show for each \[MASK\]\. \[default: 5\]", Cli(["fill-mask", "--help"]).Out);
        string qa = Cli(["qa", "--help"]).Out;
        Assert.Contains("[default: 15]", qa);
        Assert.Contains("[default: 128]", qa);
        string generate = Cli(["generate", "--help"]).Out;
        Assert.Matches(@"--max-new-tokens <N>\s+How many tokens to generate\. \[default: 40\]", generate);
        Assert.Matches(@"--random-attention <deterministic\|seeded>.*\[default: deterministic\]", generate);
        Assert.Matches(@"--pooling <mean\|pooler\|cls>.*\[default: mean\]", Cli(["embed", "--help"]).Out);
        Assert.Matches(@"--repeat <R>\s+Timed passes\. \[default: 5\]", Cli(["bench", "--help"]).Out);
        Assert.Matches(@"--atol <A>.*\[default: 0[.,]0001\]", Cli(["trace", "--help"]).Out);
    }

    [Fact]
    public void Version_prints_the_assemblys_informational_version()
    {
        var r = Cli(["--version"]);
        Assert.True(r.Code == BigBirdCli.Ok, r.Err);
        string expected = typeof(BigBirdCli).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;
        Assert.Equal(expected, r.Out.Trim());
        Assert.Matches(@"^\d+\.\d+\.\d+", r.Out);
    }

    [Fact]
    public void Root_help_lists_every_command()
    {
        var r = Cli(["--help"]);
        Assert.Equal(BigBirdCli.Ok, r.Code);
        foreach (var command in AllCommands) Assert.Matches($@"(?m)^\s+{command}\s", r.Out);
        Assert.Equal(r.Out, Cli(["help"]).Out);
    }

    // ------------------------------------------------------------------------------------------------
    // shared options
    // ------------------------------------------------------------------------------------------------

    [Theory]
    [MemberData(nameof(Commands))]
    public void Shared_options_have_the_same_names_on_every_command(string command)
    {
        string help = Cli([command, "--help"]).Out;
        foreach (var option in new[] { "-i, --input <FILE>", "-o, --output <FILE>", "-q, --quiet", "--json", "--model <DIR>", "--strict" })
            Assert.Contains(option, help);
        if (ModelCommands.Contains(command))
            foreach (var option in new[] { "--attention-type <original_full|block_sparse>", "--random-attention <deterministic|seeded>", "--threads <N>",
                                           "--backend <cpu|cuda|ilgpu-cpu>" })
                Assert.Contains(option, help);
        if (command is not ("run" or "trace" or "bench"))
            foreach (var option in new[] { "--text <TEXT>", "--jsonl", "--lines", "--fail-fast" })
                Assert.Contains(option, help);
    }

    [Fact]
    public void Run_and_trace_take_input_with_its_short_name_and_the_old_inputs_name()
    {
        string inputs = File("in.json", """{"input_ids": [[65, 5, 6, 7, 66]]}""");
        foreach (var name in new[] { "--input", "-i", "--inputs" })
        {
            string output = Path.Combine(_dir, $"run{name}.safetensors");
            var r = Cli(["run", "--model", TinyModel, name, inputs, "-o", output]);
            Assert.True(r.Code == BigBirdCli.Ok, r.Err);
            Assert.True(System.IO.File.Exists(output));
            output = Path.Combine(_dir, $"trace{name}.safetensors");
            r = Cli(["trace", "--model", TinyModel, name, inputs, "-o", output]);
            Assert.True(r.Code == BigBirdCli.Ok, r.Err);
            Assert.True(System.IO.File.Exists(output));
        }
        var both = Cli(["run", "--model", TinyModel, "--input", inputs, "--inputs", inputs, "-o", Path.Combine(_dir, "x.safetensors")]);
        Assert.Equal(BigBirdCli.Usage, both.Code);
        Assert.Contains("--input and --inputs are the same option", both.Err);
    }

    [Fact]
    public void Quiet_and_json_work_on_run_and_trace()
    {
        string inputs = File("in.json", """{"input_ids": [[65, 5, 6, 7, 66]]}""");
        string output = Path.Combine(_dir, "o.safetensors");
        var r = Cli(["run", "--model", TinyModel, "-i", inputs, "-o", output, "--json"]);
        Assert.True(r.Code == BigBirdCli.Ok, r.Err);
        var line = Assert.Single(JsonLines(r.Out));
        Assert.Equal("BigBirdModel", line.GetProperty("architecture").GetString());
        Assert.Equal(5, line.GetProperty("length").GetInt32());
        Assert.Equal(output, line.GetProperty("output").GetString());

        r = Cli(["run", "-q", "-i", inputs, "-o", output]); // the default model, quietly: no model line, no summary
        Assert.True(r.Code == BigBirdCli.Ok, r.Err);
        Assert.Equal("", r.Out);
        Assert.Equal("", r.Err);

        r = Cli(["trace", "--model", TinyModel, "-i", inputs, "-o", output, "--json", "--compare", output]);
        Assert.True(r.Code == BigBirdCli.Ok, r.Err);
        var lines = JsonLines(r.Out);
        Assert.Equal(output, lines[0].GetProperty("output").GetString());
        Assert.All(lines[1..^1], l => Assert.Equal("ok", l.GetProperty("status").GetString()));
        Assert.True(lines[^1].GetProperty("match").GetBoolean());
    }

    [Fact]
    public void Threads_runs_the_model_on_a_backend_with_its_own_pool_and_the_same_results()
    {
        var r = Cli(["bench", "--model", TinyModel, "--seq-len", "16", "--repeat", "1", "--threads", "1"]);
        Assert.True(r.Code == BigBirdCli.Ok, r.Err);
        using (var doc = JsonDocument.Parse(r.Out))
        {
            Assert.Equal(1, doc.RootElement.GetProperty("threads").GetInt32());
            Assert.Equal("cpu", doc.RootElement.GetProperty("backend").GetString());
        }
        r = Cli(["bench", "--model", TinyModel, "--seq-len", "16", "--repeat", "1", "--threads", "3"]);
        using (var doc = JsonDocument.Parse(r.Out))
            Assert.Equal(3, doc.RootElement.GetProperty("threads").GetInt32());

        var shared = Cli(["fill-mask", "--json", "-q", "And the children of [MASK] went out of the land."]);
        var own = Cli(["fill-mask", "--json", "-q", "--threads", "2", "And the children of [MASK] went out of the land."]);
        Assert.True(own.Code == BigBirdCli.Ok, own.Err);
        Assert.Equal(shared.Out, own.Out);

        string inputs = File("in.json", """{"input_ids": [[65, 5, 6, 7, 66]]}""");
        var run = Cli(["run", "--model", TinyModel, "-i", inputs, "-o", "-", "--threads", "2"]);
        Assert.True(run.Code == BigBirdCli.Ok, run.Err);
        Assert.Equal(Cli(["run", "--model", TinyModel, "-i", inputs, "-o", "-"]).Binary, run.Binary);
    }

    [Fact]
    public void Backend_ilgpu_cpu_runs_the_GPU_kernels_and_matches_the_cpu_backend()
    {
        string inputs = File("in.json", """{"input_ids": [[65, 5, 6, 7, 66, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]]}""");
        var gpu = Cli(["run", "--model", TinyModel, "-i", inputs, "-o", File("gpu.safetensors", ""), "--backend", "ilgpu-cpu"]);
        Assert.True(gpu.Code == BigBirdCli.Ok, gpu.Err);
        var cpu = Cli(["run", "--model", TinyModel, "-i", inputs, "-o", File("cpu.safetensors", ""), "--backend", "cpu"]);
        Assert.True(cpu.Code == BigBirdCli.Ok, cpu.Err);
        var expected = SafeTensorsFile(Path.Combine(_dir, "cpu.safetensors"));
        var actual = SafeTensorsFile(Path.Combine(_dir, "gpu.safetensors"));
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, values) in expected)
        {
            Assert.Equal(values.Length, actual[name].Length);
            for (int i = 0; i < values.Length; i++)
                Assert.True(Math.Abs(actual[name][i] - values[i]) <= 1e-4 + 1e-4 * Math.Abs(values[i]),
                            $"{name}[{i}]: ilgpu-cpu {actual[name][i]}, cpu {values[i]}");
        }
        var bench = Cli(["bench", "--model", TinyModel, "--seq-len", "16", "--repeat", "1", "--backend", "ilgpu-cpu"]);
        Assert.True(bench.Code == BigBirdCli.Ok, bench.Err);
        using var doc = JsonDocument.Parse(bench.Out);
        Assert.Equal("ilgpu-cpu", doc.RootElement.GetProperty("backend").GetString());
    }

    [Fact]
    public void Backend_cuda_without_a_device_says_what_to_install_or_pass()
    {
        using (var context = ILGPU.Context.Create(builder => builder.Cuda()))
            if (context.GetCudaDevices().Count > 0) return; // a machine with a GPU runs the CUDA path in the GPU tests instead
        string inputs = File("in.json", """{"input_ids": [[65, 5, 6, 7, 66]]}""");
        var r = Cli(["run", "--model", TinyModel, "-i", inputs, "-o", File("o.safetensors", ""), "--backend", "cuda"]);
        Assert.Equal(1, r.Code);
        Assert.Contains("no CUDA device", r.Err);
        Assert.Contains("--backend ilgpu-cpu", r.Err);
        Assert.DoesNotContain("internal error", r.Err);
    }

    private static Dictionary<string, float[]> SafeTensorsFile(string path)
    {
        using var reader = new BigBirdSharp.IO.SafeTensorsReader(path);
        return reader.Names.ToDictionary(n => n, n => reader.ReadFloat32Copy(n));
    }

    // ------------------------------------------------------------------------------------------------
    // options are never text
    // ------------------------------------------------------------------------------------------------

    [Fact]
    public void A_short_option_is_an_option_not_a_text()
    {
        const string text = "And the LORD spake unto Moses, saying, Speak unto the children of Israel.";
        var quiet = Cli(["classify", "-q", text]);
        Assert.True(quiet.Code == BigBirdCli.Ok, quiet.Err);
        Assert.Equal("", quiet.Err); // -q was --quiet
        Assert.StartsWith("Law (", quiet.Out);
        Assert.Single(quiet.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => !l.StartsWith("  ", StringComparison.Ordinal));

        // after -- a text may start with -
        var dashed = Cli(["classify", "-q", "--json", "--", "-q"]);
        Assert.True(dashed.Code == BigBirdCli.Ok, dashed.Err);
        Assert.Equal("-q", Assert.Single(JsonLines(dashed.Out)).GetProperty("text").GetString());
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void An_unknown_option_is_a_usage_error_never_a_text(string command)
    {
        var r = Cli([command, "-z", "light"]);
        Assert.Equal(BigBirdCli.Usage, r.Code);
        Assert.Contains("unknown option -z", r.Err);
        Assert.Equal("", r.Out);
        r = Cli([command, "--colour", "red"]);
        Assert.Equal(BigBirdCli.Usage, r.Code);
        Assert.Contains("unknown option --colour", r.Err);
    }

    // ------------------------------------------------------------------------------------------------
    // usage errors: a short message and a pointer to --help
    // ------------------------------------------------------------------------------------------------

    public static TheoryData<string[], string> UsageErrors() => new()
    {
        { ["frobnicate"], "unknown command 'frobnicate'; the commands are fill-mask, embed" },
        { ["fill-mask", "--top-k"], "--top-k needs a value" },
        { ["fill-mask", "--top-k", "x", "a [MASK]"], "--top-k must be an integer, not 'x'" },
        { ["fill-mask", "--top-k", "0", "a [MASK]"], "--top-k must be positive" },
        { ["fill-mask", "--model", "a", "--model", "b", "a [MASK]"], "--model given twice" },
        { ["fill-mask", "--random-attention", "often", "x"], "--random-attention must be deterministic or seeded, not 'often'" },
        { ["classify", "--attention-type", "sparse", "x"], "--attention-type must be original_full or block_sparse, not 'sparse'" },
        { ["embed", "--pooling", "max", "x"], "--pooling must be mean, pooler or cls, not 'max'" },
        { ["qa", "the context"], "needs --question" },
        { ["generate", "x", "--temperature", "0.5"], "go with --do-sample" },
        { ["generate", "x", "--repetition-penalty", "1e40"], "--repetition-penalty must be a number" },
        { ["fill-mask"], "give the text as an argument" },
        { ["fill-mask", "x", "--jsonl"], "--jsonl goes with --input" },
        { ["fill-mask", "-i", "f.txt", "--jsonl", "--lines"], "--lines and --jsonl are two batch formats" },
        { ["tokenize"], "give the text as an argument" },
        { ["run", "-o", "o.safetensors"], "--input is required" },
        { ["run", "-i", "i.json"], "--output is required" },
        { ["run", "-i", "i.json", "-o", "o", "--seed", "3"], "--seed goes with --generate N" },
        { ["run", "-i", "i.json", "-o", "o", "stray"], "unexpected argument 'stray'" },
        { ["trace", "-i", "i.json"], "--output is required" },
        { ["trace", "-i", "i.json", "-o", "o", "--atol", "-1"], "--atol and --rtol must be non-negative" },
        { ["bench"], "--seq-len is required (or --input FILE of token ids)" },
        { ["bench", "--seq-len", "0"], "must be positive" },
        { ["bench", "--seq-len", "8", "-i", "i.json"], "--input gives the ids instead" },
        { ["bench", "--seq-len", "2000000000", "--batch", "2000"], "at most 16777216 tokens" },
        { ["fill-mask", "--threads", "0", "x"], "--threads must be between 1 and 256, not 0" },
        { ["run", "-i", "i.json", "-o", "o", "--threads", "many"], "--threads must be an integer, not 'many'" },
        { ["fill-mask", "--backend", "tpu", "x"], "--backend must be cpu, cuda or ilgpu-cpu, not 'tpu'" },
        { ["run", "-i", "i.json", "-o", "o", "--backend", "ilgpu-cpu", "--threads", "2"], "it does not go with --backend ilgpu-cpu" },
    };

    [Theory]
    [MemberData(nameof(UsageErrors))]
    public void A_usage_error_is_two_lines_the_message_and_where_help_is(string[] args, string message)
    {
        var r = Cli(args);
        Assert.Equal(BigBirdCli.Usage, r.Code);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("bigbird: ", lines[0]);
        Assert.Contains(message, lines[0]);
        string command = args[0] == "frobnicate" ? "" : args[0] + " ";
        Assert.Equal($"Run 'bigbird {command}--help' for the options and their defaults.", lines[1]);
        Assert.Equal("", r.Out);
    }

    [Fact]
    public void Binary_output_to_a_terminal_or_a_text_only_stdout_is_refused()
    {
        string inputs = File("in.json", """{"input_ids": [[65, 5, 6]]}""");
        var r = Cli(["run", "--model", TinyModel, "-i", inputs, "-o", "-"], stdoutIsTerminal: true);
        Assert.Equal(BigBirdCli.Usage, r.Code);
        Assert.Contains("would write binary safetensors to the terminal", r.Err);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        Assert.Equal(BigBirdCli.Usage, BigBirdCli.Run(["trace", "--model", TinyModel, "-i", inputs, "-o", "-"], stdout, stderr));
        Assert.Contains("this standard output takes text only", stderr.ToString());
    }

    // ------------------------------------------------------------------------------------------------
    // batches
    // ------------------------------------------------------------------------------------------------

    private const string Good1 = "And God [MASK] the light.", Good2 = "the [MASK] of Israel", Bad = "no mask at all";

    private static void AssertBatchWithABadMiddle(Result r, string badSource, string? badId)
    {
        Assert.True(r.Code == BigBirdCli.SomeDocumentsFailed, r.Err);
        var lines = JsonLines(r.Out);
        Assert.Equal(3, lines.Length); // the document after the bad one still ran
        Assert.Equal(Good1, lines[0].GetProperty("text").GetString());
        Assert.Equal(badSource, lines[1].GetProperty("source").GetString());
        Assert.Contains("has no [MASK]", lines[1].GetProperty("error").GetString());
        if (badId is null) Assert.Equal(JsonValueKind.Null, lines[1].GetProperty("id").ValueKind);
        else Assert.Equal(badId, lines[1].GetProperty("id").GetRawText());
        Assert.Equal(Good2, lines[2].GetProperty("text").GetString());
        Assert.Contains("2 documents", r.Err);
        Assert.Contains("1 failed (error records in the output)", r.Err);
    }

    [Theory]
    [InlineData(".jsonl")]
    [InlineData(".ndjson")]
    public void A_jsonl_or_ndjson_file_is_a_batch_and_a_bad_document_does_not_stop_it(string extension)
    {
        string path = File("b" + extension, string.Join("\n", new[] { Good1, Bad, Good2 }.Select((t, i) => JsonSerializer.Serialize(new { id = i, text = t }))));
        var r = Cli(["fill-mask", "--json", "-i", path]);
        AssertBatchWithABadMiddle(r, $"{path}:2 (id 1)", "1");
        Assert.Equal(0, JsonLines(r.Out)[0].GetProperty("id").GetInt32());
    }

    [Fact]
    public void A_json_array_file_or_json_on_stdin_is_a_batch()
    {
        string array = JsonSerializer.Serialize(new object[] { new { text = Good1 }, new { id = "m", text = Bad }, Good2 });
        AssertBatchWithABadMiddle(Cli(["fill-mask", "--json", "-i", File("b.json", array)]), $"{Path.Combine(_dir, "b.json")}[1] (id \"m\")", "\"m\"");
        AssertBatchWithABadMiddle(Cli(["fill-mask", "--json", "--jsonl"], stdin: array), "stdin[1] (id \"m\")", "\"m\"");
        AssertBatchWithABadMiddle(Cli(["fill-mask", "--json", "--jsonl", "-i", "-"], stdin: array), "stdin[1] (id \"m\")", "\"m\"");
        string jsonl = string.Join("\n", new[] { Good1, Bad, Good2 }.Select(t => JsonSerializer.Serialize(new { text = t })));
        AssertBatchWithABadMiddle(Cli(["fill-mask", "--json", "--jsonl"], stdin: jsonl), "stdin:2", null);
    }

    [Fact]
    public void A_pretty_printed_json_object_is_one_document()
    {
        string path = File("one.json", "{\n  \"id\": \"x\",\n  \"text\": \"And God [MASK] the light.\"\n}\n");
        var r = Cli(["fill-mask", "--json", "-q", "-i", path]);
        Assert.True(r.Code == BigBirdCli.Ok, r.Err);
        var line = Assert.Single(JsonLines(r.Out));
        Assert.Equal("x", line.GetProperty("id").GetString());
        Assert.Equal(Good1, line.GetProperty("text").GetString());
    }

    [Fact]
    public void Lines_from_a_file_or_stdin_are_a_batch()
    {
        string lines = $"{Good1}\n\n{Bad}\r\n{Good2}\n";
        AssertBatchWithABadMiddle(Cli(["fill-mask", "--json", "--lines"], stdin: lines), "stdin:3", null);
        AssertBatchWithABadMiddle(Cli(["fill-mask", "--json", "--lines", "-i", "-"], stdin: lines), "stdin:3", null);
        string path = File("b.txt", lines);
        AssertBatchWithABadMiddle(Cli(["fill-mask", "--json", "--lines", "-i", path]), $"{path}:3", null);
        // without --lines the same file is one document
        var one = Cli(["fill-mask", "--json", "-q", "-i", path]);
        Assert.True(one.Code == BigBirdCli.Ok, one.Err);
        Assert.Equal(lines, Assert.Single(JsonLines(one.Out)).GetProperty("text").GetString());
    }

    [Fact]
    public void Readable_output_shows_the_error_record_in_its_place()
    {
        var r = Cli(["fill-mask", "-q", "--lines"], stdin: $"{Good1}\n{Bad}\n{Good2}\n");
        Assert.Equal(BigBirdCli.SomeDocumentsFailed, r.Code);
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(Good1, lines[0]);
        Assert.Equal(13, lines.Length); // 2 × (text + 5 candidates) + the error record
        Assert.StartsWith("error: stdin:2: ", lines[6]);
        Assert.Contains("has no [MASK]", lines[6]);
        Assert.Equal(Good2, lines[7]);
    }

    [Fact]
    public void Several_arguments_are_a_batch_too()
    {
        var r = Cli(["fill-mask", "--json", "-q", Good1, Bad, Good2]);
        Assert.Equal(BigBirdCli.SomeDocumentsFailed, r.Code);
        Assert.Equal("argument 2", JsonLines(r.Out)[1].GetProperty("source").GetString());
        // one document alone that fails is an error, not a record
        r = Cli(["fill-mask", "--json", "-q", Bad]);
        Assert.Equal(BigBirdCli.Failed, r.Code);
        Assert.Equal("", r.Out);
        Assert.Contains("bigbird: ", r.Err);
        Assert.Contains("has no [MASK]", r.Err);
    }

    [Fact]
    public void Fail_fast_stops_at_the_first_failure()
    {
        var r = Cli(["fill-mask", "--json", "--lines", "--fail-fast"], stdin: $"{Good1}\n{Bad}\n{Good2}\n{Good1}\n");
        Assert.Equal(BigBirdCli.SomeDocumentsFailed, r.Code);
        var lines = JsonLines(r.Out);
        Assert.Equal(2, lines.Length);
        Assert.Equal("stdin:2", lines[1].GetProperty("source").GetString());
        Assert.Contains("stopped at the first failure (--fail-fast): 2 of 4 documents not run", r.Err);
    }

    [Fact]
    public void A_batch_can_write_to_an_output_file()
    {
        string output = Path.Combine(_dir, "out.jsonl");
        var r = Cli(["fill-mask", "--json", "-q", "--lines", "-o", output], stdin: $"{Good1}\n{Bad}\n{Good2}\n");
        Assert.Equal(BigBirdCli.SomeDocumentsFailed, r.Code);
        Assert.Equal("", r.Out);
        Assert.Equal(3, JsonLines(System.IO.File.ReadAllText(output)).Length);
        // - is stdout, never a file named -
        r = Cli(["fill-mask", "--json", "-q", "-o", "-", Good1]);
        Assert.True(r.Code == BigBirdCli.Ok, r.Err);
        Assert.Single(JsonLines(r.Out));
        Assert.False(System.IO.File.Exists("-"));
    }

    [Fact]
    public void Embed_matrix_output_skips_failed_documents_and_names_them_on_stderr()
    {
        string output = Path.Combine(_dir, "e.json");
        var r = Cli(["embed", "-q", "-o", output, "--jsonl"], stdin: "{\"text\": \"light\"}\n{\"text\": \"\"}\n{\"text\": \"dark\"}\n");
        Assert.Equal(BigBirdCli.SomeDocumentsFailed, r.Code);
        Assert.Contains("error: stdin:2: the text is empty", r.Err);
        using var doc = JsonDocument.Parse(System.IO.File.ReadAllText(output));
        Assert.Equal(["stdin:1", "stdin:3"], doc.RootElement.GetProperty("sources").EnumerateArray().Select(s => s.GetString()));
        Assert.Equal(2, doc.RootElement.GetProperty("embeddings").GetArrayLength());
    }

    // ------------------------------------------------------------------------------------------------
    // warnings and the progress bar
    // ------------------------------------------------------------------------------------------------

    private static readonly string Long = string.Concat(Enumerable.Repeat("and the children of Israel went out of the land of Egypt; ", 60)) + "[MASK]";

    [Fact]
    public void The_same_warning_for_several_documents_prints_once_with_a_count()
    {
        string early = "the [MASK] of " + Long;
        var r = Cli(["fill-mask", "--json", "-q", early, early, early]);
        Assert.True(r.Code == BigBirdCli.Ok, r.Err);
        var warnings = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("warning:", StringComparison.Ordinal)).ToArray();
        var warning = Assert.Single(warnings);
        Assert.StartsWith("warning: documents truncated to 512 tokens (the model's max_position_embeddings is 512)", warning);
        Assert.Contains("×3 (argument 1, argument 2, argument 3)", warning);
        // one document: the warning as it was, naming the document and its length
        r = Cli(["fill-mask", "--json", "-q", early]);
        Assert.Matches(@"warning: argument 1: \d+ tokens, truncated to 512", r.Err);
    }

    [Fact]
    public void The_progress_bar_is_drawn_on_a_terminal_and_warnings_come_after_it()
    {
        string early = "the [MASK] of " + Long;
        var r = Cli(["fill-mask", "--json", "--lines"], stdin: $"{early}\n{Good1}\n{early}\n", stderrIsTerminal: true);
        Assert.True(r.Code == BigBirdCli.Ok, r.Err);
        Assert.Contains("/3 documents", r.Err); // Spectre.Console's task description
        Assert.Contains("\u001b[", r.Err);     // drawn with ANSI sequences
        int lastBar = r.Err.LastIndexOf("/3 documents", StringComparison.Ordinal);
        int warning = r.Err.IndexOf("warning: documents truncated", StringComparison.Ordinal);
        Assert.True(warning > lastBar, r.Err);
        Assert.Contains("×2 (stdin:1, stdin:3)", r.Err);
        Assert.Equal(3, JsonLines(r.Out).Length);
    }

    [Fact]
    public void There_is_no_progress_bar_off_a_terminal_when_quiet_or_when_stdout_shows_the_results()
    {
        string batch = $"{Good1}\n{Good2}\n";
        foreach (var r in new[]
                 {
                     Cli(["fill-mask", "--lines"], stdin: batch),
                     Cli(["fill-mask", "--lines", "-q"], stdin: batch, stderrIsTerminal: true),
                     Cli(["fill-mask", "--lines"], stdin: batch, stderrIsTerminal: true, stdoutIsTerminal: true),
                 })
        {
            Assert.True(r.Code == BigBirdCli.Ok, r.Err);
            Assert.DoesNotContain("/2 documents", r.Err);
            Assert.DoesNotContain("\u001b[", r.Err);
        }
    }

    // ------------------------------------------------------------------------------------------------
    // stdin and stdout
    // ------------------------------------------------------------------------------------------------

    private static string[] TensorNames(byte[] safetensors, string dir)
    {
        string path = Path.Combine(dir, Guid.NewGuid().ToString("N") + ".safetensors");
        System.IO.File.WriteAllBytes(path, safetensors);
        using var reader = CheckpointLoader.Open(path);
        return [.. reader.Names.Order(StringComparer.Ordinal)];
    }

    [Fact]
    public void Run_reads_stdin_and_writes_safetensors_to_stdout()
    {
        var r = Cli(["run", "--model", TinyModel, "-i", "-", "-o", "-"], stdin: """{"input_ids": [[65, 5, 6, 7, 66]]}""");
        Assert.True(r.Code == BigBirdCli.Ok, r.Err);
        Assert.Equal(["last_hidden_state", "pooler_output"], TensorNames(r.Binary, _dir));
        Assert.Equal("", r.Out);                                  // stdout held only the binary output
        Assert.Contains("BigBirdModel: batch 1, length 5, attention original_full → stdout", r.Err); // and the summary went to stderr
        Assert.False(System.IO.File.Exists("-"));

        // the same bytes as a file output
        string file = Path.Combine(_dir, "run.safetensors");
        Assert.Equal(BigBirdCli.Ok, Cli(["run", "--model", TinyModel, "-i", "-", "-o", file], stdin: """{"input_ids": [[65, 5, 6, 7, 66]]}""").Code);
        Assert.Equal(System.IO.File.ReadAllBytes(file), r.Binary);
    }

    [Fact]
    public void Trace_reads_stdin_and_writes_to_stdout_with_the_comparison_on_stderr()
    {
        string inputs = """{"input_ids": [[65, 5, 6, 7, 66]]}""";
        string reference = Path.Combine(_dir, "ref.safetensors");
        Assert.Equal(BigBirdCli.Ok, Cli(["trace", "--model", TinyModel, "-i", "-", "-o", reference], stdin: inputs).Code);
        var r = Cli(["trace", "--model", TinyModel, "-i", "-", "-o", "-", "--compare", reference], stdin: inputs);
        Assert.True(r.Code == BigBirdCli.Ok, r.Err);
        Assert.Contains("encoder.layer.1.output", TensorNames(r.Binary, _dir));
        Assert.Contains("tensors match within", r.Err);
        Assert.Equal("", r.Out);
    }

    [Fact]
    public void Bench_takes_an_input_file_of_ids_and_an_output_file()
    {
        string inputs = File("in.json", """{"input_ids": [[65, 5, 6, 7, 66], [65, 8, 9, 10, 66]]}""");
        string output = Path.Combine(_dir, "bench.json");
        var r = Cli(["bench", "--model", TinyModel, "-i", inputs, "--repeat", "1", "-o", output]);
        Assert.True(r.Code == BigBirdCli.Ok, r.Err);
        Assert.Equal("", r.Out);
        using var doc = JsonDocument.Parse(System.IO.File.ReadAllText(output));
        Assert.Equal(2, doc.RootElement.GetProperty("batch").GetInt32());
        Assert.Equal(5, doc.RootElement.GetProperty("seq_len").GetInt32());
    }

    [Theory]
    [InlineData("fill-mask", "the [MASK] of the LORD")]
    [InlineData("embed", "light")]
    [InlineData("classify", "And Moses spake")]
    [InlineData("generate", "The LORD is my")]
    [InlineData("tokenize", "In the beginning")]
    public void Text_commands_read_stdin_three_ways(string command, string text)
    {
        string[] extra = command == "generate" ? ["--max-new-tokens", "2"] : [];
        var piped = Cli([command, "-q", .. extra], stdin: text);
        var dash = Cli([command, "-q", "-i", "-", .. extra], stdin: text);
        var argument = Cli([command, "-q", text, .. extra]);
        Assert.True(piped.Code == BigBirdCli.Ok, piped.Err);
        Assert.Equal(argument.Out.Replace("argument 1", "stdin"), piped.Out);
        Assert.Equal(piped.Out, dash.Out);
    }

    // ------------------------------------------------------------------------------------------------
    // tokenize
    // ------------------------------------------------------------------------------------------------

    [Fact]
    public void Tokenize_prints_tokens_and_offsets_next_to_the_ids()
    {
        const string text = "In the beginning God created the heaven";
        var r = Cli(["tokenize", "-q", text]);
        Assert.True(r.Code == BigBirdCli.Ok, r.Err);
        var line = Assert.Single(JsonLines(r.Out));
        var tokenizer = BigBirdTokenizer.FromPretrained(TextCommandTests.DefaultModelSource);
        var expected = tokenizer.Encode(text);
        Assert.Equal(expected.InputIds, line.GetProperty("input_ids").EnumerateArray().Select(x => x.GetInt32()));
        var tokens = line.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!).ToArray();
        Assert.Equal(tokenizer.ConvertIdsToTokens(expected.InputIds), tokens);
        Assert.Equal("[CLS]", tokens[0]);
        Assert.Equal("[SEP]", tokens[^1]);
        var offsets = line.GetProperty("offsets").EnumerateArray().Select(o => (o[0].GetInt32(), o[1].GetInt32())).ToArray();
        Assert.Equal(tokens.Length, offsets.Length);
        Assert.Equal((0, 0), offsets[0]);
        Assert.Equal((0, 0), offsets[^1]);
        // every piece of the text spans the characters it came from
        for (int i = 1; i < tokens.Length - 1; i++)
            Assert.Equal(tokens[i].TrimStart('\u2581'), text[offsets[i].Item1..offsets[i].Item2].Trim());
        Assert.Equal(text.Length, offsets[^2].Item2);
    }

    [Fact]
    public void Tokenize_takes_ids_pairs_and_batches_and_keeps_each_id()
    {
        var r = Cli(["tokenize", "-q", "--jsonl"],
                    stdin: "{\"id\": \"a\", \"text\": \"light\", \"text_pair\": \"dark\"}\n{\"id\": 2, \"text\": 7}\n{\"text\": \"\"}\n");
        Assert.Equal(BigBirdCli.SomeDocumentsFailed, r.Code);
        var lines = JsonLines(r.Out);
        Assert.Equal("a", lines[0].GetProperty("id").GetString());
        Assert.Contains(1, lines[0].GetProperty("token_type_ids").EnumerateArray().Select(x => x.GetInt32()));
        Assert.Equal(2, lines[1].GetProperty("id").GetInt32());
        Assert.Equal("\"text\" must be a string.", lines[1].GetProperty("error").GetString());
        // HF tokenizes an empty text as [CLS] [SEP]
        Assert.Equal(["[CLS]", "[SEP]"], lines[2].GetProperty("tokens").EnumerateArray().Select(t => t.GetString()));
        // --json is accepted and changes nothing: tokenize always writes JSON
        Assert.Equal(Cli(["tokenize", "-q", "light"]).Out, Cli(["tokenize", "-q", "--json", "light"]).Out);
        Assert.Contains("tokenized 1 document → stdout", Cli(["tokenize", "x"]).Err);
    }

    // ------------------------------------------------------------------------------------------------
    // the default model
    // ------------------------------------------------------------------------------------------------

    [Fact]
    public void The_readmes_first_command_prints_what_the_readme_shows()
    {
        var r = Cli(["fill-mask", "And the children of [MASK] went out of the land."]);
        Assert.True(r.Code == BigBirdCli.Ok, r.Err);
        Assert.Equal(
            """
            And the children of [MASK] went out of the land.
               1. 0.1380  Israel         And the children of Israel went out of the land.
               2. 0.0482  Judah          And the children of Judah went out of the land.
               3. 0.0208  Jerusalem      And the children of Jerusalem went out of the land.
               4. 0.0197  Moses          And the children of Moses went out of the land.
               5. 0.0145  Manasseh       And the children of Manasseh went out of the land.
            """, r.Out.TrimEnd('\n').Replace("\r\n", "\n"));
        Assert.StartsWith("model: embedded default model (masked LM with classification and QA heads", r.Err);
        Assert.Contains("loading BigBirdForMaskedLM … ", r.Err);
        Assert.Matches(@"1 document, 13 tokens in [\d.]+ s", r.Err);
    }
}
