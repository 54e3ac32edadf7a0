using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Modeling.Pegasus;

namespace BigBirdSharp.Tests.Generation;

/// <summary>Every validation of generate's settings is a typed <see cref="BigBirdInputException"/> that names the setting,
/// on every generating model.</summary>
public sealed class GenerationErrorTests
{
    private static readonly Lazy<BigBirdPegasusForConditionalGeneration> Pegasus =
        new(() => BigBirdPegasusForConditionalGeneration.FromPretrained(Path.Combine(RepoPaths.Fixtures, "pegasus", "models", "cg_full")));
    private static readonly Lazy<BigBirdPegasusForCausalLM> PegasusCausal =
        new(() => BigBirdPegasusForCausalLM.FromPretrained(Path.Combine(RepoPaths.Fixtures, "pegasus", "models", "clm")));
    private static readonly Lazy<BigBirdForCausalLM> Causal =
        new(() => BigBirdForCausalLM.FromPretrained(Path.Combine(RepoPaths.Fixtures, "heads", "models", "causal_full")));

    public static TheoryData<string, GenerationConfig> Invalid() => new()
    {
        { "max_new_tokens", new GenerationConfig { MaxNewTokens = -1 } },
        { "max_length", new GenerationConfig { MaxLength = 0 } },
        { "min_length", new GenerationConfig { MinLength = -1 } },
        { "min_new_tokens", new GenerationConfig { MinNewTokens = -2 } },
        { "min_length", new GenerationConfig { MaxNewTokens = 4, MinLength = 40 } },
        { "num_beams", new GenerationConfig { NumBeams = 0 } },
        { "num_return_sequences", new GenerationConfig { NumReturnSequences = 0 } },
        { "num_return_sequences", new GenerationConfig { NumReturnSequences = 2 } },
        { "num_return_sequences", new GenerationConfig { NumBeams = 3, NumReturnSequences = 4 } },
        { "beam sampling", new GenerationConfig { NumBeams = 3, DoSample = true } },
        { "length_penalty", new GenerationConfig { NumBeams = 2, LengthPenalty = float.NaN } },
        { "length_penalty", new GenerationConfig { NumBeams = 2, LengthPenalty = float.PositiveInfinity } },
        { "temperature", new GenerationConfig { DoSample = true, Temperature = 0 } },
        { "top_p", new GenerationConfig { DoSample = true, TopP = 1.5f } },
        { "top_k", new GenerationConfig { TopK = -1 } },
        { "repetition_penalty", new GenerationConfig { RepetitionPenalty = 0 } },
        { "no_repeat_ngram_size", new GenerationConfig { NoRepeatNgramSize = -1 } },
        { "eos_token_id", new GenerationConfig { EosTokenId = 5000 } },
        { "pad_token_id", new GenerationConfig { PadTokenId = -1 } },
        { "forced_bos_token_id", new GenerationConfig { ForcedBosTokenId = 5000 } },
        { "forced_eos_token_id", new GenerationConfig { ForcedEosTokenId = -3 } },
        { "max_position_embeddings", new GenerationConfig { MaxNewTokens = 600 } },
        { "max_position_embeddings", new GenerationConfig { MaxLength = 600 } },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void PegasusRejects(string field, GenerationConfig g)
    {
        var inputs = new BigBirdPegasusInputs(1, 5) { InputIds = [5, 6, 7, 8, 9] };
        var e = Assert.Throws<BigBirdInputException>(() => Pegasus.Value.Generate(inputs, g));
        Assert.Contains(field, e.Message);
    }

    [Theory]
    [MemberData(nameof(Invalid))]
    public void CausalLMRejects(string field, GenerationConfig g)
    {
        var prompt = new BigBirdInputs(1, 3) { InputIds = [5, 6, 7] };
        var e = Assert.Throws<BigBirdInputException>(() => Causal.Value.Generate(prompt, g));
        Assert.Contains(field, e.Message);
    }

    [Theory]
    [MemberData(nameof(Invalid))]
    public void PegasusCausalLMRejects(string field, GenerationConfig g)
    {
        var prompt = new BigBirdPegasusCausalLMInputs(1, 3) { InputIds = [5, 6, 7] };
        var e = Assert.Throws<BigBirdInputException>(() => PegasusCausal.Value.Generate(prompt, g));
        Assert.Contains(field, e.Message);
    }

    [Fact]
    public void PegasusRejectsADecoderStartOutsideTheVocabulary()
    {
        var inputs = new BigBirdPegasusInputs(1, 5) { InputIds = [5, 6, 7, 8, 9] };
        var e = Assert.Throws<BigBirdInputException>(() => Pegasus.Value.Generate(inputs, new GenerationConfig { DecoderStartTokenId = 999 }));
        Assert.Contains("decoder_start_token_id", e.Message);
    }

    // HF's max_length counts the decoder start token (or the prompt); max_new_tokens wins over it
    [Fact]
    public void MaxNewTokensWinsOverMaxLength()
    {
        var inputs = new BigBirdPegasusInputs(1, 5) { InputIds = [5, 6, 7, 8, 9] };
        Assert.Equal(7, Pegasus.Value.Generate(inputs, new GenerationConfig { MaxLength = 7 }).Length);
        Assert.Equal(1 + 4, Pegasus.Value.Generate(inputs, new GenerationConfig { MaxLength = 7, MaxNewTokens = 4 }).Length);
        var prompt = new BigBirdInputs(1, 3) { InputIds = [5, 6, 7] };
        Assert.Equal(20, Causal.Value.Generate(prompt, new GenerationConfig()).Length);
        Assert.Equal(3 + 2, Causal.Value.Generate(prompt, new GenerationConfig { MaxNewTokens = 2 }).Length);
    }

    // num_return_sequences rows per input, best first: beam search's finalize
    [Fact]
    public void BeamSearchReturnsNumReturnSequencesRowsPerInput()
    {
        var prompt = new BigBirdInputs(2, 3) { InputIds = [5, 6, 7, 8, 9, 10] };
        var ids = Causal.Value.Generate(prompt, new GenerationConfig { MaxNewTokens = 4, NumBeams = 3, NumReturnSequences = 3 });
        Assert.Equal(2 * 3 * (3 + 4), ids.Length);
        for (int r = 0; r < 6; r++) Assert.Equal(r < 3 ? [5, 6, 7] : new[] { 8, 9, 10 }, ids.AsSpan(r * 7, 3).ToArray());
    }
}
