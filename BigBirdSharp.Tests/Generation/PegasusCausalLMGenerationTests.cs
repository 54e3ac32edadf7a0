using BigBirdSharp.Generation;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Modeling.Pegasus;
using FsCheck.Xunit;

namespace BigBirdSharp.Tests.Generation;

/// <summary>
/// BigBirdPegasusForCausalLM.Generate beyond the 4.27.1 fixtures (GenerationParityTests runs those): one beam is greedy,
/// the cache changes nothing, greedy is the argmax of the public Forward step after step, concurrent generations give
/// the serial results, the prompt's mask is inferred as HF does, and every refusal is typed.
/// </summary>
public sealed class PegasusCausalLMGenerationTests
{
    private static readonly Lazy<BigBirdPegasusForCausalLM> Tied = new(() => Load("clm"));
    private static readonly Lazy<BigBirdPegasusForCausalLM> Untied = new(() => Load("clm_untied"));

    private static BigBirdPegasusForCausalLM Load(string name) =>
        BigBirdPegasusForCausalLM.FromPretrained(Path.Combine(RepoPaths.Fixtures, "pegasus", "models", name));

    private static BigBirdPegasusForCausalLM Model(bool untied) => untied ? Untied.Value : Tied.Value;

    /// <summary>A left-padded prompt batch: row 0 full, the others shorter (pad 0, mask 0 on the left).</summary>
    private static BigBirdPegasusCausalLMInputs Prompt(Random random, int batch, int vocab, bool withMask = true)
    {
        int seq = random.Next(2, 10);
        var ids = new int[batch * seq];
        var mask = new int[batch * seq];
        for (int b = 0; b < batch; b++)
        {
            int length = b == 0 ? seq : random.Next(1, seq + 1);
            for (int s = seq - length; s < seq; s++)
            {
                ids[b * seq + s] = random.Next(3, vocab);
                mask[b * seq + s] = 1;
            }
        }
        return new BigBirdPegasusCausalLMInputs(batch, seq) { InputIds = ids, AttentionMask = withMask ? mask : null };
    }

    /// <summary>Settings drawn at random; sometimes an eos so that rows stop at different steps.</summary>
    private static GenerationConfig Draw(Random random, int vocab, bool beams) => new()
    {
        MaxNewTokens = random.Next(3, 12),
        EosTokenId = random.Next(2) == 0 ? null : random.Next(3, vocab),
        PadTokenId = 0,
        NumBeams = beams ? random.Next(2, 6) : 1,
        LengthPenalty = (float)Math.Round(random.NextDouble() * 2, 2),
        EarlyStopping = random.Next(2) == 0,
        MinLength = random.Next(0, 4),
        NoRepeatNgramSize = random.Next(0, 3),
    };

    // beam search with one beam (HF refuses it, we run the same loop) is greedy: log_softmax keeps the argmax, and with
    // early_stopping a row is done at its first EOS as greedy's is (no repetition penalty: on log-probabilities it is another
    // function than on logits)
    [Property(MaxTest = 10)]
    public bool OneBeamEqualsGreedy(int seed, bool untied, bool twoRows)
    {
        var random = new Random(seed);
        var model = Model(untied);
        int batch = twoRows ? 2 : 1;
        var g = Draw(random, model.Config.VocabSize, beams: false) with { EarlyStopping = true };
        var prompt = Prompt(random, batch, model.Config.VocabSize);
        var greedy = model.GenerateOutput(prompt, g, CancellationToken.None);
        var beam = model.GenerateOutput(prompt, g, CancellationToken.None, beamSearchWithOneBeam: true);
        int common = Math.Min(greedy.Length, beam.Length);
        for (int r = 0; r < batch; r++)
        {
            if (!greedy.Sequences.AsSpan(r * greedy.Length, common).SequenceEqual(beam.Sequences.AsSpan(r * beam.Length, common))) return false;
            // past the common length only pad: greedy pads finished rows to the longest row, finalize to the longest hypothesis
            if (greedy.Sequences.AsSpan(r * greedy.Length + common, greedy.Length - common).ContainsAnyExcept(0)) return false;
            if (beam.Sequences.AsSpan(r * beam.Length + common, beam.Length - common).ContainsAnyExcept(0)) return false;
        }
        return true;
    }

