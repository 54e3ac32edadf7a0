using BigBirdSharp.Modeling.Pegasus;
using FsCheck.Xunit;

namespace BigBirdSharp.Tests.Pegasus;

/// <summary>Properties of BigBirdPegasusForCausalLM's cache on the fixture checkpoints.</summary>
public sealed class BigBirdPegasusCausalLMCacheTests
{
    private static readonly Lazy<BigBirdPegasusForCausalLM> Tied = new(() => BigBirdPegasusForCausalLM.FromPretrained(PegasusFixture.ModelDir("clm")));
    private static readonly Lazy<BigBirdPegasusForCausalLM> Untied = new(() => BigBirdPegasusForCausalLM.FromPretrained(PegasusFixture.ModelDir("clm_untied")));

    // a prefix into the cache, then the remaining tokens one by one (with encoder states, whose cross keys are computed
    // once, or without) gives the logits of one uncached call over the whole sequence, and the step entry point gives
    // their last positions
    [Property(MaxTest = 12)]
    public void CachedDecodingEqualsUncached(int seed, bool untied, bool withEncoder)
    {
        var model = untied ? Untied.Value : Tied.Value;
        int vocab = model.Config.VocabSize, d = model.Config.DModel;
        var random = new Random(seed);
        int batch = random.Next(1, 3), length = random.Next(2, 10), prefix = random.Next(1, length), encoderLength = random.Next(1, 30);
        var ids = new int[batch * length];
        var mask = new int[batch * length];
        for (int i = 0; i < ids.Length; i++)
        {
            ids[i] = random.Next(0, vocab);
            mask[i] = i % length == 0 || random.Next(5) > 0 ? 1 : 0;
        }
        float[]? encoder = null;
        int[]? encoderMask = null;
        if (withEncoder)
        {
            encoder = new float[batch * encoderLength * d];
            for (int i = 0; i < encoder.Length; i++) encoder[i] = (float)(random.NextDouble() * 2 - 1);
            encoderMask = new int[batch * encoderLength];
            for (int i = 0; i < encoderMask.Length; i++) encoderMask[i] = i % encoderLength == 0 || random.Next(4) > 0 ? 1 : 0;
        }
        BigBirdPegasusCausalLMInputs Inputs(int from, int to, BigBirdPegasusKeyValueCache? cache)
        {
            var part = new int[batch * (to - from)];
            var seen = new int[batch * to];
            for (int b = 0; b < batch; b++)
            {
                ids.AsSpan(b * length + from, to - from).CopyTo(part.AsSpan(b * (to - from)));
                mask.AsSpan(b * length, to).CopyTo(seen.AsSpan(b * to));
            }
            return new BigBirdPegasusCausalLMInputs(batch, to - from)
            {
                InputIds = part, AttentionMask = seen, EncoderHiddenStates = encoder, EncoderSequenceLength = withEncoder ? encoderLength : 0,
                EncoderAttentionMask = encoderMask, PastKeyValues = cache,
            };
        }
        var whole = model.Forward(Inputs(0, length, null)).Logits.Data;
        var cache = new BigBirdPegasusKeyValueCache(model.Config, batch, length, model.Backend);
        var stepCache = new BigBirdPegasusKeyValueCache(model.Config, batch, length, model.Backend);
        for (int start = 0; start < length;)
        {
            int n = start == 0 ? prefix : 1;
            var step = model.Forward(Inputs(start, start + n, cache)).Logits.Data;
            var last = model.LastPositionLogits(Inputs(start, start + n, stepCache));
            Assert.Equal(start + n, cache.Length);
            for (int b = 0; b < batch; b++)
            {
                Tolerance.AssertAllClose(step.AsSpan(b * n * vocab, n * vocab), whole.AsSpan((b * length + start) * vocab, n * vocab),
                                         $"row {b}, tokens {start}..{start + n - 1}");
                Tolerance.AssertAllClose(last.AsSpan(b * vocab, vocab), whole.AsSpan((b * length + start + n - 1) * vocab, vocab),
                                         $"row {b}, step logits at {start + n - 1}");
            }
            start += n;
        }
    }
}
