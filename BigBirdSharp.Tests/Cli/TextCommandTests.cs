using System.Text.Json;
using BigBirdSharp.Cli;
using BigBirdSharp.IO;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Pipelines;
using BigBirdSharp.Serialization;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Tests.Cli;

/// <summary>The text commands (fill-mask, embed, classify, qa, generate) on the embedded default model and on
/// checkpoint folders: PyTorch parity where the reference produced outputs, the inputs they read, and every error.</summary>
public sealed class TextCommandTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "bigbird-text-" + Guid.NewGuid().ToString("N"));

    public TextCommandTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, true);

    internal static string DefaultModelSource => Path.Combine(RepoPaths.Fixtures, "default_model", "model");
    internal static string DefaultFixture(string name) => Path.Combine(RepoPaths.Fixtures, "default_model", name);

    internal static (int Code, string Out, string Err) Run(string[] args, string? stdin = null)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = BigBirdCli.Run(args, stdout, stderr, new StringReader(stdin ?? ""), stdin is not null);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static JsonElement[] JsonLines(string stdout) =>
        stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToArray();

    // ------------------------------------------------------------------------------------------------
    // fill-mask
    // ------------------------------------------------------------------------------------------------

    public static TheoryData<int> FillMaskSentences()
    {
        var data = new TheoryData<int>();
        using var doc = JsonDocument.Parse(File.ReadAllText(DefaultFixture("fillmask_sentences.json")));
        for (int i = 0; i < doc.RootElement.GetProperty("sentences").GetArrayLength(); i++) data.Add(i);
        return data;
    }

    [Theory]
    [MemberData(nameof(FillMaskSentences))]
    public void FillMask_on_the_default_model_matches_pytorch(int index)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(DefaultFixture("fillmask_sentences.json")));
        var sentence = doc.RootElement.GetProperty("sentences")[index];
        var (code, stdout, stderr) = Run(["fill-mask", "--json", "--quiet", sentence.GetProperty("text").GetString()!]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        Assert.Equal("", stderr);
        var line = Assert.Single(JsonLines(stdout));
        Assert.Equal(sentence.GetProperty("input_ids").GetArrayLength(), line.GetProperty("tokens").GetInt32());
        var candidates = Assert.Single(line.GetProperty("masks").EnumerateArray()).GetProperty("candidates").EnumerateArray().ToArray();
        var expected = sentence.GetProperty("top5").EnumerateArray().ToArray();
        Assert.Equal(expected.Length, candidates.Length);
        for (int k = 0; k < expected.Length; k++)
        {
            Assert.True(Tolerance.Close(candidates[k].GetProperty("score").GetSingle(), expected[k].GetProperty("score").GetSingle()),
                        $"rank {k}: {candidates[k]} vs {expected[k]}");
            // ids must agree unless two PyTorch scores tie within tolerance
            if (candidates[k].GetProperty("token").GetInt32() != expected[k].GetProperty("token_id").GetInt32())
                Assert.Contains(expected, e => e.GetProperty("token_id").GetInt32() == candidates[k].GetProperty("token").GetInt32() &&
                                               Tolerance.Close(e.GetProperty("score").GetSingle(), expected[k].GetProperty("score").GetSingle()));
        }
    }

    [Fact]
    public void FillMask_reads_positional_text_option_file_jsonl_and_stdin()
    {
        string file = Path.Combine(_dir, "one.txt"), jsonl = Path.Combine(_dir, "batch.jsonl");
        File.WriteAllText(file, "The LORD is my [MASK].");
        File.WriteAllText(jsonl, "{\"text\": \"And God [MASK] the light.\"}\n\n{\"id\": 7, \"text\": \"the [MASK] of Israel\"}\n");
        var (code, stdout, stderr) = Run(["fill-mask", "--json", "--quiet", "a [MASK] b", "--text", "c [MASK] d", "--input", file]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        Assert.Equal(["a [MASK] b", "c [MASK] d", "The LORD is my [MASK]."], JsonLines(stdout).Select(l => l.GetProperty("text").GetString()));

        (code, stdout, stderr) = Run(["fill-mask", "--json", "--quiet", "--input", jsonl]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        Assert.Equal(["And God [MASK] the light.", "the [MASK] of Israel"], JsonLines(stdout).Select(l => l.GetProperty("text").GetString()));

        (code, stdout, stderr) = Run(["fill-mask", "--json", "--quiet"], stdin: "the [MASK] of the LORD\n");
        Assert.True(code == BigBirdCli.Ok, stderr);
        Assert.Equal("the [MASK] of the LORD\n", Assert.Single(JsonLines(stdout)).GetProperty("text").GetString());

        (code, stdout, stderr) = Run(["fill-mask", "--json", "--quiet", "--input", "-", "--jsonl"], stdin: "{\"text\": \"x [MASK]\"}\n{\"text\": \"[MASK] y\"}");
        Assert.True(code == BigBirdCli.Ok, stderr);
        Assert.Equal(2, JsonLines(stdout).Length);
    }

    [Fact]
    public void FillMask_readable_output_names_the_model_and_reports_tokens_per_second()
    {
        var (code, stdout, stderr) = Run(["fill-mask", "In the beginning God created the [MASK] and the earth.", "--top-k", "3"]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        Assert.Contains("embedded default model", stderr);
        Assert.Contains("King James Bible", stderr);
        Assert.Matches(@"1 document, \d+ tokens in [\d.]+ s \([\d,]+ tokens/s\)", stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length); // the text and three candidates
        Assert.Matches(@"^\s+1\. 0\.\d{4}  ", lines[1]);
    }

    [Fact]
    public void FillMask_gives_each_mask_its_own_candidates()
    {
        var (code, stdout, stderr) = Run(["fill-mask", "--json", "--quiet", "--top-k", "2", "And [MASK] said unto [MASK], Go."]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        var masks = Assert.Single(JsonLines(stdout)).GetProperty("masks").EnumerateArray().ToArray();
        Assert.Equal(2, masks.Length);
        Assert.True(masks[0].GetProperty("position").GetInt32() < masks[1].GetProperty("position").GetInt32());
        Assert.All(masks, m => Assert.Equal(2, m.GetProperty("candidates").GetArrayLength()));
        // as HF: with several masks the sequence keeps special tokens, so the other mask stays visible
        foreach (var m in masks)
            foreach (var c in m.GetProperty("candidates").EnumerateArray())
                Assert.Single(System.Text.RegularExpressions.Regex.Matches(c.GetProperty("sequence").GetString()!, @"\[MASK\]"));
        (code, stdout, stderr) = Run(["fill-mask", "--json", "--quiet", "--top-k", "1", "And Moses [MASK] unto them."]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        string single = Assert.Single(JsonLines(stdout)).GetProperty("masks")[0].GetProperty("candidates")[0].GetProperty("sequence").GetString()!;
        Assert.DoesNotContain("[", single); // one mask: special tokens dropped
    }

    [Fact]
    public void Stdin_with_a_byte_order_mark_and_jsonl_ids_round_trip()
    {
        var (code, stdout, stderr) = Run(["fill-mask", "--json", "--quiet", "--input", "-", "--jsonl"],
                                         stdin: "\uFEFF{\"id\": \"a-1\", \"text\": \"the [MASK] of God\"}\n{\"id\": 2, \"text\": \"[MASK] said\"}\n");
        Assert.True(code == BigBirdCli.Ok, stderr);
        var lines = JsonLines(stdout);
        Assert.Equal("a-1", lines[0].GetProperty("id").GetString());
        Assert.Equal(2, lines[1].GetProperty("id").GetInt32());
        (code, stdout, stderr) = Run(["fill-mask", "--json", "--quiet"], stdin: "\uFEFFthe [MASK] of God");
        Assert.True(code == BigBirdCli.Ok, stderr);
        Assert.Equal("the [MASK] of God", Assert.Single(JsonLines(stdout)).GetProperty("text").GetString());
    }

    [Fact]
    public void Qa_needs_a_question_for_every_document()
    {
        string jsonl = Path.Combine(_dir, "qa.jsonl");
        File.WriteAllText(jsonl, "{\"question\": \"Who?\", \"context\": \"Moses spake.\"}\n");
        var (code, _, stderr) = Run(["qa", "a context typed on the command line", "--input", jsonl]);
        Assert.Equal(BigBirdCli.Usage, code);
        Assert.Contains("argument 1 has no question", stderr);
        File.WriteAllText(jsonl, "{\"context\": \"Moses spake.\"}\n");
        (code, var stdout, stderr) = Run(["qa", "--input", jsonl]);
        Assert.Equal(BigBirdCli.SomeDocumentsFailed, code);
        Assert.Contains("qa.jsonl:1: \"question\" is missing", stdout);
    }

    [Fact]
    public void Embed_refuses_an_output_folder_that_does_not_exist_before_running()
    {
        var (code, stdout, stderr) = Run(["embed", "light", "--output", Path.Combine(_dir, "no", "such", "e.safetensors")]);
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains("does not exist; create it first", stderr);
        Assert.DoesNotContain("document", stderr); // nothing was run
    }

    [Fact]
    public void Overlong_input_is_truncated_with_a_warning_or_refused_with_no_truncate()
    {
        // ~2000 tokens, over the default model's 512 positions; the [MASK] is near the start so it survives truncation
        string text = "And the [MASK] of the LORD came unto me, saying, " + string.Concat(Enumerable.Repeat("and the children of Israel went out of the land of Egypt; ", 200));
        var (code, stdout, stderr) = Run(["fill-mask", "--json", text]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        Assert.Contains("warning: argument 1:", stderr);
        Assert.Contains("truncated to 512", stderr);
        Assert.Contains("--no-truncate", stderr);
        var line = Assert.Single(JsonLines(stdout));
        Assert.True(line.GetProperty("truncated").GetBoolean());
        Assert.Equal(512, line.GetProperty("tokens").GetInt32());

        (code, stdout, stderr) = Run(["fill-mask", "--no-truncate", text]);
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Equal("", stdout);
        Assert.Contains("more than the model's max_position_embeddings (512)", stderr);
        Assert.Contains("shorten it", stderr);
    }

    [Fact]
    public void Block_padding_is_automatic_for_any_length()
    {
        // that such lengths run at all; the padded block-sparse arithmetic itself is compared with PyTorch by the
        // encoder fixtures (lengths 37, 53, 77, 100, 131) and the default model's QA fixture (218–384 tokens)
        // lengths around block multiples, long enough that the default model runs block-sparse attention
        foreach (int words in new[] { 150, 161, 177 })
        {
            string text = string.Join(' ', Enumerable.Repeat("light", words)) + " [MASK].";
            var (code, stdout, stderr) = Run(["fill-mask", "--json", "--quiet", text]);
            Assert.True(code == BigBirdCli.Ok, stderr);
            int tokens = Assert.Single(JsonLines(stdout)).GetProperty("tokens").GetInt32();
            Assert.True(tokens > 144, $"{tokens} tokens would fall back to full attention");
        }
    }

    [Fact]
    public void Quiet_prints_results_only()
    {
        var (code, stdout, stderr) = Run(["fill-mask", "--quiet", "the [MASK] of Israel"]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        Assert.Equal("", stderr);
        Assert.StartsWith("the [MASK] of Israel", stdout);
    }

    // ------------------------------------------------------------------------------------------------
    // embed
    // ------------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("cls")]
    [InlineData("pooler")]
    [InlineData("mean")]
    public void Embed_pools_what_run_computes(string pooling)
    {
        const string text = "And God said, Let there be light: and there was light.";
        var (code, stdout, stderr) = Run(["embed", "--json", "--quiet", "--pooling", pooling, text]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        var vector = Assert.Single(JsonLines(stdout)).GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();

        // `run` on the tokenizer's ids (its encoder output is checked against PyTorch elsewhere)
        var tokenizer = BigBirdTokenizer.FromPretrained(DefaultModelSource);
        var ids = tokenizer.Encode(text).InputIds;
        string inputs = Path.Combine(_dir, "inputs.json"), output = Path.Combine(_dir, "out.safetensors");
        File.WriteAllText(inputs, JsonSerializer.Serialize(new { input_ids = new[] { ids } }));
        var run = Run(["run", "--model", DefaultModelSource, "--architecture", "BigBirdModel", "--inputs", inputs, "--output", output]);
        Assert.True(run.Code == BigBirdCli.Ok, run.Err);
        using var reader = CheckpointLoader.Open(output);
        var states = reader.ReadFloat32("last_hidden_state").ToArray();
        int hidden = vector.Length;
        var expected = pooling switch
        {
            "cls" => states[..hidden],
            "pooler" => reader.ReadFloat32("pooler_output").ToArray(),
            _ => Enumerable.Range(0, hidden).Select(h => (float)Enumerable.Range(0, ids.Length).Average(t => (double)states[t * hidden + h])).ToArray(),
        };
        Tolerance.AssertAllClose(vector, expected, $"embed --pooling {pooling}");
    }

    [Fact]
    public void Embed_writes_safetensors_and_json_files_that_agree()
    {
        string st = Path.Combine(_dir, "e.safetensors"), json = Path.Combine(_dir, "e.json"), input = Path.Combine(_dir, "texts.jsonl");
        File.WriteAllText(input, "{\"text\": \"In the beginning\"}\n{\"text\": \"was the Word\"}\n{\"text\": \"and the Word was with God\"}\n");
        var (code, _, stderr) = Run(["embed", "--input", input, "--output", st]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        Assert.Contains("wrote 3 × 256 mean embeddings", stderr);
        (code, _, stderr) = Run(["embed", "--quiet", "--input", input, "--output", json]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        using var reader = CheckpointLoader.Open(st);
        Assert.True(reader.TryGetInfo("embeddings", out var info));
        Assert.Equal([3L, 256L], info.Shape);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var fromJson = doc.RootElement.GetProperty("embeddings").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(x => x.GetSingle())).ToArray();
        Assert.Equal(reader.ReadFloat32("embeddings").ToArray(), fromJson);
        Assert.Equal(["In the beginning", "was the Word", "and the Word was with God"],
                     doc.RootElement.GetProperty("texts").EnumerateArray().Select(t => t.GetString()));
    }

    [Fact]
    public void A_batch_equals_its_documents_run_alone()
    {
        string[] texts = ["the [MASK] of the LORD", "And Moses [MASK] unto the people", "[MASK] is my shepherd"];
        string input = Path.Combine(_dir, "b.jsonl");
        File.WriteAllLines(input, texts.Select(t => JsonSerializer.Serialize(new { text = t })));
        var batch = Run(["fill-mask", "--json", "--quiet", "--input", input]);
        Assert.True(batch.Code == BigBirdCli.Ok, batch.Err);
        var alone = texts.Select(t => Run(["fill-mask", "--json", "--quiet", t]).Out.Trim()).ToArray();
        Assert.Equal(alone, batch.Out.Trim().Split('\n'));
    }

    // ------------------------------------------------------------------------------------------------
    // errors every text command shares
    // ------------------------------------------------------------------------------------------------

    public static TheoryData<string> Commands() => ["fill-mask", "embed", "classify", "qa", "generate"];

    private static string[] WithQuestion(string command, params string[] args) =>
        command == "qa" ? [command, "--question", "Who?", .. args] : [command, .. args];

    [Theory]
    [MemberData(nameof(Commands))]
    public void A_missing_model_folder_says_what_to_pass(string command)
    {
        var (code, _, stderr) = Run(WithQuestion(command, "--model", Path.Combine(_dir, "nope"), "some [MASK] text"));
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains("no such folder", stderr);
        Assert.Contains("leave --model out to use the embedded default model", stderr);
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void A_folder_that_is_not_a_checkpoint_is_named(string command)
    {
        var (code, _, stderr) = Run(WithQuestion(command, "--model", _dir, "some [MASK] text"));
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains("is not a checkpoint folder: it has no config.json", stderr);

        string file = Path.Combine(_dir, "config.json.txt");
        File.WriteAllText(file, "{}");
        (code, _, stderr) = Run(WithQuestion(command, "--model", file, "some [MASK] text"));
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains("is a file; --model takes a checkpoint folder", stderr);
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void A_folder_without_a_tokenizer_says_so(string command)
    {
        // a real checkpoint (config + weights) with no spiece.model
        string model = command switch
        {
            "classify" => "seqcls_single",
            "qa" => "qa_bs",
            "generate" => "causal_full",
            _ => "mlm_bs",
        };
        var (code, _, stderr) = Run(WithQuestion(command, "--model", Path.Combine(RepoPaths.Fixtures, "heads", "models", model), "some [MASK] text"));
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains("has no tokenizer", stderr);
        Assert.Contains("spiece.model", stderr);
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void Config_without_weights_or_of_another_model_type_is_refused(string command)
    {
        string folder = Path.Combine(_dir, "ckpt");
        Directory.CreateDirectory(folder);
        File.Copy(Path.Combine(DefaultModelSource, "config.json"), Path.Combine(folder, "config.json"));
        var (code, _, stderr) = Run(WithQuestion(command, "--model", folder, "some [MASK] text"));
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains("has config.json but no weights", stderr);

        File.WriteAllText(Path.Combine(folder, "config.json"), "{\"model_type\": \"bert\", \"architectures\": [\"BertForMaskedLM\"]}");
        (code, _, stderr) = Run(WithQuestion(command, "--model", folder, "some [MASK] text"));
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains("model_type is 'bert', not 'big_bird'", stderr);

        File.Copy(Path.Combine(DefaultModelSource, "config.json"), Path.Combine(folder, "config.json"), overwrite: true);
        foreach (var f in Directory.GetFiles(DefaultModelSource, "*.safetensors*")) File.Copy(f, Path.Combine(folder, Path.GetFileName(f)));
        File.WriteAllText(Path.Combine(folder, "config.json"),
                          File.ReadAllText(Path.Combine(folder, "config.json")).Replace("\"BigBirdForMaskedLM\"", "\"BigBirdForTranslation\""));
        (code, _, stderr) = Run(WithQuestion(command, "--model", folder, "some [MASK] text"));
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains("architecture 'BigBirdForTranslation' is unknown", stderr);
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void Empty_text_missing_files_and_bad_jsonl_are_input_errors(string command)
    {
        var (code, _, stderr) = Run(WithQuestion(command, "   "));
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains("empty", stderr);

        (code, _, stderr) = Run(WithQuestion(command, "--input", Path.Combine(_dir, "missing.txt")));
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains("file not found", stderr);

        // a JSON batch whose only document is bad: an error record, and the exit code of a batch with failures
        string key = command == "qa" ? "context" : "text";
        foreach (var (line, message) in new[]
                 {
                     ("{not json", ":1: not valid JSON"),
                     ("[1]", "[0]: expected a JSON object"),
                     ($"{{\"id\": 9, \"{key}\": 5}}", $":1 (id 9): \"{key}\" must be a string"),
                     ($"{{\"{key}\": \"x\", \"colour\": 1}}", ":1: unknown key \"colour\""),
                 })
        {
            string jsonl = Path.Combine(_dir, "bad.jsonl");
            File.WriteAllText(jsonl, line + "\n");
            (code, var stdout, stderr) = Run([command, "--input", jsonl]);
            Assert.True(code == BigBirdCli.SomeDocumentsFailed, stderr);
            Assert.Contains($"error: {jsonl}{message}", stdout);
            Assert.Contains("0 documents", stderr);
            Assert.Contains("1 failed", stderr);
        }
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void No_text_at_all_is_a_usage_error(string command)
    {
        var (code, _, stderr) = Run(command == "qa" ? [command, "--question", "Who?"] : [command]);
        Assert.Equal(BigBirdCli.Usage, code);
        Assert.Contains("give the text as an argument", stderr);
        (code, _, stderr) = Run([command, "x", "--bogus", "1"]);
        Assert.Equal(BigBirdCli.Usage, code);
        Assert.Contains("unknown option --bogus", stderr);
    }

    [Fact]
    public void Command_specific_usage_errors()
    {
        foreach (var (args, message) in new (string[], string)[]
                 {
                     (["fill-mask", "a [MASK]", "--top-k", "0"], "--top-k must be positive"),
                                          (["qa", "the context"], "needs --question"),
                     (["qa", "ctx", "--question", "q", "--max-answer-length", "0"], "must be positive"),
                     (["qa", "ctx", "--question", "q", "--doc-stride", "-1"], "--doc-stride must not be negative"),
                     (["generate", "In the", "--repetition-penalty", "1e40"], "--repetition-penalty must be a number"),
                     (["generate", "In the", "--max-new-tokens", "many"], "--max-new-tokens must be an integer, not 'many'"),
                     (["generate", "In the", "--max-new-tokens", "0"], "--max-new-tokens must be positive"),
                     (["generate", "In the", "--temperature", "0.5"], "go with --do-sample"),
                     (["generate", "In the", "--do-sample", "--top-p", "1.5"], "--top-p in (0, 1]"),
                     (["generate", "In the", "--repetition-penalty", "0"], "--repetition-penalty must be positive"),
                     (["generate", "In the", "--no-repeat-ngram-size", "-1"], "--no-repeat-ngram-size non-negative"),
                     (["fill-mask", "a [MASK]", "--jsonl"], "--jsonl goes with --input"),
                     (["fill-mask", "a [MASK]", "--lines"], "--lines goes with --input"),
                     (["fill-mask", "--input", "x.txt", "--lines", "--jsonl"], "--lines and --jsonl are two batch formats"),
                     (["fill-mask", "a [MASK]", "--random-attention", "often"], "--random-attention must be deterministic or seeded, not 'often'"),
                     (["fill-mask", "a [MASK]", "--attention-type", "sparse"], "--attention-type must be original_full or block_sparse, not 'sparse'"),
                     (["embed", "a", "--pooling", "max"], "--pooling must be mean, pooler or cls, not 'max'"),
                     (["bench", "stray", "--model", "m", "--seq-len", "4"], "unexpected argument 'stray'"),
                 })
        {
            var (code, _, stderr) = Run(args);
            Assert.True(code == BigBirdCli.Usage, $"{string.Join(' ', args)}: {code} {stderr}");
            Assert.Contains(message, stderr);
        }
    }

    [Fact]
    public void FillMask_without_a_mask_or_on_a_model_without_the_head_says_what_to_do()
    {
        var (code, _, stderr) = Run(["fill-mask", "no mask here"]);
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains("has no [MASK]; write [MASK] where a word should be predicted", stderr);

        // a folder whose checkpoint lacks the MLM head: the default tokenizer beside a sequence-classification model
        string folder = CheckpointWithDefaultTokenizer("seqcls_single");
        (code, _, stderr) = Run(["fill-mask", "--model", folder, "a [MASK]"]);
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains("`fill-mask` needs a BigBirdForMaskedLM checkpoint", stderr);
        Assert.Contains("cls.predictions", stderr);
    }

    [Fact]
    public void Token_ids_beyond_the_checkpoint_vocabulary_are_a_typed_error()
    {
        // the default tokenizer has 8000 pieces; this fixture model has 100 embeddings
        string folder = CheckpointWithDefaultTokenizer("mlm_bs");
        var (code, _, stderr) = Run(["fill-mask", "--model", folder, "Nebuchadnezzar and Zerubbabel [MASK]"]);
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains("is outside [0, 100) (vocab_size); use the tokenizer that came with this checkpoint", stderr);
    }

    [Theory]
    [InlineData(null, 3, "softmax")]
    [InlineData("single_label_classification", 3, "softmax")]
    [InlineData("regression", 3, "softmax")]
    [InlineData("multi_label_classification", 3, "sigmoid")]
    [InlineData(null, 1, "sigmoid")]
    [InlineData("regression", 1, "sigmoid")]
    public void Classification_scores_follow_the_hf_pipeline_rule(string? problemType, int labels, string function)
    {
        string folder = Path.Combine(_dir, "cls");
        var config = TinyConfig("BigBirdForSequenceClassification", 512, "block_sparse");
        config["num_labels"] = labels;
        if (problemType is not null) config["problem_type"] = problemType;
        RandomCheckpoint.Write(folder, DefaultModelSource, config, withTaskHeads: true, seed: labels);
        using var model = (BigBirdForSequenceClassification)BigBirdPreTrainedModel.Load(folder);
        var result = new TextClassificationPipeline(model, BigBirdTokenizer.FromPretrained(folder)).Run("And the LORD spake unto Moses.");
        var logits = result.Logits;
        Assert.Equal(labels, logits.Length);
        double[] expected = function == "sigmoid"
            ? logits.Select(x => 1 / (1 + Math.Exp(-x))).ToArray()
            : logits.Select(x => Math.Exp(x) / logits.Sum(y => Math.Exp(y))).ToArray();
        foreach (var l in result.Labels)
            Assert.True(Math.Abs(l.Score - expected[l.Index]) < 1e-6, $"{l.Label}: {l.Score} vs {expected[l.Index]}");
        Assert.Equal(result.Labels.Select(l => l.Score).OrderDescending(), result.Labels.Select(l => l.Score));
        Assert.Equal(labels == 1 ? ["LABEL_0"] : ["LABEL_0", "LABEL_1", "LABEL_2"], result.Labels.Select(l => l.Label).Order());
    }

    [Fact]
    public void A_question_that_leaves_no_room_for_the_context_says_shorten_the_question()
    {
        string folder = Path.Combine(_dir, "qa");
        RandomCheckpoint.Write(folder, DefaultModelSource, TinyConfig("BigBirdForQuestionAnswering", 128, "original_full"), withTaskHeads: true, seed: 3);
        string question = string.Join(' ', Enumerable.Repeat("light", 200)) + "?";
        var (code, _, stderr) = Run(["qa", "--model", folder, "--question", question, "God created the heaven."]);
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains("which leaves no room for the context within max_position_embeddings (128); shorten the question", stderr);

        // a question that fits and a context that does not: read in overlapping windows, nothing dropped
        string context = string.Concat(Enumerable.Range(0, 40).Select(i => $"God created the heaven number {i}. "));
        (code, var stdout, stderr) = Run(["qa", "--model", folder, "--json", "--top-k", "5", "--question", "Who created?", context]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        // 128 asked, capped at half a window: 128 positions less [CLS], the question, [SEP] and the final [SEP]
        var overlap = System.Text.RegularExpressions.Regex.Match(stderr, @"read in \d+ windows overlapping by (\d+) tokens");
        Assert.True(overlap.Success, stderr);
        Assert.InRange(int.Parse(overlap.Groups[1].Value), 55, 62);
        var line = Assert.Single(JsonLines(stdout));
        Assert.True(line.GetProperty("windows").GetInt32() >= 3);
        Assert.Equal(5, line.GetProperty("answers").GetArrayLength());

        (code, stdout, stderr) = Run(["qa", "--model", folder, "--json", "--doc-stride", "10", "--question", "Who created?", context]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        Assert.Contains("overlapping by 10 tokens", stderr);
        Assert.True(Assert.Single(JsonLines(stdout)).GetProperty("windows").GetInt32() < line.GetProperty("windows").GetInt32());

        (code, _, stderr) = Run(["qa", "--model", folder, "--no-truncate", "--question", "Who created?", context]);
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains("more than the model's max_position_embeddings (128)", stderr);
    }

    [Fact]
    public void Run_trace_tokenize_and_bench_default_to_the_embedded_model()
    {
        string inputs = Path.Combine(_dir, "inputs.json"), jsonl = Path.Combine(_dir, "t.jsonl");
        var ids = BigBirdTokenizer.FromPretrained(DefaultModelSource).Encode("And the children of [MASK] went out.").InputIds;
        File.WriteAllText(inputs, JsonSerializer.Serialize(new { input_ids = new[] { ids } }));
        File.WriteAllText(jsonl, "{\"text\": \"And the children of [MASK] went out.\"}\n");

        var (code, stdout, stderr) = Run(["run", "--inputs", inputs, "--output", Path.Combine(_dir, "run.safetensors")]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        Assert.StartsWith("BigBirdForMaskedLM: batch 1", stdout);
        (code, stdout, stderr) = Run(["trace", "--inputs", inputs, "--output", Path.Combine(_dir, "trace.safetensors")]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        using (var trace = CheckpointLoader.Open(Path.Combine(_dir, "trace.safetensors")))
            Assert.Contains("encoder.layer.3.output", trace.Names);
        (code, stdout, stderr) = Run(["tokenize", "--input", jsonl, "--output", Path.Combine(_dir, "ids.jsonl")]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        Assert.Contains(string.Join(",", ids), File.ReadAllText(Path.Combine(_dir, "ids.jsonl")));
        (code, stdout, stderr) = Run(["bench", "--seq-len", "200", "--repeat", "1"]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        Assert.Contains("\"attention_type\":\"block_sparse\"", stdout);
    }

    [Fact]
    public void Input_errors_of_the_text_commands_say_what_to_do()
    {
        var (code, _, stderr) = Run(["fill-mask", "--input", _dir]);
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains("is a folder; --input takes a text or .jsonl file", stderr);

        // the only [MASK] lies beyond the 512 positions the default model takes
        string late = string.Concat(Enumerable.Repeat("and the children of Israel went out of the land of Egypt; ", 60)) + "the [MASK] of hosts";
        (code, _, stderr) = Run(["fill-mask", late]);
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains("every [MASK] was cut off by truncation; move the [MASK] nearer the start or shorten the text", stderr);

        string folder = Path.Combine(_dir, "nopooler");
        RandomCheckpoint.Write(folder, DefaultModelSource, TinyConfig("BigBirdForMaskedLM", 128, "original_full"), withTaskHeads: false, seed: 5,
                               withPooler: false);
        (code, _, stderr) = Run(["embed", "--model", folder, "--pooling", "pooler", "light"]);
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains("this checkpoint has no pooler (bert.pooler.*); use mean or cls pooling", stderr);
        (code, _, stderr) = Run(["embed", "--model", folder, "--pooling", "cls", "--quiet", "light"]);
        Assert.True(code == BigBirdCli.Ok, stderr);
    }

    [Fact]
    public void A_missing_embedded_model_says_how_to_get_it()
    {
        var e = Assert.Throws<BigBirdException>(() => ModelFolder.Resolve(null, causal: false, defaultRoot: Path.Combine(_dir, "no-models")));
        Assert.Contains("the embedded default model is missing", e.Message);
        Assert.Contains("Build the BigBirdSharp.Cli project", e.Message);
    }

    [Fact]
    public void Classify_takes_text_pairs_from_the_option_and_from_jsonl()
    {
        string jsonl = Path.Combine(_dir, "pairs.jsonl");
        File.WriteAllText(jsonl, "{\"text\": \"And Moses spake\", \"text_pair\": \"unto the children of Israel.\"}\n{\"text\": \"And Moses spake\"}\n");
        var (code, stdout, stderr) = Run(["classify", "--json", "--quiet", "--input", jsonl]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        var lines = JsonLines(stdout);
        Assert.Equal("unto the children of Israel.", lines[0].GetProperty("text_pair").GetString());
        Assert.False(lines[1].TryGetProperty("text_pair", out _));
        Assert.NotEqual(lines[0].GetProperty("tokens").GetInt32(), lines[1].GetProperty("tokens").GetInt32());

        (code, stdout, stderr) = Run(["classify", "--json", "--quiet", "--text-pair", "unto the children of Israel.", "And Moses spake"]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        // the same pair either way: the same scores
        Assert.Equal(lines[0].GetProperty("labels").GetRawText(), Assert.Single(JsonLines(stdout)).GetProperty("labels").GetRawText());
    }

    /// <summary>A one-layer, 16-wide config over the default model's 8000-piece vocabulary.</summary>
    private static Dictionary<string, object> TinyConfig(string architecture, int positions, string attention) => new()
    {
        ["architectures"] = new[] { architecture },
        ["vocab_size"] = 8000, ["hidden_size"] = 16, ["num_hidden_layers"] = 1, ["num_attention_heads"] = 2,
        ["intermediate_size"] = 32, ["max_position_embeddings"] = positions, ["attention_type"] = attention, ["block_size"] = 16,
        ["num_random_blocks"] = 2, ["sep_token_id"] = 5,
    };

    private string CheckpointWithDefaultTokenizer(string fixtureModel)
    {
        string folder = Path.Combine(_dir, fixtureModel);
        Directory.CreateDirectory(folder);
        foreach (var f in Directory.GetFiles(Path.Combine(RepoPaths.Fixtures, "heads", "models", fixtureModel)))
            File.Copy(f, Path.Combine(folder, Path.GetFileName(f)));
        foreach (var f in new[] { "spiece.model", "special_tokens_map.json", "tokenizer_config.json" })
            File.Copy(Path.Combine(DefaultModelSource, f), Path.Combine(folder, f));
        return folder;
    }
}
