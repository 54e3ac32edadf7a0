using System.Text.Json;
using BigBirdSharp.Serialization;

namespace BigBirdSharp.Tests.Cli;

/// <summary>
/// The text commands on checkpoint folders shaped like google/bigbird-roberta-base where it matters for long
/// documents: its real tokenizer (50,358 pieces), 4096 positions, block 64, 3 random blocks — with a narrow
/// hidden size and random weights so that thousands of tokens run in a test. The outputs are not meaningful; that
/// the commands take documents of thousands of tokens, block-sparse, through every head, is.
/// </summary>
public sealed class LongDocumentCommandTests : IClassFixture<LongDocumentCommandTests.Folders>
{
    private readonly Folders _folders;

    public LongDocumentCommandTests(Folders folders) => _folders = folders;

    /// <summary>Two checkpoint folders: an encoder with MLM, classification and QA heads, and a causal LM.</summary>
    public sealed class Folders : IDisposable
    {
        public string Root { get; } = Path.Combine(Path.GetTempPath(), "bigbird-long-" + Guid.NewGuid().ToString("N"));
        public string Encoder => Path.Combine(Root, "encoder");
        public string Causal => Path.Combine(Root, "causal");
        public const int Hidden = 32, Intermediate = 64, Layers = 2, Vocab = 50358, Positions = 4096, Labels = 3;

        public Folders()
        {
            Write(Encoder, decoder: false);
            Write(Causal, decoder: true);
        }

        public void Dispose() => Directory.Delete(Root, true);

        private static void Write(string dir, bool decoder) =>
            RandomCheckpoint.Write(dir, Path.Combine(RepoPaths.Fixtures, "tokenizer", "models", "bigbird_gpt2"), new Dictionary<string, object>
            {
                ["architectures"] = new[] { decoder ? "BigBirdForCausalLM" : "BigBirdForMaskedLM" },
                ["vocab_size"] = Vocab, ["hidden_size"] = Hidden, ["num_hidden_layers"] = Layers, ["num_attention_heads"] = 4,
                ["intermediate_size"] = Intermediate, ["max_position_embeddings"] = Positions,
                ["sep_token_id"] = 66, ["attention_type"] = decoder ? "original_full" : "block_sparse", ["block_size"] = 64,
                ["num_random_blocks"] = 3, ["is_decoder"] = decoder,
                ["id2label"] = new Dictionary<string, string> { ["0"] = "alpha", ["1"] = "beta", ["2"] = "gamma" },
            }, withTaskHeads: !decoder, seed: decoder ? 11 : 7);
    }

    /// <summary>A document of about <paramref name="words"/> words.</summary>
    private static string Document(int words, int seed)
    {
        string[] vocabulary = ["the", "river", "court", "ruled", "that", "in", "a", "long", "report", "about", "bird", "sparse",
                               "attention", "and", "its", "blocks", "were", "said", "to", "cover", "every", "page", "of", "document"];
        var rng = new Random(seed);
        return string.Join(' ', Enumerable.Range(0, words).Select(i => vocabulary[rng.Next(vocabulary.Length)] + (i % 17 == 16 ? "." : "")));
    }

