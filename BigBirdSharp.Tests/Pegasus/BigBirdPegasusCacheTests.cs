using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Modeling.Pegasus;
using BigBirdSharp.RandomAttention;
using FsCheck.Xunit;

namespace BigBirdSharp.Tests.Pegasus;

/// <summary>Properties of the decoder's key/value cache on the fixture checkpoints.</summary>
public sealed class BigBirdPegasusCacheTests
{
    private static readonly Lazy<BigBirdPegasusForConditionalGeneration> BlockSparse =
        new(() => BigBirdPegasusForConditionalGeneration.FromPretrained(PegasusFixture.ModelDir("cg_bs")));
    private static readonly Lazy<BigBirdPegasusForConditionalGeneration> Full =
        new(() => BigBirdPegasusForConditionalGeneration.FromPretrained(PegasusFixture.ModelDir("cg_full")));

    private static readonly BigBirdForwardOptions Seeded = new() { RandomAttention = RandomAttentionSemantics.Seeded };

    private static BigBirdPegasusInputs RandomDocument(int seed, int batch, int minLength, int maxLength, int vocab)
    {
        var random = new Random(seed);
        int seq = random.Next(minLength, maxLength + 1);
        var ids = new int[batch * seq];
        var mask = new int[batch * seq];
        for (int b = 0; b < batch; b++)
        {
            int length = b == 0 ? seq : random.Next(1, seq + 1); // later rows padded on the right
            for (int s = 0; s < seq; s++)
            {
                ids[b * seq + s] = s < length ? random.Next(3, vocab) : 0;
                mask[b * seq + s] = s < length ? 1 : 0;
            }
        }
        return new BigBirdPegasusInputs(batch, seq) { InputIds = ids, AttentionMask = mask };
    }

    // greedy generation with the cache (one token per step, cross-attention keys computed once) gives the same ids as
    // generation that re-runs the whole decoder sequence every step
    [Property(MaxTest = 12)]
    public bool CachedGenerationEqualsUncached(int seed, bool blockSparse, bool twoRows)
    {
        var model = blockSparse ? BlockSparse.Value : Full.Value;
        var inputs = RandomDocument(seed, twoRows ? 2 : 1, 20, 260, model.Config.VocabSize);
        var cached = model.Generate(inputs, new GenerationConfig { MaxNewTokens = 9, UseCache = true }, Seeded);
        var uncached = model.Generate(inputs, new GenerationConfig { MaxNewTokens = 9, UseCache = false }, Seeded);
        return cached.SequenceEqual(uncached);
    }

    // decoding a prefix into a cache and then the remaining tokens one by one gives the logits of one uncached call
    [Property(MaxTest = 12)]
    public void CachedForwardEqualsUncached(int seed, bool blockSparse)
    {
        var model = blockSparse ? BlockSparse.Value : Full.Value;
        var document = RandomDocument(seed, 2, 30, 200, model.Config.VocabSize);
        var random = new Random(seed ^ 0x5eed);
        int length = random.Next(2, 9), prefix = random.Next(1, length);
        var decoder = new int[2 * length];
        for (int i = 0; i < decoder.Length; i++) decoder[i] = random.Next(3, model.Config.VocabSize);
        var whole = model.Forward(new BigBirdPegasusInputs(2, document.SequenceLength)
        {
            InputIds = document.InputIds, AttentionMask = document.AttentionMask, DecoderInputIds = decoder, DecoderSequenceLength = length,
        }, Seeded);

        var cache = new BigBirdPegasusKeyValueCache(model.Config, 2, length, model.Model.Backend);
        int vocab = model.Config.VocabSize;
        for (int start = 0; start < length;)
        {
            int n = start == 0 ? prefix : 1;
            var ids = new int[2 * n];
            for (int b = 0; b < 2; b++) decoder.AsSpan(b * length + start, n).CopyTo(ids.AsSpan(b * n));
            var step = model.Forward(new BigBirdPegasusInputs(2, document.SequenceLength)
            {
                InputIds = document.InputIds, AttentionMask = document.AttentionMask, DecoderInputIds = ids, DecoderSequenceLength = n,
                PastKeyValues = cache,
            }, Seeded);
            Assert.Equal(start + n, cache.Length);
            for (int b = 0; b < 2; b++)
                Tolerance.AssertAllClose(step.Logits.Data.AsSpan(b * n * vocab, n * vocab), whole.Logits.Data.AsSpan((b * length + start) * vocab, n * vocab),
                                         $"row {b}, tokens {start}..{start + n - 1}");
            start += n;
        }
    }
}
