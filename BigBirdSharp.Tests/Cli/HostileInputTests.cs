using System.Diagnostics;
using System.Text;
using System.Text.Json;
using BigBirdSharp.Cli;
using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Pipelines;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Tests.Cli;

/// <summary>The CLI under hostile input: unexpected faults, NaN/Inf weights and outputs, invalid UTF-8 and lone
/// surrogates, documents far longer than the model takes, mis-typed run inputs, FIFOs and devices as input files, and a
/// tokenizer smaller than the model's vocabulary.</summary>
public sealed class HostileInputTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "bigbird-hostile-" + Guid.NewGuid().ToString("N"));

    public HostileInputTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, true);

    private static string DefaultModelSource => TextCommandTests.DefaultModelSource;

    private static (int Code, string Out, string Err) Run(string[] args, Stream? stdin = null)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = BigBirdCli.Run(args, stdout, stderr, stdin ?? Stream.Null, stdin is not null);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    private static JsonElement[] JsonLines(string stdout) =>
        Lines(stdout).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToArray();

    private static Dictionary<string, object> TinyConfig(string architecture, int positions = 128, int vocab = 8000) => new()
    {
        ["architectures"] = new[] { architecture },
        ["vocab_size"] = vocab, ["hidden_size"] = 16, ["num_hidden_layers"] = 1, ["num_attention_heads"] = 2,
        ["intermediate_size"] = 32, ["max_position_embeddings"] = positions, ["attention_type"] = "original_full", ["block_size"] = 16,
        ["num_random_blocks"] = 2, ["sep_token_id"] = 5,
    };

    private string Checkpoint(string name, Action<string, float[]>? tamper = null, int vocab = 8000, int positions = 128)
    {
        string folder = Path.Combine(_dir, name);
        RandomCheckpoint.Write(folder, DefaultModelSource, TinyConfig("BigBirdForMaskedLM", positions, vocab), withTaskHeads: true, seed: 11,
                               tamper: tamper);
        return folder;
    }

    private string File(string name, byte[] content)
    {
        string path = Path.Combine(_dir, name);
        System.IO.File.WriteAllBytes(path, content);
        return path;
    }

    private string File(string name, string content) => File(name, Encoding.UTF8.GetBytes(content));

    // ------------------------------------------------------------------------------------------------
    // exit codes: one line, never a stack trace
    // ------------------------------------------------------------------------------------------------

    private sealed class FaultyReader(Exception fault) : TextReader
    {
        public override int Read(char[] buffer, int index, int count) => throw fault;
        public override int Read() => throw fault;
        public override string ReadToEnd() => throw fault;
    }

    private static (int Code, string Out, string Err) RunWithFault(Exception fault)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = BigBirdCli.Run(["embed", "--quiet", "--model", DefaultModelSource], stdout, stderr, new FaultyReader(fault), true);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void An_unexpected_exception_is_one_internal_error_line_and_exit_1()
    {
        var (code, stdout, stderr) = RunWithFault(new FormatException("boom\nand more"));
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Equal("", stdout);
        Assert.Equal("bigbird: internal error (FormatException): boom and more Please report it with the command line.", Assert.Single(Lines(stderr)).TrimEnd('\r'));
    }

    [Fact]
    public void An_aggregate_exception_is_reported_as_the_exception_inside_it()
    {
        // a typed error inside: the normal one-line message, not an internal error
        var (code, _, stderr) = RunWithFault(new AggregateException(new BigBirdInputException("token 7 is bad")));
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Equal("bigbird: token 7 is bad", Assert.Single(Lines(stderr)).TrimEnd('\r'));

        (code, _, stderr) = RunWithFault(new AggregateException(new AggregateException(new KeyNotFoundException("no such key"))));
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.StartsWith("bigbird: internal error (KeyNotFoundException): no such key", Assert.Single(Lines(stderr)));
    }

    private sealed class BrokenWriter : TextWriter
    {
        public override Encoding Encoding => Encoding.UTF8;
        public override void Write(char value) => throw new IOException("broken pipe");
        public override void Write(string? value) => throw new IOException("broken pipe");
        public override void WriteLine(string? value) => throw new IOException("broken pipe");
    }

    [Fact]
    public void A_failing_stderr_still_gives_an_exit_code()
    {
        Assert.Equal(BigBirdCli.Failed, BigBirdCli.Run(["embed", "--model", Path.Combine(_dir, "missing"), "x"], new StringWriter(), new BrokenWriter()));
        Assert.Equal(BigBirdCli.Failed, BigBirdCli.Report(new InvalidCastException("x"), new BrokenWriter()));
    }

    [Fact]
    public void The_loading_thread_hands_back_the_typed_exception_itself()
    {
        var stderr = new StringWriter();
        var context = new TextCommandContext
        {
            Options = BigBirdCli.Options.Parse([]), Stdout = new StringWriter(), Stderr = stderr, Stdin = Stream.Null,
            StdinRedirected = false, Interactive = true,
        };
        // a typed exception from the loader thread reaches the caller as itself (LoadHead catches TensorMismatchException)
        var e = Assert.Throws<TensorMismatchException>(() => context.Load<int>("BigBirdForMaskedLM", () => throw new TensorMismatchException("cls.x", "missing")));
        Assert.Equal("cls.x", e.TensorName);
        Assert.EndsWith("failed", stderr.ToString().TrimEnd());
    }

    [Fact]
    public async Task The_bigbird_process_reads_stdin_as_bytes_and_reports_one_line()
    {
        // the real entry point (Program.cs): stdin reaches the CLI as bytes, so --strict sees invalid UTF-8
        string exe = Path.Combine(AppContext.BaseDirectory, "bigbird.dll");
        var start = new ProcessStartInfo("dotnet", [exe, "embed", "--strict", "--quiet", "--model", DefaultModelSource])
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        using var process = Process.Start(start)!;
        await process.StandardInput.BaseStream.WriteAsync(new byte[] { (byte)'a', (byte)' ', 0xFF, (byte)'\n' });
        process.StandardInput.Close();
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.Equal(BigBirdCli.Failed, process.ExitCode);
        Assert.Equal("", stdout);
        Assert.Equal("bigbird: stdin: line 1 (byte offset 2): invalid UTF-8 (byte 0xFF); the input must be UTF-8 text. Fix its encoding, " +
                     "or drop --strict to read each invalid sequence as U+FFFD with a warning.", Assert.Single(Lines(await stderr)).TrimEnd('\r'));
    }

    // ------------------------------------------------------------------------------------------------
    // NaN and Inf: in the weights, and in the outputs
    // ------------------------------------------------------------------------------------------------

    private static void PoisonEmbeddingNorm(string name, float[] data)
    {
        if (name != "bert.embeddings.LayerNorm.bias") return;
        data[3] = float.NaN;
        data[5] = float.PositiveInfinity;
    }

    [Fact]
    public void NaN_weights_warn_at_load_and_json_output_holds_null()
    {
        string folder = Checkpoint("nan", PoisonEmbeddingNorm);
        var (code, stdout, stderr) = Run(["embed", "--json", "--quiet", "--model", folder, "And God saw the light"]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        Assert.Contains($"warning: {Path.Combine(folder, "model.safetensors")}: tensor 'bert.embeddings.LayerNorm.bias' [16] holds 2 non-finite values (NaN or ±Inf) of 16", stderr);
        Assert.Contains("argument 1: the embedding's values hold 16 non-finite values (NaN or ±Inf), written as null", stderr);
        var embedding = Assert.Single(JsonLines(stdout)).GetProperty("embedding").EnumerateArray().ToArray();
        Assert.Equal(16, embedding.Length);
        Assert.All(embedding, x => Assert.Equal(JsonValueKind.Null, x.ValueKind));

        // the .json output file too
        string output = Path.Combine(_dir, "e.json");
        (code, _, stderr) = Run(["embed", "--quiet", "--model", folder, "--output", output, "light"]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        using var written = JsonDocument.Parse(System.IO.File.ReadAllText(output));
        Assert.All(written.RootElement.GetProperty("embeddings")[0].EnumerateArray(), x => Assert.Equal(JsonValueKind.Null, x.ValueKind));

        // scores of the heads: null in JSON, nan in text
        (code, stdout, stderr) = Run(["classify", "--json", "--quiet", "--model", folder, "light"]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        Assert.Equal(JsonValueKind.Null, Assert.Single(JsonLines(stdout)).GetProperty("score").ValueKind);
        Assert.Contains("the label scores hold 2 non-finite values", stderr);
        (code, stdout, stderr) = Run(["fill-mask", "--quiet", "--model", folder, "the [MASK] of God"]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        Assert.Contains(" 1. nan ", stdout);
        Assert.Contains("the scores hold 5 non-finite values (NaN or ±Inf), shown as nan", stderr);
        (code, stdout, stderr) = Run(["qa", "--json", "--quiet", "--model", folder, "--question", "who", "God said let there be light"]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        Assert.Equal(JsonValueKind.Null, Assert.Single(JsonLines(stdout)).GetProperty("answers")[0].GetProperty("score").ValueKind);
        Assert.Contains("argument 1: the answer scores hold 1 non-finite value (NaN or ±Inf), written as null", stderr);
    }

    [Fact]
    public void Strict_refuses_non_finite_weights_naming_the_file_and_tensor()
    {
        string folder = Checkpoint("nan", PoisonEmbeddingNorm);
        foreach (var command in new[] { "embed", "fill-mask", "classify" })
        {
            var (code, stdout, stderr) = Run([command, "--strict", "--quiet", "--model", folder, "the [MASK] of God"]);
            Assert.Equal(BigBirdCli.Failed, code);
            Assert.Equal("", stdout);
            Assert.Contains($"bigbird: {Path.Combine(folder, "model.safetensors")}: tensor 'bert.embeddings.LayerNorm.bias' [16] holds 2 non-finite values " +
                            "(NaN or ±Inf) of 16, the first at flat index 3; refused because non-finite weights are rejected (--strict).", stderr);
        }
        string inputs = File("in.json", """{"input_ids": [[1, 2, 3]]}""");
        var (runCode, _, runErr) = Run(["run", "--strict", "--model", folder, "--inputs", inputs, "--output", Path.Combine(_dir, "o.safetensors")]);
        Assert.Equal(BigBirdCli.Failed, runCode);
        Assert.Contains("tensor 'bert.embeddings.LayerNorm.bias' [16] holds 2 non-finite values", runErr);
    }

    [Fact]
    public void The_library_reports_each_non_finite_tensor_once_through_the_options()
    {
        string folder = Checkpoint("nan", (name, data) =>
        {
            PoisonEmbeddingNorm(name, data);
            if (name == "cls.predictions.bias") data[0] = float.NegativeInfinity; // a head tensor
        });
        var warnings = new List<string>();
        using (BigBirdPreTrainedModel.Load(folder, "BigBirdForMaskedLM", new BigBirdModelOptions { Warning = warnings.Add }))
        {
            Assert.Equal(2, warnings.Count);
            Assert.Single(warnings, w => w.Contains("'bert.embeddings.LayerNorm.bias' [16] holds 2 non-finite values"));
            Assert.Single(warnings, w => w.Contains("'cls.predictions.bias' [8000] holds 1 non-finite value (NaN or ±Inf) of 8000, the first at flat index 0"));
        }
        warnings.Clear();
        using (BigBirdModel.FromPretrained(folder, new BigBirdModelOptions { Warning = warnings.Add }))
            Assert.Contains("'bert.embeddings.LayerNorm.bias'", Assert.Single(warnings));

        var e = Assert.Throws<CheckpointFormatException>(() => BigBirdModel.FromPretrained(folder, new BigBirdModelOptions { RejectNonFiniteWeights = true }));
        Assert.Equal(Path.Combine(folder, "model.safetensors"), e.FilePath);
        e = Assert.Throws<CheckpointFormatException>(() =>
            BigBirdPreTrainedModel.Load(folder, "BigBirdForMaskedLM", new BigBirdModelOptions { RejectNonFiniteWeights = true }));
        Assert.Contains("'bert.embeddings.LayerNorm.bias'", e.Message); // the encoder's tensors are checked under a head too

        // a clean checkpoint loads without a word
        warnings.Clear();
        using (BigBirdPreTrainedModel.Load(Checkpoint("clean"), "BigBirdForMaskedLM", new BigBirdModelOptions { Warning = warnings.Add, RejectNonFiniteWeights = false }))
            Assert.Empty(warnings);
    }

    // ------------------------------------------------------------------------------------------------
    // invalid UTF-8 and lone surrogates
    // ------------------------------------------------------------------------------------------------

    [Fact]
    public void Invalid_utf8_in_a_file_or_stdin_is_replaced_with_a_counted_warning()
    {
        string file = File("bad.txt", [.. "light "u8, 0xFF, .. " and\ndark "u8, 0xC3]);
        var (code, stdout, stderr) = Run(["embed", "--json", "--quiet", "--model", DefaultModelSource, "--input", file]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        Assert.Contains($"warning: {file}: 2 invalid UTF-8 sequences read as U+FFFD (the first at line 1, byte offset 6)", stderr);
        Assert.Equal("light \uFFFD and\ndark \uFFFD", Assert.Single(JsonLines(stdout)).GetProperty("text").GetString());

        (code, stdout, stderr) = Run(["embed", "--json", "--quiet", "--model", DefaultModelSource], new MemoryStream([.. "light "u8, 0xC0, 0xAF]));
        Assert.True(code == BigBirdCli.Ok, stderr);
        Assert.Contains("warning: stdin: 2 invalid UTF-8 sequences read as U+FFFD (the first at line 1, byte offset 6)", stderr);
    }

    [Fact]
    public void Strict_refuses_invalid_utf8_naming_the_line_and_byte_offset()
    {
        string file = File("bad.txt", [.. "light and\ndark "u8, 0xE2, 0x28, .. " x"u8]);
        var (code, _, stderr) = Run(["embed", "--strict", "--quiet", "--model", DefaultModelSource, "--input", file]);
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains($"bigbird: {file}: line 2 (byte offset 15): invalid UTF-8 (byte 0xE2)", stderr);
        (code, _, stderr) = Run(["fill-mask", "--strict", "--quiet", "--model", DefaultModelSource, "--input", "-"], new MemoryStream([.. "[MASK]\n\n"u8, 0x80]));
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains("bigbird: stdin: line 3 (byte offset 8): invalid UTF-8 (byte 0x80)", stderr);
    }

    [Fact]
    public void Lone_surrogate_escapes_in_jsonl_are_replaced_with_a_warning_or_refused_under_strict()
    {
        string line1 = """{"text": "light \ud800 dark"}""", line2 = """{"id": 2, "text": "a \udc00\ud800 b \ud83d\ude00"}""";
        string jsonl = File("s.jsonl", line1 + "\n" + line2 + "\n");
        var (code, stdout, stderr) = Run(["embed", "--json", "--quiet", "--model", DefaultModelSource, "--input", jsonl]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        Assert.Equal(["light \uFFFD dark", "a \uFFFD\uFFFD b \U0001F600"], JsonLines(stdout).Select(l => l.GetProperty("text").GetString()));
        Assert.Contains($"{jsonl}:1: \"text\" holds 1 lone surrogate escape (the first, \\ud800, at byte offset {line1.IndexOf('\\')} in the line)", stderr);
        Assert.Contains($"{jsonl}:2: \"text\" holds 2 lone surrogate escapes (the first, \\udc00, at byte offset {line2.IndexOf("\\u", StringComparison.Ordinal)} in the line)", stderr);

        // in a batch each refused document is an error record, and the others still run
        (code, stdout, stderr) = Run(["embed", "--strict", "--quiet", "--model", DefaultModelSource, "--input", jsonl]);
        Assert.Equal(BigBirdCli.SomeDocumentsFailed, code);
        Assert.Contains($"error: {jsonl}:1: byte offset {line1.IndexOf('\\')} in the line: \"text\" holds the lone surrogate escape \\ud800", stdout);
        Assert.Contains($"error: {jsonl}:2 (id 2): byte offset", stdout);

        // the question of qa, and a key
        string qa = File("qa.jsonl", """{"question": "who \udfff?", "context": "God said let there be light"}""" + "\n");
        (code, stdout, stderr) = Run(["qa", "--strict", "--quiet", "--json", "--model", DefaultModelSource, "--input", qa]);
        Assert.Equal(BigBirdCli.SomeDocumentsFailed, code);
        var record = Assert.Single(JsonLines(stdout));
        Assert.Equal(JsonValueKind.Null, record.GetProperty("id").ValueKind);
        Assert.Equal($"{qa}:1", record.GetProperty("source").GetString());
        Assert.Contains("\"question\" holds the lone surrogate escape \\udfff", record.GetProperty("error").GetString());
        string key = File("k.jsonl", """{"te\ud800xt": "light"}""" + "\n");
        (code, stdout, stderr) = Run(["embed", "--quiet", "--model", DefaultModelSource, "--input", key]);
        Assert.Equal(BigBirdCli.SomeDocumentsFailed, code);
        Assert.Contains($"error: {key}:1: a key holds a lone surrogate escape", stdout);
        Assert.DoesNotContain("internal error", stderr);
    }

    [Fact]
    public void Tokenize_reads_lone_surrogates_and_invalid_utf8_as_replacement_characters()
    {
        byte[] bytes = [.. """{"text": "light \ud800"}"""u8, .. "\n"u8, .. """{"text": "dark """u8, 0xFF, .. "\"}\n"u8];
        string input = File("t.jsonl", bytes);
        string output = Path.Combine(_dir, "t.out.jsonl");
        var (code, stdout, stderr) = Run(["tokenize", "--model", DefaultModelSource, "--input", input, "--output", output]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        Assert.Contains("tokenized 2 documents", stderr);
        Assert.Contains($"{input}: 1 invalid UTF-8 sequence read as U+FFFD (the first at line 2, byte offset {Array.IndexOf(bytes, (byte)0xFF)})", stderr);
        Assert.Contains($"{input}:1: \"text\" holds 1 lone surrogate escape", stderr);
        (code, _, stderr) = Run(["tokenize", "--strict", "--model", DefaultModelSource, "--input", input, "--output", output]);
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains("invalid UTF-8 (byte 0xFF)", stderr);
    }

    [Theory]
    [InlineData("\"plain\"", "plain", 0)]
    [InlineData("\"a\\n\\\"b\\\\\"", "a\n\"b\\", 0)]
    [InlineData("\"\\ud83d\\ude00\"", "\U0001F600", 0)]
    [InlineData("\"x\\ud83d\"", "x\uFFFD", 1)]
    [InlineData("\"\\ude00\\ud83d\"", "\uFFFD\uFFFD", 2)]
    [InlineData("\"\\ud83dz\"", "\uFFFDz", 1)]
    public void Json_strings_with_lone_surrogates_decode_with_replacements(string raw, string expected, int replaced)
    {
        var (text, count, _) = JsonText.Unescape(raw);
        Assert.Equal(expected, text);
        Assert.Equal(replaced, count);
    }

    // ------------------------------------------------------------------------------------------------
    // documents longer than the model can take are read and tokenized only that far
    // ------------------------------------------------------------------------------------------------

    /// <summary>An endless stream of text that fails when read past <see cref="Limit"/> bytes.</summary>
    private sealed class EndlessText(long limit) : Stream
    {
        private static readonly byte[] Word = "light "u8.ToArray();
        public long Limit => limit;
        public long BytesRead { get; private set; }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => BytesRead; set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (BytesRead + count > limit) throw new InvalidOperationException($"read past {limit} bytes");
            for (int i = 0; i < count; i++) buffer[offset + i] = Word[(BytesRead + i) % Word.Length];
            BytesRead += count;
            return count;
        }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Fact]
    public void Endless_stdin_is_read_only_as_far_as_the_model_can_take()
    {
        string folder = Checkpoint("short", positions: 128); // 128 positions: 131072 characters
        var stdin = new EndlessText(1 << 20);
        var (code, stdout, stderr) = Run(["embed", "--json", "--quiet", "--model", folder], stdin);
        Assert.True(code == BigBirdCli.Ok, stderr);
        Assert.InRange(stdin.BytesRead, 131072, 131072 + (1 << 16) + 131072);
        Assert.Contains("warning: stdin: read the first 131072 characters (131072 bytes), more than the model's max_position_embeddings (128 tokens) can take; " +
                        "the rest was not read", stderr);
        var line = Assert.Single(JsonLines(stdout));
        Assert.True(line.GetProperty("truncated").GetBoolean());
        Assert.Equal(128, line.GetProperty("tokens").GetInt32());
    }

    [Fact]
    public void A_long_file_is_read_only_as_far_as_the_model_can_take_and_the_warning_says_how_much_was_dropped()
    {
        string folder = Checkpoint("short", positions: 128);
        string text = string.Concat(Enumerable.Repeat("And God saw the light, that it was good. ", 50_000)); // about 2 MB
        string file = File("long.txt", text);
        var (code, stdout, stderr) = Run(["fill-mask", "--json", "--quiet", "--model", folder, "--input", file, "--top-k", "1"]);
        Assert.Equal(BigBirdCli.Failed, code); // the kept part has no [MASK]: it got that far, having read 131072 characters
        Assert.Contains($"warning: {file}: read the first 131072 characters (131072 bytes), more than the model's max_position_embeddings (128 tokens) can take; " +
                        $"the remaining {text.Length - 131072} bytes were dropped unread.", stderr);
        (code, _, stderr) = Run(["embed", "--quiet", "--no-truncate", "--model", folder, "--input", file]);
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains($"bigbird: {file} is longer than 131072 characters, more than the model's max_position_embeddings (128 tokens) can take", stderr);
    }

    [Fact]
    public void An_input_read_whole_past_its_bound_is_a_typed_error_and_under_it_is_read()
    {
        string content = string.Concat(Enumerable.Repeat("{\"text\": \"light\"}\n", 10)); // 180 characters
        string file = File("batch.jsonl", content);
        var e = Assert.Throws<BigBirdInputException>(() => CliInput.ReadAllText(file, "--input", strict: false, _ => { }, maxChars: 100));
        Assert.Contains($"{file} holds more than 100 characters", e.Message);
        Assert.Equal(content, CliInput.ReadAllText(file, "--input", strict: false, _ => { }, maxChars: 200));
        Assert.True(BigBirdSharp.Cli.Utf8Text.MaxWholeChars <= Array.MaxLength / 2, "the bound keeps a whole input within one .NET string");
    }

    [Fact]
    public void A_run_inputs_file_past_the_bound_is_refused_before_it_is_read()
    {
        string path = File("inputs.json", "{}");
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write)) stream.SetLength(3 * BigBirdSharp.Cli.Utf8Text.MaxWholeChars + 1); // sparse
        var e = Assert.Throws<BigBirdInputException>(() => RunInputs.Read(path));
        Assert.Contains($"{path} holds more than", e.Message);
    }

    [Fact]
    public void PipelineEncoding_reads_further_when_the_first_characters_give_too_few_tokens()
    {
        // runs of spaces collapse: 8,192 characters of this give far fewer than 128 tokens, so the prefix must grow
        var tokenizer = BigBirdTokenizer.FromPretrained(DefaultModelSource);
        var config = BigBirdConfig.FromJson(JsonSerializer.Serialize(TinyConfig("BigBirdForMaskedLM", 128)));
        string text = string.Concat(Enumerable.Repeat("light" + new string(' ', 300), 1_000)); // 305,000 characters
        Assert.True(tokenizer.Encode(text[..(128 * PipelineEncoding.FirstCharactersPerToken)]).Length < 128);
        var input = PipelineEncoding.Encode(tokenizer, config, text, null, OverlongInput.Truncate, "the text");
        var hf = tokenizer.Encode(text, null, new TokenizerEncodeOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = 128 });
        Assert.Equal(hf.InputIds, input.Encoding.InputIds);
        Assert.True(input.Truncated);
        Assert.InRange(input.DroppedCharacters, 1, text.Length - 128L * PipelineEncoding.FirstCharactersPerToken - 1);
        // never beyond MaxCharactersPerToken per position, whatever the text
        string spaces = "x" + new string(' ', 128 * PipelineEncoding.MaxCharactersPerToken + 1000) + "y";
        var capped = PipelineEncoding.Encode(tokenizer, config, spaces, null, OverlongInput.Truncate, "the text");
        Assert.Equal(spaces.Length - 128L * PipelineEncoding.MaxCharactersPerToken, capped.DroppedCharacters);
        var refused = Assert.Throws<BigBirdInputException>(() => PipelineEncoding.Encode(tokenizer, config, spaces, null, OverlongInput.Reject, "the text"));
        Assert.Contains($"at most {128L * PipelineEncoding.MaxCharactersPerToken} characters of a text are tokenized", refused.Message);
    }

    [Fact]
    public void PipelineEncoding_tokenizes_only_what_the_model_can_take_and_gets_the_same_tokens()
    {
        var tokenizer = BigBirdTokenizer.FromPretrained(DefaultModelSource);
        var config = BigBirdConfig.FromJson(JsonSerializer.Serialize(TinyConfig("BigBirdForMaskedLM", 128)));
        string text = string.Concat(Enumerable.Repeat("And God saw the light, that it was good. ", 1_000)); // 41,000 characters
        var input = PipelineEncoding.Encode(tokenizer, config, text, null, OverlongInput.Truncate, "the text");
        Assert.Equal(text.Length - 128 * PipelineEncoding.FirstCharactersPerToken, input.DroppedCharacters);
        Assert.True(input.Truncated);
        var hf = tokenizer.Encode(text, null, new TokenizerEncodeOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = 128 });
        Assert.Equal(hf.InputIds, input.Encoding.InputIds);
        Assert.Contains("characters, more than the model's max_position_embeddings (128 tokens) can take",
                        Assert.Throws<BigBirdInputException>(() => PipelineEncoding.Encode(tokenizer, config, text, null, OverlongInput.Reject, "the text")).Message);
        // a text under the limit is tokenized whole
        var whole = PipelineEncoding.Encode(tokenizer, config, text[..8000], null, OverlongInput.Truncate, "the text");
        Assert.Equal(0, whole.DroppedCharacters);
        Assert.True(whole.OriginalLength > 128);
    }

    // ------------------------------------------------------------------------------------------------
    // run: the element at fault
    // ------------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("""{"input_ids": [[1, 2, 3, 4], [1, 2, 1.5, 4]]}""", "input_ids[1][2] is 1.5, which is not a 32-bit integer")]
    [InlineData("""{"input_ids": [[1, 2], [3, 4e0]]}""", "input_ids[1][1] is 4e0, which is not a 32-bit integer")]
    [InlineData("""{"input_ids": [[1, 2], [3, 3000000000]]}""", "input_ids[1][1] is 3000000000, which is not a 32-bit integer")]
    [InlineData("""{"input_ids": [[1, 2], [3, "x"]]}""", "input_ids[1][1] is '\"x\"', which is not a finite number")]
    [InlineData("""{"input_ids": [[1, 2]], "attention_mask": [[1, 0.0]]}""", "attention_mask[0][1] is 0.0")]
    [InlineData("""{"input_ids": [[1, 2]], "start_positions": [1.5]}""", "start_positions[0] is 1.5")]
    [InlineData("""{"\ud800": 1}""", "a key holds a lone surrogate escape")]
    public void Run_names_the_element_at_fault(string json, string fragment)
    {
        var (code, _, stderr) = Run(["run", "--model", Path.Combine(RepoPaths.Models, "bs_h32_a4_l2_b4_r2"), "--inputs", File("in.json", json),
                                     "--output", Path.Combine(_dir, "o.safetensors")]);
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains(fragment, stderr);
        Assert.DoesNotContain("internal error", stderr);
    }

    // ------------------------------------------------------------------------------------------------
    // input paths must be regular files
    // ------------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("/dev/null")]
    [InlineData("/dev/zero")]
    [InlineData("link-to-zero")]
    public void Devices_are_refused_as_input_files(string path)
    {
        if (!OperatingSystem.IsLinux()) return;
        if (path == "link-to-zero")
        {
            path = Path.Combine(_dir, path);
            System.IO.File.CreateSymbolicLink(path, "/dev/zero");
        }
        foreach (var args in new[]
                 {
                     new[] { "embed", "--quiet", "--model", DefaultModelSource, "--input", path },
                     ["run", "--model", DefaultModelSource, "--inputs", path, "--output", Path.Combine(_dir, "o.safetensors")],
                     ["tokenize", "--model", DefaultModelSource, "--input", path, "--output", Path.Combine(_dir, "o.jsonl")],
                     ["trace", "--model", DefaultModelSource, "--inputs", File("in.json", """{"input_ids": [[1, 2]]}"""),
                      "--output", Path.Combine(_dir, "t.safetensors"), "--compare", path],
                 })
        {
            var (code, _, stderr) = Run(args);
            Assert.Equal(BigBirdCli.Failed, code);
            Assert.Contains($"{path} is empty or is not a regular file", stderr);
        }
    }

    [Fact]
    public async Task A_fifo_as_input_is_refused_without_blocking()
    {
        if (!OperatingSystem.IsLinux()) return;
        string fifo = Path.Combine(_dir, "fifo");
        using (var mkfifo = Process.Start(new ProcessStartInfo("mkfifo", [fifo]) { UseShellExecute = false })!)
            await mkfifo.WaitForExitAsync();
        var run = Task.Run(() => Run(["embed", "--quiet", "--model", DefaultModelSource, "--input", fifo]));
        if (await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(60))) != run)
        {
            // it blocked in open(): give it a writer so the thread ends, then fail
            using (var writer = new FileStream(fifo, FileMode.Open, FileAccess.Write)) writer.Write("x"u8);
            await run;
            Assert.Fail("reading a FIFO blocked");
        }
        var (code, _, stderr) = await run;
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains($"bigbird: {fifo} is empty or is not a regular file (a FIFO, socket or device is refused rather than read); --input takes a regular file", stderr);
    }

    private string CopyOfDefaultModel(string name)
    {
        string folder = Path.Combine(_dir, name);
        Directory.CreateDirectory(folder);
        foreach (var f in Directory.GetFiles(DefaultModelSource)) System.IO.File.Copy(f, Path.Combine(folder, Path.GetFileName(f)));
        return folder;
    }

    [Theory]
    [InlineData("config.json")]
    [InlineData("spiece.model")]
    [InlineData("special_tokens_map.json")]
    public void A_device_in_the_model_folder_is_refused_by_every_command(string file)
    {
        if (!OperatingSystem.IsLinux()) return;
        string folder = CopyOfDefaultModel("devices");
        string path = Path.Combine(folder, file);
        System.IO.File.Delete(path);
        System.IO.File.CreateSymbolicLink(path, "/dev/zero");
        foreach (var args in new[]
                 {
                     new[] { "embed", "--quiet", "--model", folder, "light" },
                     ["run", "--model", folder, "--inputs", File("in.json", """{"input_ids": [[1, 2]]}"""), "--output", Path.Combine(_dir, "o.safetensors")],
                     ["tokenize", "--model", folder, "--input", File("t.jsonl", """{"text": "light"}"""), "--output", Path.Combine(_dir, "o.jsonl")],
                 })
        {
            var (code, _, stderr) = Run(args);
            Assert.Equal(BigBirdCli.Failed, code);
            Assert.Contains($"bigbird: {path} is empty or is not a regular file", stderr);
        }
    }

    [Fact]
    public async Task A_fifo_as_a_tokenizer_file_is_refused_without_blocking()
    {
        if (!OperatingSystem.IsLinux()) return;
        string folder = CopyOfDefaultModel("fifo-tokenizer");
        string spiece = Path.Combine(folder, "spiece.model");
        System.IO.File.Delete(spiece);
        using (var mkfifo = Process.Start(new ProcessStartInfo("mkfifo", [spiece]) { UseShellExecute = false })!)
            await mkfifo.WaitForExitAsync();
        var load = Task.Run(() => Record.Exception(() => BigBirdTokenizer.FromPretrained(folder)));
        if (await Task.WhenAny(load, Task.Delay(TimeSpan.FromSeconds(60))) != load)
        {
            using (var writer = new FileStream(spiece, FileMode.Open, FileAccess.Write)) writer.Write("x"u8);
            await load;
            Assert.Fail("reading a FIFO blocked");
        }
        var e = Assert.IsType<TokenizerFormatException>(await load);
        Assert.Equal(spiece, e.FilePath);
        Assert.Contains("not a regular file (a FIFO, socket or device", e.Message);
    }

    // ------------------------------------------------------------------------------------------------
    // a tokenizer smaller than the model's vocabulary
    // ------------------------------------------------------------------------------------------------

    [Fact]
    public void A_predicted_id_beyond_the_tokenizer_is_a_typed_error_naming_the_file_and_bounds()
    {
        // 8100 ids in the model, 8000 in spiece.model; the LM head's bias makes id 8050 the best candidate
        string folder = Checkpoint("widevocab", (name, data) => { if (name == "cls.predictions.bias") data[8050] = 100f; }, vocab: 8100);
        var (code, stdout, stderr) = Run(["fill-mask", "--quiet", "--model", folder, "the [MASK] of God"]);
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Equal("", stdout);
        string spiece = Path.Combine(folder, "spiece.model");
        Assert.Contains($"warning: {spiece} has 8000 token ids but config.json's vocab_size is 8100: ids 8000–8099 cannot be decoded", stderr);
        Assert.Contains($"bigbird: {spiece}: token id 8050 is out of range: the tokenizer has 8000 ids [0, 8000).", stderr);
        Assert.DoesNotContain("internal error", stderr);

        var tokenizer = BigBirdTokenizer.FromPretrained(folder);
        Assert.Contains($"{spiece}: token id -1 is out of range", Assert.Throws<BigBirdInputException>(() => tokenizer.Decode([5, -1])).Message);
        Assert.Contains($"{spiece}: token id 8000 is out of range",
                        Assert.Throws<BigBirdInputException>(() => tokenizer.SentencePiece.IdToPiece(8000)).Message);
    }
}
