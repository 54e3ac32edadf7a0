using BigBirdSharp.Generation;
using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Modeling.Pegasus;
using BigBirdSharp.RandomAttention;
using FsCheck.Xunit;

namespace BigBirdSharp.Tests.Generation;

/// <summary>Properties of greedy and beam search on the fixture checkpoints.</summary>
public sealed class GenerationPropertyTests
{
    private static readonly Lazy<BigBirdPegasusForConditionalGeneration> Pegasus =
        new(() => BigBirdPegasusForConditionalGeneration.FromPretrained(Path.Combine(RepoPaths.Fixtures, "pegasus", "models", "cg_bs")));
    private static readonly Lazy<BigBirdForCausalLM> Causal =
        new(() => BigBirdForCausalLM.FromPretrained(Path.Combine(RepoPaths.Fixtures, "heads", "models", "causal_full")));

    private static readonly BigBirdForwardOptions Seeded = new() { RandomAttention = RandomAttentionSemantics.Seeded };

    private static BigBirdPegasusInputs Document(Random random, int batch, int minLength, int maxLength, int vocab)
    {
        int seq = random.Next(minLength, maxLength + 1);
        var ids = new int[batch * seq];
        var mask = new int[batch * seq];
        for (int b = 0; b < batch; b++)
        {
            int length = b == 0 ? seq : random.Next(1, seq + 1);
            for (int s = 0; s < length; s++)
            {
                ids[b * seq + s] = random.Next(3, vocab);
                mask[b * seq + s] = 1;
            }
        }
        return new BigBirdPegasusInputs(batch, seq) { InputIds = ids, AttentionMask = mask };
    }

    private static BigBirdInputs Prompt(Random random, int batch, int vocab)
    {
        int seq = random.Next(2, 9);
        var ids = new int[batch * seq];
        var mask = new int[batch * seq];
        for (int b = 0; b < batch; b++)
        {
            int length = b == 0 ? seq : random.Next(1, seq + 1); // left padding
            for (int s = seq - length; s < seq; s++)
            {
                ids[b * seq + s] = random.Next(3, vocab);
                mask[b * seq + s] = 1;
            }
        }
        return new BigBirdInputs(batch, seq) { InputIds = ids, AttentionMask = mask };
    }

    /// <summary>Settings drawn at random; eos from the tokens the model emits, so rows do stop.</summary>
    private static GenerationConfig Draw(Random random, int vocab, bool beams)
    {
        return new GenerationConfig
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
    }

    // beam search with one beam (HF refuses it, we run the same loop) is greedy search: log_softmax keeps the argmax, and
    // with early_stopping the row is done at its first EOS, as greedy's row is; the repetition penalty is left out, since on
    // log-probabilities it is a different function than on logits
    [Property(MaxTest = 10)]
    public bool OneBeamEqualsGreedy(int seed, bool pegasus, bool twoRows)
    {
        var random = new Random(seed);
        int batch = twoRows ? 2 : 1;
        var g = Draw(random, pegasus ? Pegasus.Value.Config.VocabSize : Causal.Value.Config.VocabSize, beams: false) with { EarlyStopping = true };
        if (pegasus)
        {
            var inputs = Document(random, batch, 20, 200, Pegasus.Value.Config.VocabSize);
            var greedy = Pegasus.Value.GenerateOutput(inputs, g, Seeded, CancellationToken.None);
            var beam = Pegasus.Value.GenerateOutput(inputs, g, Seeded, CancellationToken.None, beamSearchWithOneBeam: true);
            return Same(greedy.Sequences, greedy.Length, beam.Sequences, beam.Length, batch);
        }
        var prompt = Prompt(random, batch, Causal.Value.Config.VocabSize);
        var a = Causal.Value.GenerateOutput(prompt, g, null, CancellationToken.None);
        var b = Causal.Value.GenerateOutput(prompt, g, null, CancellationToken.None, beamSearchWithOneBeam: true);
        return Same(a.Sequences, a.Length, b.Sequences, b.Length, batch);
    }