    // the cache (the prompt once, then one token per step; rows moved by beam index) gives the ids and scores of decoding
    // that re-runs the whole sequence every step, for beam search and greedy search
    [Property(MaxTest = 8)]
    public void CachedEqualsUncached(int seed, bool untied, bool twoRows, bool beams)
    {
        var random = new Random(seed);
        var model = Model(untied);
        var g = Draw(random, model.Config.VocabSize, beams);
        if (beams) g = g with { NumReturnSequences = random.Next(1, g.NumBeams + 1) };
        else g = g with { RepetitionPenalty = 1.3f };
        var prompt = Prompt(random, twoRows ? 2 : 1, model.Config.VocabSize);
        var cached = model.GenerateOutput(prompt, g with { UseCache = true }, CancellationToken.None);
        var uncached = model.GenerateOutput(prompt, g with { UseCache = false }, CancellationToken.None);
        Assert.Equal(uncached.Rows, cached.Rows);
        Assert.Equal(uncached.Sequences, cached.Sequences);
        if (beams) Tolerance.AssertAllClose(cached.SequencesScores, uncached.SequencesScores, "sequences_scores");
        else Assert.Null(cached.SequencesScores);
    }

    // greedy without processors or eos is, step after step, the argmax of the public Forward's last logits over the whole
    // sequence so far with the prompt's mask extended by ones
    [Theory]
    [InlineData(false, 11)]
    [InlineData(true, 12)]
    public void GreedyIsTheArgmaxOfForwardStepByStep(bool untied, int seed)
    {
        var model = Model(untied);
        var random = new Random(seed);
        int vocab = model.Config.VocabSize, batch = 2, steps = 6;
        var prompt = Prompt(random, batch, vocab);
        var generated = model.Generate(prompt, new GenerationConfig { MaxNewTokens = steps, PadTokenId = 0 });
        int length = prompt.SequenceLength;
        var rows = Enumerable.Range(0, batch).Select(b => prompt.InputIds.AsSpan(b * length, length).ToArray().ToList()).ToArray();
        var masks = Enumerable.Range(0, batch).Select(b => prompt.AttentionMask!.AsSpan(b * length, length).ToArray().ToList()).ToArray();
        for (int step = 0; step < steps; step++)
        {
            int n = rows[0].Count;
            var output = model.Forward(new BigBirdPegasusCausalLMInputs(batch, n)
            {
                InputIds = rows.SelectMany(r => r).ToArray(), AttentionMask = masks.SelectMany(m => m).ToArray(),
            });
            for (int b = 0; b < batch; b++)
            {
                var last = output.Logits.Data.AsSpan((b * n + n - 1) * vocab, vocab);
                rows[b].Add(FirstArgMax(last));
                masks[b].Add(1);
            }
        }
        Assert.Equal(rows.SelectMany(r => r).ToArray(), generated);
    }

