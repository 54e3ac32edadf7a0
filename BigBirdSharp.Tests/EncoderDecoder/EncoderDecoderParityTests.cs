using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling.EncoderDecoder;
using BigBirdSharp.Modeling.Heads;

namespace BigBirdSharp.Tests.EncoderDecoder;

/// <summary>The BigBird encoder-decoder against transformers 4.27.1 (fixtures/encoder_decoder): logits, encoder states and
/// loss within |a − b| ≤ 1e-4 + 1e-4·|b|, and greedy ids token for token, with and without HF's cache.</summary>
public sealed class EncoderDecoderParityTests
{
    public static TheoryData<string> ForwardCases() => new(EncoderDecoderFixture.Names(c => c.Generate is null));

    public static TheoryData<string> GreedyCases() => new(EncoderDecoderFixture.Names(c => c.NumBeams == 1));

    public static TheoryData<string> BeamCases() => new(EncoderDecoderFixture.Names(c => c.NumBeams > 1));

    [Theory]
    [MemberData(nameof(ForwardCases))]
    public void ForwardMatchesPyTorch(string name)
    {
        var c = EncoderDecoderFixture.Load(name);
        using var model = EncoderDecoderModel.FromPretrained(c.ModelPath);
        var output = model.Forward(c.Inputs(), c.Options);
        Tolerance.AssertAllClose(output.EncoderLastHiddenState.Data, c.Expected("encoder_last_hidden_state"), $"{name}/encoder_last_hidden_state");
        Assert.Equal([c.Batch, c.Seq, model.Config.Encoder.HiddenSize], output.EncoderLastHiddenState.Shape);
        Tolerance.AssertAllClose(output.Logits.Data, c.Expected("logits"), $"{name}/logits");
        Assert.Equal([c.Batch, c.DecoderSeq, model.Config.Decoder.VocabSize], output.Logits.Shape);
        var expectedType = c.Seq <= model.Config.Encoder.MaxTokensToAttend ? AttentionType.OriginalFull : AttentionType.BlockSparse;
        Assert.Equal(expectedType, output.EncoderAttentionType);
        if (c.Has("loss"))
        {
            Assert.NotNull(output.Loss);
            Tolerance.AssertAllClose([output.Loss!.Value], c.Expected("loss"), $"{name}/loss");
        }
        else
        {
            Assert.Null(output.Loss);
        }
    }

    [Theory]
    [MemberData(nameof(GreedyCases))]
    public void GreedyIdsMatchPyTorch(string name)
    {
        var c = EncoderDecoderFixture.Load(name);
        var g = c.Generate!.Value;
        Assert.False(g.GetProperty("do_sample").GetBoolean());
        using var model = EncoderDecoderModel.FromPretrained(c.ModelPath);
        Assert.Equal(g.GetProperty("decoder_start_token_id").GetInt32(), model.Config.DecoderStartTokenId);
        var eos = g.GetProperty("eos_token_id");
        var generation = new GenerationConfig
        {
            MaxNewTokens = g.GetProperty("max_new_tokens").GetInt32(),
            EosTokenId = eos.ValueKind == System.Text.Json.JsonValueKind.Null ? null : eos.GetInt32(),
            PadTokenId = g.GetProperty("pad_token_id").GetInt32(),
        };
        foreach (var (useCache, tensor) in new[] { (true, "sequences"), (false, "sequences_use_cache_false") })
        {
            var ids = model.Generate(c.EncoderInputs(), generation with { UseCache = useCache }, c.Options);
            var expected = c.ExpectedSequences(tensor, out var shape);
            Assert.True(expected.SequenceEqual(ids),
                $"{name}/{tensor}: got [{string.Join(", ", ids)}], expected [{string.Join(", ", expected)}] (shape [{string.Join(", ", shape)}])");
        }
    }

    /// <summary>Beam search through the generic search (GenerationSearch) with HF's processors: 4.27.1's ids, with and
    /// without its cache (which differ for this model in 4.27.1).</summary>
    [Theory]
    [MemberData(nameof(BeamCases))]
    public void BeamIdsMatchPyTorch(string name)
    {
        var c = EncoderDecoderFixture.Load(name);
        var g = c.Generate!.Value;
        using var model = EncoderDecoderModel.FromPretrained(c.ModelPath);
        Assert.Equal(g.GetProperty("decoder_start_token_id").GetInt32(), model.Config.DecoderStartTokenId);
        int? Int(string field) => g.GetProperty(field).ValueKind == System.Text.Json.JsonValueKind.Null ? null : g.GetProperty(field).GetInt32();
        var generation = new GenerationConfig
        {
            MaxNewTokens = Int("max_new_tokens"),
            EosTokenId = Int("eos_token_id"),
            PadTokenId = Int("pad_token_id"),
            NumBeams = Int("num_beams")!.Value,
            MinLength = Int("min_length")!.Value,
            NoRepeatNgramSize = Int("no_repeat_ngram_size")!.Value,
            RepetitionPenalty = g.GetProperty("repetition_penalty").GetSingle(),
            LengthPenalty = g.GetProperty("length_penalty").GetSingle(),
            EarlyStopping = g.GetProperty("early_stopping").GetBoolean(),
            NumReturnSequences = Int("num_return_sequences")!.Value,
            ForcedBosTokenId = Int("forced_bos_token_id"),
            ForcedEosTokenId = Int("forced_eos_token_id"),
        };
        foreach (var (useCache, tensor) in new[] { (true, "sequences"), (false, "sequences_use_cache_false") })
        {
            var ids = model.Generate(c.EncoderInputs(), generation with { UseCache = useCache }, c.Options);
            var expected = c.ExpectedSequences(tensor, out var shape);
            Assert.True(expected.SequenceEqual(ids),
                $"{name}/{tensor}: got [{string.Join(", ", ids)}], expected [{string.Join(", ", expected)}] (shape [{string.Join(", ", shape)}])");
        }
    }
}
