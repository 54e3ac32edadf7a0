using System.Text.Json;
using BigBirdSharp.Cli;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Pipelines;
using BigBirdSharp.Serialization;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Tests.Cli;

/// <summary>The embedded default model: trained, not random (fill-mask gets easy sentences right where the same
/// architecture at its initial weights does not), and its classification, QA and causal-LM heads match PyTorch on text.</summary>
public sealed class DefaultModelTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "bigbird-default-" + Guid.NewGuid().ToString("N"));

    public DefaultModelTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>Sentences (of the 20 in fillmask_sentences.json) whose expected word must be the top-1 prediction.
    /// The trained model gets 6 of them (the fixture records PyTorch's count, and we must agree); HF's random
    /// initialisation of the same architecture gets none.</summary>
    private const int Top1Threshold = 4;

    private static (string Text, int Expected)[] Sentences()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TextCommandTests.DefaultFixture("fillmask_sentences.json")));
        return doc.RootElement.GetProperty("sentences").EnumerateArray()
            .Select(s => (s.GetProperty("text").GetString()!, s.GetProperty("expected_token_id").GetInt32())).ToArray();
    }

    private static int Top1Correct(BigBirdPreTrainedModel model, BigBirdTokenizer tokenizer) =>
        Sentences().Count(s => new FillMaskPipeline(model, tokenizer).Run(s.Text, topK: 1).Masks[0].Candidates[0].TokenId == s.Expected);

    [Fact]
    public void The_trained_default_model_fills_easy_masks_and_a_random_one_does_not()
    {
        var tokenizer = BigBirdTokenizer.FromPretrained(ModelFolder.DefaultDirectory);
        using var trained = BigBirdPreTrainedModel.Load(ModelFolder.DefaultDirectory, "BigBirdForMaskedLM");
        int trainedCorrect = Top1Correct(trained, tokenizer);
        using var doc = JsonDocument.Parse(File.ReadAllText(TextCommandTests.DefaultFixture("fillmask_sentences.json")));
        Assert.Equal(doc.RootElement.GetProperty("trained_top1_correct").GetInt32(), trainedCorrect); // as PyTorch counts it
        Assert.True(trainedCorrect >= Top1Threshold, $"trained: {trainedCorrect} of 20 top-1");

        using var random = BigBirdPreTrainedModel.Load(RandomInitCopy(), "BigBirdForMaskedLM");
        int randomCorrect = Top1Correct(random, tokenizer);
        Assert.True(randomCorrect < Top1Threshold, $"random init: {randomCorrect} of 20 top-1");
    }

    private static JsonElement Fixture(string name) =>
        JsonDocument.Parse(File.ReadAllText(TextCommandTests.DefaultFixture(name))).RootElement.Clone();

    public static TheoryData<int> ClassifyExamples() => [.. Enumerable.Range(0, Fixture("classify_examples.json").GetProperty("examples").GetArrayLength())];
    public static TheoryData<int> QaExamples() => [.. Enumerable.Range(0, Fixture("qa_examples.json").GetProperty("examples").GetArrayLength())];

    private static int[] Ints(JsonElement array) => [.. array.EnumerateArray().Select(x => x.GetInt32())];
    private static float[] Floats(JsonElement array) => [.. array.EnumerateArray().Select(x => x.GetSingle())];

    [Theory]
    [MemberData(nameof(ClassifyExamples))]
    public void Classify_on_the_default_model_matches_pytorch(int index)
    {
        var example = Fixture("classify_examples.json").GetProperty("examples")[index];
        string text = example.GetProperty("text").GetString()!;
        var tokenizer = BigBirdTokenizer.FromPretrained(ModelFolder.DefaultDirectory);
        using var model = (BigBirdForSequenceClassification)BigBirdPreTrainedModel.Load(ModelFolder.DefaultDirectory, "BigBirdForSequenceClassification");
        var result = new TextClassificationPipeline(model, tokenizer).Run(text);
        Assert.Equal(Ints(example.GetProperty("input_ids")), result.Input.Encoding.InputIds);
        Tolerance.AssertAllClose(result.Logits, Floats(example.GetProperty("logits")), $"classify {index}");

        var (code, stdout, stderr) = TextCommandTests.Run(["classify", "--json", "--quiet", text]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        using var line = JsonDocument.Parse(stdout);
        Assert.Equal(example.GetProperty("predicted_label").GetString(), line.RootElement.GetProperty("label").GetString());
        Assert.Equal(7, line.RootElement.GetProperty("labels").GetArrayLength());
    }

    [Theory]
    [MemberData(nameof(QaExamples))]
    public void Qa_on_the_default_model_matches_pytorch(int index)
    {
        var example = Fixture("qa_examples.json").GetProperty("examples")[index];
        string question = example.GetProperty("question").GetString()!, context = example.GetProperty("context").GetString()!;
        var tokenizer = BigBirdTokenizer.FromPretrained(ModelFolder.DefaultDirectory);
        using var model = (BigBirdForQuestionAnswering)BigBirdPreTrainedModel.Load(ModelFolder.DefaultDirectory, "BigBirdForQuestionAnswering");
        int[] ids = Ints(example.GetProperty("input_ids")), types = Ints(example.GetProperty("token_type_ids"));
        var encoded = tokenizer.Encode(question, context);
        Assert.Equal(ids, encoded.InputIds);
        Assert.Equal(types, encoded.TokenTypeIds);

        var output = model.Forward(new BigBirdSharp.Modeling.BigBirdInputs(1, ids.Length) { InputIds = ids, TokenTypeIds = types });
        Tolerance.AssertAllClose(output.StartLogits!.Data, Floats(example.GetProperty("start_logits")), $"qa {index} start_logits");
        Tolerance.AssertAllClose(output.EndLogits!.Data, Floats(example.GetProperty("end_logits")), $"qa {index} end_logits");

        // the pipeline's best span (before word widening) is the fixture's, under the fixture's 30-token limit
        var result = new QuestionAnsweringPipeline(model, tokenizer).Run(question, context, topK: 1, maxAnswerLength: 30);
        var best = Ints(example.GetProperty("best_span"));
        Assert.Equal(1, result.Windows);
        Assert.Equal((best[0], best[1]), (result.Answers[0].StartToken, result.Answers[0].EndToken));

        var (code, stdout, stderr) = TextCommandTests.Run(["qa", "--json", "--quiet", "--max-answer-length", "30", "--question", question, context]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        using var line = JsonDocument.Parse(stdout);
        var answer = line.RootElement.GetProperty("answers")[0];
        string text = answer.GetProperty("answer").GetString()!;
        Assert.Equal(result.Answers[0].Answer, text);
        // HF's decoded answer lies inside ours (ours is widened to whole words)
        Assert.Contains(example.GetProperty("answer_text").GetString()!, text);
    }

    public static TheoryData<int, string> EmbedExamples()
    {
        var data = new TheoryData<int, string>();
        for (int i = 0; i < Fixture("embed_examples.json").GetProperty("cases").GetArrayLength(); i++)
            foreach (var pooling in new[] { "mean", "cls", "pooler" }) data.Add(i, pooling);
        return data;
    }

    [Theory]
    [MemberData(nameof(EmbedExamples))]
    public void Embed_on_the_default_model_matches_pytorch(int index, string pooling)
    {
        var example = Fixture("embed_examples.json").GetProperty("cases")[index];
        var (code, stdout, stderr) = TextCommandTests.Run(["embed", "--json", "--quiet", "--pooling", pooling, example.GetProperty("text").GetString()!]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        using var line = JsonDocument.Parse(stdout);
        Assert.Equal(example.GetProperty("input_ids").GetArrayLength(), line.RootElement.GetProperty("tokens").GetInt32());
        Tolerance.AssertAllClose(Floats(line.RootElement.GetProperty("embedding")), Floats(example.GetProperty(pooling)), $"embed {index} {pooling}");
    }

    public static TheoryData<int> GenerateExamples() => [.. Enumerable.Range(0, Fixture("generate_examples.json").GetProperty("cases").GetArrayLength())];

    [Theory]
    [MemberData(nameof(GenerateExamples))]
    public void Generate_on_the_default_causal_model_gives_pytorchs_tokens(int index)
    {
        var example = Fixture("generate_examples.json").GetProperty("cases")[index];
        string prompt = example.GetProperty("prompt").GetString()!;
        var (code, stdout, stderr) = TextCommandTests.Run(["generate", "--json", "--quiet", "--max-new-tokens", "40", prompt]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        using var line = JsonDocument.Parse(stdout);
        var root = line.RootElement;
        Assert.Equal(Ints(example.GetProperty("input_ids")), Ints(root.GetProperty("prompt_ids")));
        int[] expected = Ints(example.GetProperty("new_ids")), actual = Ints(root.GetProperty("generated_ids"));
        int firstDifference = Enumerable.Range(0, Math.Min(expected.Length, actual.Length)).FirstOrDefault(i => expected[i] != actual[i], -1);
        Assert.True(firstDifference < 0 && expected.Length == actual.Length,
                    $"first difference at new token {firstDifference}: ours {string.Join(",", actual)} vs PyTorch {string.Join(",", expected)}");
        Assert.Equal(example.GetProperty("stopped_at_eos").GetBoolean(), root.GetProperty("stopped_at_eos").GetBoolean());
        Assert.Equal(example.GetProperty("continuation").GetString(), root.GetProperty("generated_text").GetString());
    }

    public static TheoryData<int> GenerateOptionExamples() => [.. Enumerable.Range(0, Fixture("generate_options_examples.json").GetProperty("cases").GetArrayLength())];

    [Theory]
    [MemberData(nameof(GenerateOptionExamples))]
    public void Generate_with_repetition_penalty_and_no_repeat_ngrams_gives_pytorchs_tokens(int index)
    {
        var example = Fixture("generate_options_examples.json").GetProperty("cases")[index];
        var settings = example.GetProperty("settings");
        var args = new List<string> { "generate", "--json", "--quiet", "--max-new-tokens", "40", example.GetProperty("prompt").GetString()! };
        if (settings.TryGetProperty("repetition_penalty", out var rp)) args.AddRange(["--repetition-penalty", rp.GetRawText()]);
        if (settings.TryGetProperty("no_repeat_ngram_size", out var ng)) args.AddRange(["--no-repeat-ngram-size", ng.GetRawText()]);
        var (code, stdout, stderr) = TextCommandTests.Run([.. args]);
        Assert.True(code == BigBirdCli.Ok, stderr);
        using var line = JsonDocument.Parse(stdout);
        Assert.Equal(Ints(example.GetProperty("new_ids")), Ints(line.RootElement.GetProperty("generated_ids")));
        Assert.Equal(example.GetProperty("continuation").GetString(), line.RootElement.GetProperty("generated_text").GetString());
    }

    /// <summary>The default folder's config and tokenizer with every tensor re-drawn as HF's _init_weights does:
    /// N(0, initializer_range) for matrices and embeddings, LayerNorm 1 and 0, biases 0.</summary>
    private string RandomInitCopy()
    {
        string folder = Path.Combine(_dir, "random");
        Directory.CreateDirectory(folder);
        foreach (var f in new[] { "config.json", "spiece.model", "special_tokens_map.json", "tokenizer_config.json" })
            File.Copy(Path.Combine(ModelFolder.DefaultDirectory, f), Path.Combine(folder, f));
        using var reader = BigBirdSharp.IO.CheckpointLoader.Open(ModelFolder.DefaultDirectory);
        var rng = new Random(1234);
        var entries = new List<SafeTensorsWriter.Entry>();
        foreach (var name in reader.Names.Where(n => !n.EndsWith("position_ids", StringComparison.Ordinal)))
        {
            Assert.True(reader.TryGetInfo(name, out var info));
            var shape = info.Shape.Select(d => (int)d).ToArray();
            var data = new float[info.ElementCount];
            if (name.EndsWith("LayerNorm.weight", StringComparison.Ordinal)) Array.Fill(data, 1f);
            else if (shape.Length > 1)
                for (int i = 0; i < data.Length; i++)
                    data[i] = 0.02f * RandomCheckpoint.Gaussian(rng);
            entries.Add(new SafeTensorsWriter.Entry(name, shape, data));
        }
        SafeTensorsWriter.Write(Path.Combine(folder, "model.safetensors"), entries);
        return folder;
    }
}