    // equal up to the common length; past it, the longer output holds only pad (greedy pads finished rows to the longest
    // row's length; beam search's finalize pads to the longest hypothesis + its EOS)
    private static bool Same(int[] a, int aLength, int[] b, int bLength, int rows)
    {
        int common = Math.Min(aLength, bLength);
        for (int r = 0; r < rows; r++)
        {
            if (!a.AsSpan(r * aLength, common).SequenceEqual(b.AsSpan(r * bLength, common))) return false;
            if (a.AsSpan(r * aLength + common, aLength - common).ContainsAnyExcept(0)) return false;
            if (b.AsSpan(r * bLength + common, bLength - common).ContainsAnyExcept(0)) return false;
        }
        return true;
    }

    // beam search with the cache (one token per step, self-attention rows moved by beam index, cross-attention computed
    // once) gives the ids and scores of beam search that re-runs the whole decoder sequence every step
    [Property(MaxTest = 8)]
    public void CachedBeamSearchEqualsUncached(int seed, bool pegasus, bool twoRows)
    {
        var random = new Random(seed);
        int batch = twoRows ? 2 : 1;
        var g = Draw(random, pegasus ? Pegasus.Value.Config.VocabSize : Causal.Value.Config.VocabSize, beams: true);
        g = g with { NumReturnSequences = random.Next(1, g.NumBeams + 1) };
        GenerationOutput cached, uncached;
        if (pegasus)
        {
            var inputs = Document(random, batch, 20, 200, Pegasus.Value.Config.VocabSize);
            cached = Pegasus.Value.GenerateOutput(inputs, g with { UseCache = true }, Seeded, CancellationToken.None);
            uncached = Pegasus.Value.GenerateOutput(inputs, g with { UseCache = false }, Seeded, CancellationToken.None);
        }
        else
        {
            var prompt = Prompt(random, batch, Causal.Value.Config.VocabSize);
            cached = Causal.Value.GenerateOutput(prompt, g with { UseCache = true }, null, CancellationToken.None);
            uncached = Causal.Value.GenerateOutput(prompt, g with { UseCache = false }, null, CancellationToken.None);
        }
        Assert.Equal(uncached.Sequences, cached.Sequences);
        Tolerance.AssertAllClose(cached.SequencesScores, uncached.SequencesScores, "sequences_scores");
    }

    // one model, many generations at once (beam and greedy, both models): each gives what it gives alone
    [Fact]
    public async Task ConcurrentGenerationsGiveTheSerialResults()
    {
        var jobs = Enumerable.Range(0, 8).Select(i =>
        {
            var random = new Random(100 + i);
            bool pegasus = i % 2 == 0;
            var g = Draw(random, pegasus ? Pegasus.Value.Config.VocabSize : Causal.Value.Config.VocabSize, beams: i % 4 < 2);
            Func<int[]> run = pegasus
                ? Run(Pegasus.Value, Document(random, 2, 30, 180, Pegasus.Value.Config.VocabSize), g)
                : Run(Causal.Value, Prompt(random, 2, Causal.Value.Config.VocabSize), g);
            return run;
        }).ToArray();
        var serial = jobs.Select(j => j()).ToArray();
        var parallel = await Task.WhenAll(jobs.Select(j => Task.Run(j)));
        for (int i = 0; i < jobs.Length; i++) Assert.Equal(serial[i], parallel[i]);
    }

    private static Func<int[]> Run(BigBirdPegasusForConditionalGeneration model, BigBirdPegasusInputs inputs, GenerationConfig g) =>
        () => model.Generate(inputs, g, Seeded);

    private static Func<int[]> Run(BigBirdForCausalLM model, BigBirdInputs inputs, GenerationConfig g) => () => model.Generate(inputs, g);
}