    /// <summary>torch.argmax: the first index of the largest value.</summary>
    private static int FirstArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best]) best = i;
        return best;
    }

    // without an attention_mask, pad tokens in the prompt are masked (HF's _prepare_attention_mask_for_generation), unless
    // pad is eos: then nothing is masked
    [Fact]
    public void WithoutAMaskPadTokensAreMaskedUnlessPadIsEos()
    {
        var model = Tied.Value;
        var masked = new BigBirdPegasusCausalLMInputs(2, 6)
        {
            InputIds = [17, 54, 91, 23, 66, 40, 0, 0, 0, 88, 12, 75], AttentionMask = [1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1],
        };
        var bare = new BigBirdPegasusCausalLMInputs(2, masked.SequenceLength) { InputIds = masked.InputIds };
        var g = new GenerationConfig { MaxNewTokens = 7, PadTokenId = 0, NumBeams = 3 };
        Assert.Equal(model.Generate(masked, g), model.Generate(bare, g));
        var ones = new BigBirdPegasusCausalLMInputs(2, masked.SequenceLength) { InputIds = masked.InputIds, AttentionMask = Enumerable.Repeat(1, masked.InputIds.Length).ToArray() };
        var padIsEos = g with { EosTokenId = 0 };
        Assert.Equal(model.Generate(ones, padIsEos), model.Generate(bare, padIsEos));
        // and the padding does matter: masked and unmasked prompts decode differently
        Assert.NotEqual(model.Generate(ones, g), model.Generate(masked, g));
    }

    // one model, many generations at once (beam and greedy, both checkpoints): each gives what it gives alone
    [Fact]
    public async Task ConcurrentGenerationsGiveTheSerialResults()
    {
        var jobs = Enumerable.Range(0, 8).Select(i =>
        {
            var random = new Random(300 + i);
            var model = Model(untied: i % 2 == 1);
            var g = Draw(random, model.Config.VocabSize, beams: i % 4 < 2);
            var prompt = Prompt(random, 2, model.Config.VocabSize);
            return (Func<int[]>)(() => model.Generate(prompt, g));
        }).ToArray();
        var serial = jobs.Select(j => j()).ToArray();
        var parallel = await Task.WhenAll(jobs.Select(j => Task.Run(j)));
        for (int i = 0; i < jobs.Length; i++) Assert.Equal(serial[i], parallel[i]);
    }

    [Fact]
    public void BeamSearchReturnsNumReturnSequencesRowsPerInputWithThePromptFirst()
    {
        var model = Untied.Value;
        var prompt = Prompt(new Random(8), 2, model.Config.VocabSize);
        var g = new GenerationConfig { MaxNewTokens = 5, PadTokenId = 0, NumBeams = 4, NumReturnSequences = 3 };
        var output = model.GenerateOutput(prompt, g, CancellationToken.None);
        Assert.Equal(6, output.Rows);
        Assert.Equal(prompt.SequenceLength + 5, output.Length);
        Assert.Equal(6 * output.Length, output.Sequences.Length);
        for (int r = 0; r < 6; r++)
            Assert.Equal(prompt.InputIds.AsSpan(r / 3 * prompt.SequenceLength, prompt.SequenceLength).ToArray(),
                         output.Sequences.AsSpan(r * output.Length, prompt.SequenceLength).ToArray());
        Assert.Equal(6, output.SequencesScores!.Length);
    }

    public static TheoryData<string, BigBirdPegasusCausalLMInputs> BadPrompts() => new()
    {
        { "past_key_values", new BigBirdPegasusCausalLMInputs(1, 3) { InputIds = [5, 6, 7], PastKeyValues = new BigBirdPegasusKeyValueCache(Tied.Value.Config, 1, 8) } },
        { "labels", new BigBirdPegasusCausalLMInputs(1, 3) { InputIds = [5, 6, 7], Labels = [6, 7, 8] } },
        { "encoder_hidden_states", new BigBirdPegasusCausalLMInputs(1, 3) { InputIds = [5, 6, 7], EncoderHiddenStates = new float[2 * 32], EncoderSequenceLength = 2 } },
        { "encoder_attention_mask", new BigBirdPegasusCausalLMInputs(1, 3) { InputIds = [5, 6, 7], EncoderAttentionMask = [1, 1] } },
        { "input_ids[1] = 120", new BigBirdPegasusCausalLMInputs(1, 3) { InputIds = [5, 120, 7] } },
        { "input_ids has 2 values", new BigBirdPegasusCausalLMInputs(1, 3) { InputIds = [5, 6] } },
        { "attention_mask has 2 values", new BigBirdPegasusCausalLMInputs(1, 3) { InputIds = [5, 6, 7], AttentionMask = [1, 1] } },
        { "attention_mask holds 2", new BigBirdPegasusCausalLMInputs(1, 3) { InputIds = [5, 6, 7], AttentionMask = [1, 2, 1] } },
        { "empty input", new BigBirdPegasusCausalLMInputs(0, 3) { InputIds = [] } },
        { "max_position_embeddings 512", new BigBirdPegasusCausalLMInputs(1, 513) { InputIds = new int[513] } },
    };

    [Theory]
    [MemberData(nameof(BadPrompts))]
    public void RejectsABadPrompt(string message, BigBirdPegasusCausalLMInputs prompt)
    {
        var e = Assert.Throws<BigBirdInputException>(() => Tied.Value.Generate(prompt, new GenerationConfig { MaxNewTokens = 3 }));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void PromptPlusNewTokensBeyondThePositionsIsRefusedNamingBoth()
    {
        var prompt = new BigBirdPegasusCausalLMInputs(1, 500) { InputIds = Enumerable.Repeat(5, 500).ToArray() };
        var e = Assert.Throws<BigBirdInputException>(() => Tied.Value.Generate(prompt, new GenerationConfig { MaxNewTokens = 13 }));
        Assert.Contains("500 start tokens + 13 new tokens exceed max_position_embeddings 512", e.Message);
    }

    [Fact]
    public void NullArgumentsAreRefused()
    {
        var prompt = new BigBirdPegasusCausalLMInputs(1, 1) { InputIds = [5] };
        Assert.Throws<ArgumentNullException>(() => Tied.Value.Generate(null!, new GenerationConfig()));
        Assert.Throws<ArgumentNullException>(() => Tied.Value.Generate(prompt, null!));
    }

    [Fact]
    public void ACancelledTokenStopsTheGeneration()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var prompt = new BigBirdPegasusCausalLMInputs(1, 2) { InputIds = [5, 6] };
        Assert.ThrowsAny<OperationCanceledException>(() => Tied.Value.Generate(prompt, new GenerationConfig { MaxNewTokens = 3 }, cts.Token));
    }

    [Fact]
    public void ADisposedModelRefusesToGenerate()
    {
        var model = Load("clm");
        model.Dispose();
        var prompt = new BigBirdPegasusCausalLMInputs(1, 2) { InputIds = [5, 6] };
        Assert.Throws<ObjectDisposedException>(() => model.Generate(prompt, new GenerationConfig { MaxNewTokens = 3 }));
    }
}