    private static JsonElement Single(string stdout) =>
        JsonDocument.Parse(Assert.Single(stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))).RootElement.Clone();

    [Fact]
    public void FillMask_runs_a_document_of_thousands_of_tokens_and_truncates_past_4096()
    {
        string text = "The [MASK] ruled. " + Document(3000, 1);
        var (code, stdout, stderr) = TextCommandTests.Run(["fill-mask", "--model", _folders.Encoder, "--json", text]);
        Assert.True(code == 0, stderr);
        var line = Single(stdout);
        int tokens = line.GetProperty("tokens").GetInt32();
        Assert.InRange(tokens, 2000, 4096);
        Assert.False(line.GetProperty("truncated").GetBoolean());
        Assert.Equal(5, line.GetProperty("masks")[0].GetProperty("candidates").GetArrayLength());
        Assert.DoesNotContain("warning", stderr);

        (code, stdout, stderr) = TextCommandTests.Run(["fill-mask", "--model", _folders.Encoder, "--json", "The [MASK] ruled. " + Document(6000, 2)]);
        Assert.True(code == 0, stderr);
        Assert.Equal(4096, Single(stdout).GetProperty("tokens").GetInt32());
        Assert.Contains("truncated to 4096", stderr);
    }

    [Fact]
    public void Embed_classify_and_qa_take_thousands_of_tokens()
    {
        string doc = Document(2500, 3);
        var (code, stdout, stderr) = TextCommandTests.Run(["embed", "--model", _folders.Encoder, "--json", "--quiet", doc]);
        Assert.True(code == 0, stderr);
        Assert.Equal(Folders.Hidden, Single(stdout).GetProperty("embedding").GetArrayLength());

        (code, stdout, stderr) = TextCommandTests.Run(["classify", "--model", _folders.Encoder, "--json", "--quiet", doc]);
        Assert.True(code == 0, stderr);
        var labels = Single(stdout).GetProperty("labels").EnumerateArray().Select(l => l.GetProperty("label").GetString()).Order();
        Assert.Equal(["alpha", "beta", "gamma"], labels);

        (code, stdout, stderr) = TextCommandTests.Run(["qa", "--model", _folders.Encoder, "--json", "--quiet", "--question", "What did the court rule?",
                                                       "--top-k", "3", doc]);
        Assert.True(code == 0, stderr);
        var result = Single(stdout);
        Assert.True(result.GetProperty("tokens").GetInt32() > 2000);
        var answers = result.GetProperty("answers").EnumerateArray().ToArray();
        Assert.Equal(3, answers.Length);
        Assert.Equal(3, answers.Select(a => (a.GetProperty("start").GetInt32(), a.GetProperty("end").GetInt32())).Distinct().Count());
        Assert.True(answers[0].GetProperty("score").GetSingle() >= answers[1].GetProperty("score").GetSingle());
        foreach (var a in answers)
        {
            int start = a.GetProperty("start").GetInt32(), end = a.GetProperty("end").GetInt32();
            string answer = a.GetProperty("answer").GetString()!;
            Assert.Equal(doc[start..end], answer);
            // whole words: non-empty, no surrounding space, bounded by whitespace or the ends of the context
            Assert.NotEqual("", answer);
            Assert.Equal(answer.Trim(), answer);
            Assert.True(start == 0 || char.IsWhiteSpace(doc[start - 1]), answer);
            Assert.True(end == doc.Length || char.IsWhiteSpace(doc[end]), answer);
            Assert.InRange(answer.Split(' ').Length, 1, 15); // max_answer_length 15 pieces
        }
    }

    [Fact]
    public void Qa_reads_a_context_longer_than_4096_tokens_in_windows_and_answers_from_all_of_it()
    {
        string doc = Document(7000, 6);
        var (code, stdout, stderr) = TextCommandTests.Run(["qa", "--model", _folders.Encoder, "--json", "--question", "What did the court rule?",
                                                           "--top-k", "60", doc]);
        Assert.True(code == 0, stderr);
        Assert.Contains("windows overlapping by 128 tokens", stderr);
        var result = Single(stdout);
        Assert.True(result.GetProperty("tokens").GetInt32() > 4096);
        Assert.Equal(2, result.GetProperty("windows").GetInt32());
        var starts = result.GetProperty("answers").EnumerateArray().Select(a => a.GetProperty("start").GetInt32()).ToArray();
        Assert.Equal(60, starts.Length);
        // the first window ends about 4,070 tokens in (about 4,000 words); answers come from both windows
        Assert.Contains(starts, s => s < doc.Length / 2);
        Assert.Contains(starts, s => s > doc.Length * 0.7);
    }

    [Fact]
    public void Generate_continues_a_long_prompt_and_keeps_its_end_when_it_is_too_long()
    {
        var (code, stdout, stderr) = TextCommandTests.Run(["generate", "--model", _folders.Causal, "--json", "--max-new-tokens", "3", Document(1200, 4)]);
        Assert.True(code == 0, stderr);
        var line = Single(stdout);
        Assert.True(line.GetProperty("prompt_ids").GetArrayLength() > 1000);
        Assert.InRange(line.GetProperty("generated_ids").GetArrayLength(), 1, 3);

        (code, stdout, stderr) = TextCommandTests.Run(["generate", "--model", _folders.Causal, "--json", "--max-new-tokens", "2", Document(6000, 5)]);
        Assert.True(code == 0, stderr);
        line = Single(stdout);
        Assert.Equal(4095, line.GetProperty("prompt_ids").GetArrayLength());
        Assert.Equal(1, line.GetProperty("prompt_ids")[0].GetInt32()); // bos kept
        // then the prompt's last 4094 pieces: the end is what gets continued
        var pieces = BigBirdSharp.Tokenization.BigBirdTokenizer.FromPretrained(_folders.Causal)
            .Encode(Document(6000, 5), null, new BigBirdSharp.Tokenization.TokenizerEncodeOptions { AddSpecialTokens = false }).InputIds;
        Assert.Equal(pieces[^4094..], line.GetProperty("prompt_ids").EnumerateArray().Skip(1).Select(x => x.GetInt32()));
        Assert.Equal(pieces.Length + 1, line.GetProperty("prompt_truncated_from").GetInt32());
        Assert.Single(line.GetProperty("generated_ids").EnumerateArray());
        Assert.Contains("only its last 4095 are kept", stderr);

        (code, _, stderr) = TextCommandTests.Run(["generate", "--model", _folders.Causal, "--no-truncate", Document(6000, 5)]);
        Assert.Equal(1, code);
        Assert.Contains("no token can follow it", stderr);
    }
}
