using System.Text.Json;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Pipelines;

namespace BigBirdSharp.Tests.Pipelines;

/// <summary>TokenClassificationPipeline against HF's TokenClassificationPipeline (fixtures/pipelines), and its errors.</summary>
public sealed class TokenClassificationPipelineTests : IDisposable
{
    private readonly BigBirdPreTrainedModel model = BigBirdPreTrainedModel.Load(PipelineFixtures.Model("tokcls"));
    private TokenClassificationPipeline Pipeline => new(model, PipelineFixtures.Tokenizer);

    public void Dispose() => model.Dispose();

    public static TheoryData<int> CaseIndices() => [.. Enumerable.Range(0, PipelineFixtures.Cases("token_classification").GetArrayLength())];

    private static AggregationStrategy Strategy(string name) => name switch
    {
        "none" => AggregationStrategy.None,
        "simple" => AggregationStrategy.Simple,
        "first" => AggregationStrategy.First,
        "average" => AggregationStrategy.Average,
        "max" => AggregationStrategy.Max,
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void Every_aggregation_strategy_matches_HF(int index)
    {
        var c = PipelineFixtures.Cases("token_classification")[index];
        string text = c.GetProperty("text").GetString()!;
        var options = PipelineFixtures.Options(c);
        string where = $"case {index} ({c.GetProperty("attention_type").GetString()}, \"{text[..Math.Min(30, text.Length)]}\")";
        int runs = 0;
        foreach (var run in c.GetProperty("runs").EnumerateArray())
        {
            var strategy = Strategy(run.GetProperty("aggregation_strategy").GetString()!);
            var ignore = run.GetProperty("ignore_labels").EnumerateArray().Select(x => x.GetString()!).ToArray();
            var result = Pipeline.Run(text, strategy, ignore, options: options);
            if (runs++ == 0)
            {
                Assert.Equal(PipelineFixtures.Ints(c.GetProperty("input_ids")), result.Input.Encoding.InputIds);
                Assert.Equal(c.GetProperty("truncated").GetBoolean(), result.Input.Truncated);
                var offsets = c.GetProperty("offsets").EnumerateArray().Select(o => (o[0].GetInt32(), o[1].GetInt32())).ToArray();
                Assert.Equal(offsets, result.Input.Encoding.Offsets.Select(o => (o.Start, o.End)).ToArray());
                Tolerance.AssertAllClose(result.Logits, PipelineFixtures.Floats(c.GetProperty("logits")), where + " logits");
            }
            var expected = run.GetProperty("entities").EnumerateArray().ToArray();
            string what = $"{where}, {strategy}, ignore [{string.Join(",", ignore)}]";
            Assert.True(expected.Length == result.Entities.Count, $"{what}: {result.Entities.Count} entities, HF has {expected.Length}");
            for (int i = 0; i < expected.Length; i++)
            {
                var (e, a) = (expected[i], result.Entities[i]);
                bool grouped = e.TryGetProperty("entity_group", out var group);
                Assert.Equal(grouped, a.IsGroup);
                Assert.Equal((grouped ? group : e.GetProperty("entity")).GetString(), a.Entity);
                Assert.Equal(e.GetProperty("word").GetString(), a.Word);
                Assert.Equal((e.GetProperty("start").GetInt32(), e.GetProperty("end").GetInt32()), (a.Start, a.End));
                if (!grouped) Assert.Equal(e.GetProperty("index").GetInt32(), a.Index);
                Assert.True(Tolerance.Close(a.Score, e.GetProperty("score").GetSingle()),
                            $"{what}, entity {i}: score {a.Score}, HF {e.GetProperty("score").GetSingle()}");
            }
        }
        Assert.Equal(10, runs); // five strategies, each with ["O"] and with nothing ignored
    }

    [Fact]
    public void The_fixtures_exercise_every_rule()
    {
        // what the parity cases must contain for the comparison above to mean something
        var all = PipelineFixtures.Cases("token_classification").EnumerateArray().ToArray();
        Assert.Contains(all, c => c.GetProperty("attention_ran").GetString() == "block_sparse" && c.GetProperty("truncated").GetBoolean());
        Assert.Contains(all, c => c.GetProperty("attention_ran").GetString() == "block_sparse" && !c.GetProperty("truncated").GetBoolean());
        Assert.Contains(all, c => c.GetProperty("truncated").GetBoolean());
        var none = all.SelectMany(c => c.GetProperty("runs").EnumerateArray())
            .Where(r => r.GetProperty("aggregation_strategy").GetString() == "none" && r.GetProperty("ignore_labels").GetArrayLength() == 0)
            .SelectMany(r => r.GetProperty("entities").EnumerateArray()).Select(e => e.GetProperty("entity").GetString()).ToHashSet();
        Assert.Superset(new HashSet<string?> { "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "MISC" }, none);
        var first = all.SelectMany(c => c.GetProperty("runs").EnumerateArray())
            .Where(r => r.GetProperty("aggregation_strategy").GetString() == "first")
            .SelectMany(r => r.GetProperty("entities").EnumerateArray()).Select(e => e.GetProperty("word").GetString()).ToHashSet();
        Assert.Contains(first, w => w!.Contains("Microsoft", StringComparison.Ordinal)); // five pieces made one word
    }

    [Fact]
    public void Ignore_labels_drops_exactly_the_entities_of_those_labels()
    {
        string text = PipelineFixtures.Cases("token_classification")[1].GetProperty("text").GetString()!;
        var all = Pipeline.Run(text, ignoreLabels: []).Entities;
        var withoutLoc = Pipeline.Run(text, ignoreLabels: ["B-LOC", "I-LOC"]).Entities;
        Assert.Contains(all, e => e.Entity == "B-LOC");
        Assert.Equal(all.Where(e => e.Entity is not ("B-LOC" or "I-LOC")), withoutLoc);
        Assert.Equal(all.Where(e => e.Entity != "O"), Pipeline.Run(text).Entities); // HF's default: ["O"]
        var groups = Pipeline.Run(text, AggregationStrategy.Simple, ["LOC"]).Entities;
        Assert.DoesNotContain(groups, e => e.Entity == "LOC");
        Assert.Equal(Pipeline.Run(text, AggregationStrategy.Simple, []).Entities.Where(e => e.Entity != "LOC"), groups);
    }

    [Fact]
    public void Another_head_is_refused()
    {
        using var mc = BigBirdPreTrainedModel.Load(PipelineFixtures.Model("multichoice"));
        var e = Assert.Throws<ArgumentException>(() => new TokenClassificationPipeline(mc, PipelineFixtures.Tokenizer));
        Assert.Contains("BigBirdForMultipleChoice", e.Message);
    }

    [Fact]
    public void A_model_without_id2label_is_refused()
    {
        var (head, reader) = PipelineFixtures.LoadEdited("tokcls", "BigBirdForTokenClassification",
                                                         c => c with { Id2Label = new Dictionary<int, string>() });
        using (reader)
        using (head)
        {
            var e = Assert.Throws<BigBirdConfigException>(() => new TokenClassificationPipeline(head, PipelineFixtures.Tokenizer));
            Assert.Contains("id2label", e.Message);
        }
    }

    [Fact]
    public void An_id2label_that_misses_a_label_is_refused()
    {
        var (head, reader) = PipelineFixtures.LoadEdited("tokcls", "BigBirdForTokenClassification",
            c => c with { Id2Label = Enumerable.Range(0, 6).Where(i => i != 4).ToDictionary(i => i == 5 ? 9 : i, i => $"L{i}") });
        using (reader)
        using (head)
        {
            var e = Assert.Throws<BigBirdConfigException>(() => new TokenClassificationPipeline(head, PipelineFixtures.Tokenizer));
            Assert.Contains("no label 4", e.Message);
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public void Empty_text_is_refused(string text) =>
        Assert.Contains("empty", Assert.Throws<BigBirdInputException>(() => Pipeline.Run(text)).Message);

    [Fact]
    public void Text_too_long_is_refused_when_truncation_is_off()
    {
        var c = PipelineFixtures.Cases("token_classification").EnumerateArray().First(c => c.GetProperty("truncated").GetBoolean());
        string text = c.GetProperty("text").GetString()!;
        var e = Assert.Throws<BigBirdInputException>(() => Pipeline.Run(text, overlong: OverlongInput.Reject));
        Assert.Contains("max_position_embeddings (256)", e.Message);
    }

    [Fact]
    public void A_cancelled_token_stops_the_run() =>
        Assert.ThrowsAny<OperationCanceledException>(() => Pipeline.Run("John lives in Geneva.", cancellationToken: PipelineFixtures.Cancelled()));

    [Fact]
    public void A_disposed_model_is_refused()
    {
        var head = BigBirdPreTrainedModel.Load(PipelineFixtures.Model("tokcls"));
        var pipeline = new TokenClassificationPipeline(head, PipelineFixtures.Tokenizer);
        head.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pipeline.Run("John lives in Geneva."));
    }

    [Fact]
    public void Null_arguments_are_refused()
    {
        Assert.Throws<ArgumentNullException>(() => new TokenClassificationPipeline(null!, PipelineFixtures.Tokenizer));
        Assert.Throws<ArgumentNullException>(() => new TokenClassificationPipeline(model, null!));
        Assert.Throws<ArgumentNullException>(() => Pipeline.Run(null!));
    }

    [Fact]
    public void An_undefined_strategy_is_refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Pipeline.Run("John lives in Geneva.", (AggregationStrategy)7));
}
