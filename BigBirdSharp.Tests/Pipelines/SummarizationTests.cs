using System.Globalization;
using System.Text.Json;
using BigBirdSharp.Cli;
using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Modeling.Pegasus;
using BigBirdSharp.Pipelines;
using BigBirdSharp.RandomAttention;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Tests.Pipelines;

/// <summary>
/// <see cref="SummarizationPipeline"/> and <c>bigbird summarize</c> against transformers 4.27.1's summarization pipeline
/// (fixtures/summarization: a tiny BigBirdPegasusForConditionalGeneration with the Pegasus-shaped tokenizer, the
/// checkpoint's beam settings in config.json, documents of 178–512 tokens through block-sparse attention).
/// </summary>
public sealed class SummarizationTests
{
    private static string Root => Path.Combine(RepoPaths.Fixtures, "summarization");
    private static string Model => Path.Combine(Root, "model");

    private sealed record Case(string Name, string Text, bool Truncation, Dictionary<string, JsonElement> Kwargs, int[] InputIds,
                               int[] SummaryTokenIds, string SummaryText);

    private static IReadOnlyList<Case> Cases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "cases.json")));
        return doc.RootElement.EnumerateArray().Select(c => new Case(
            c.GetProperty("name").GetString()!, c.GetProperty("text").GetString()!, c.GetProperty("truncation").GetBoolean(),
            c.GetProperty("kwargs").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone()),
            c.GetProperty("input_ids").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
            c.GetProperty("summary_token_ids").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
            c.GetProperty("summary_text").GetString()!)).ToList();
    }

    public static TheoryData<string> Names() => new(Cases().Select(c => c.Name));

    private static GenerationConfig Settings(Case c)
    {
        var g = GenerationConfig.FromPretrained(Model);
        foreach (var (key, v) in c.Kwargs)
            g = key switch
            {
                "num_beams" => g with { NumBeams = v.GetInt32() },
                "length_penalty" => g with { LengthPenalty = v.GetSingle() },
                "no_repeat_ngram_size" => g with { NoRepeatNgramSize = v.GetInt32() },
                "min_length" => g with { MinLength = v.GetInt32() },
                "max_new_tokens" => g with { MaxNewTokens = v.GetInt32() },
                "early_stopping" => g with { EarlyStopping = v.GetBoolean() },
                _ => throw new InvalidOperationException($"case {c.Name}: kwarg {key} is not mapped"),
            };
        return g;
    }

    private static readonly Lazy<(BigBirdPegasusForConditionalGeneration Model, PegasusTokenizer Tokenizer)> Loaded =
        new(() => (BigBirdPegasusForConditionalGeneration.FromPretrained(Model), PegasusTokenizer.FromPretrained(Model)));

    [Theory]
    [MemberData(nameof(Names))]
    public void Pipeline_gives_hf_summaries(string name)
    {
        var c = Cases().Single(x => x.Name == name);
        var (model, tokenizer) = Loaded.Value;
        var pipeline = new SummarizationPipeline(model, tokenizer);
        var r = pipeline.Run(c.Text, Settings(c), OverlongInput.Truncate, new BigBirdForwardOptions { RandomAttention = RandomAttentionSemantics.Seeded });
        Assert.Equal(c.InputIds, r.InputIds);
        Assert.Equal(c.Truncation, r.TruncatedFrom is not null);
        Assert.Equal(c.SummaryTokenIds, r.SummaryTokenIds);
        Assert.Equal(c.SummaryText, r.SummaryText);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Summarize_command_gives_hf_summaries(string name)
    {
        var c = Cases().Single(x => x.Name == name);
        var args = new List<string> { "summarize", "--model", Model, "--random-attention", "seeded", "--json", "-q", "--", c.Text };
        foreach (var (key, v) in c.Kwargs)
        {
            string flag = "--" + key.Replace('_', '-');
            args.InsertRange(args.IndexOf("--"), [flag, v.ValueKind switch
            {
                JsonValueKind.True => "true",
                JsonValueKind.False => "false",
                _ => v.GetRawText(),
            }]);
        }
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = BigBirdCli.Run(args.ToArray(), stdout, stderr);
        Assert.True(code == 0, stderr.ToString());
        using var line = JsonDocument.Parse(stdout.ToString().Trim());
        Assert.Equal(c.SummaryText, line.RootElement.GetProperty("summary_text").GetString());
        Assert.Equal(c.SummaryTokenIds, line.RootElement.GetProperty("summary_token_ids").EnumerateArray().Select(x => x.GetInt32()));
        Assert.Equal(c.InputIds.Length, line.RootElement.GetProperty("input_tokens").GetInt32());
        Assert.Equal(c.Truncation, line.RootElement.TryGetProperty("truncated_from", out _));
        if (c.Truncation) Assert.Contains("only its first 512 are summarized", stderr.ToString());
    }

    [Fact]
    public void An_overlong_document_is_refused_with_no_truncate()
    {
        var c = Cases().Single(x => x.Truncation);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = BigBirdCli.Run(["summarize", "--model", Model, "--no-truncate", "-q", "--", c.Text], stdout, stderr);
        Assert.Equal(1, code);
        Assert.Contains("more than the model's max_position_embeddings (512)", stderr.ToString());
        var (model, tokenizer) = Loaded.Value;
        Assert.Throws<BigBirdInputException>(() => new SummarizationPipeline(model, tokenizer).Run(c.Text, Settings(c), OverlongInput.Reject));
    }

    [Fact]
    public void An_empty_document_is_refused()
    {
        var (model, tokenizer) = Loaded.Value;
        var e = Assert.Throws<BigBirdInputException>(() => new SummarizationPipeline(model, tokenizer).Run("  ", GenerationConfig.FromPretrained(Model)));
        Assert.Contains("the document is empty", e.Message);
    }

    [Theory]
    [InlineData(new[] { "summarize", "some text" }, 2, "summarize needs --model")]
    [InlineData(new[] { "summarize", "--model", "MISSING", "some text" }, 1, "no such folder")]
    [InlineData(new[] { "summarize", "--model", "BIGBIRD", "some text" }, 1, "summarize needs a bigbird_pegasus checkpoint")]
    [InlineData(new[] { "summarize", "--model", "PEGASUS", "--max-new-tokens", "0", "some text" }, 2, "--max-new-tokens must be positive")]
    [InlineData(new[] { "summarize", "--model", "PEGASUS", "--num-beams", "0", "some text" }, 2, "--num-beams must be at least 1")]
    public void Summarize_usage_and_folder_errors(string[] args, int expectedCode, string message)
    {
        var resolved = args.Select(a => a switch
        {
            "MISSING" => Path.Combine(Path.GetTempPath(), "no-such-folder-" + Guid.NewGuid().ToString("N")),
            "BIGBIRD" => Path.Combine(RepoPaths.Models, "bs_h32_a4_l2_b4_r2"),
            "PEGASUS" => Model,
            _ => a,
        }).ToArray();
        var stderr = new StringWriter();
        int code = BigBirdCli.Run(resolved, new StringWriter(), stderr);
        Assert.Equal(expectedCode, code);
        Assert.Contains(message, stderr.ToString());
    }

    [Fact]
    public void A_batch_gives_each_document_its_own_summary()
    {
        var cases = Cases().Where(c => c.Kwargs.Count == 0 && !c.Truncation).ToList();
        string file = Path.Combine(Path.GetTempPath(), $"summ-{Guid.NewGuid():N}.jsonl");
        File.WriteAllLines(file, cases.Select((c, i) => JsonSerializer.Serialize(new { text = c.Text, id = i.ToString(CultureInfo.InvariantCulture) })));
        try
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            int code = BigBirdCli.Run(["summarize", "--model", Model, "--random-attention", "seeded", "--json", "-q", "-i", file], stdout, stderr);
            Assert.True(code == 0, stderr.ToString());
            var lines = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(cases.Count, lines.Length);
            for (int i = 0; i < cases.Count; i++)
            {
                using var line = JsonDocument.Parse(lines[i]);
                Assert.Equal(cases[i].SummaryText, line.RootElement.GetProperty("summary_text").GetString());
            }
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Tokenize_on_a_pegasus_folder_uses_the_pegasus_tokenizer()
    {
        // HF's AutoTokenizer gives PegasusTokenizer for this folder: the ids of the fixture's documents, `</s>` last
        var c = Cases().First(x => !x.Truncation);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = BigBirdCli.Run(["tokenize", "--model", Model, "-q", "--", c.Text], stdout, stderr);
        Assert.True(code == 0, stderr.ToString());
        using var line = JsonDocument.Parse(stdout.ToString().Trim());
        Assert.Equal(c.InputIds, line.RootElement.GetProperty("input_ids").EnumerateArray().Select(x => x.GetInt32()));
    }
}

