namespace BigBirdSharp.Generation;

/// <summary>
/// HF's logits processors that <c>_get_logits_processor</c> (transformers 4.27.1) builds from the settings, in its order:
/// RepetitionPenaltyLogitsProcessor, NoRepeatNGramLogitsProcessor, MinLengthLogitsProcessor,
/// MinNewTokensLengthLogitsProcessor, ForcedBOSTokenLogitsProcessor, ForcedEOSTokenLogitsProcessor. Each works on one row
/// with that row's tokens so far (prompt or decoder start token included), as HF's batched versions do row by row.
/// Not thread-safe (a scratch stamp table); one per generation. Allocates nothing per call.
/// </summary>
internal sealed class LogitsProcessorList(GenerationPlan plan)
{
    private readonly float _repetitionPenalty = plan.Settings.RepetitionPenalty;
    private readonly int _noRepeatNgramSize = plan.Settings.NoRepeatNgramSize;
    private readonly int _minLength = plan.Settings.MinLength, _minNewTokens = plan.Settings.MinNewTokens;
    private readonly int? _eos = plan.EosTokenId, _forcedBos = plan.Settings.ForcedBosTokenId, _forcedEos = plan.Settings.ForcedEosTokenId;
    private readonly int _promptLength = plan.StartLength, _maxLength = plan.MaxLength;
    private readonly int[] _stamp = new int[plan.VocabSize];
    private int _pass;

    /// <summary>Applies every processor to <paramref name="scores"/>, one row of [vocab], given the row's tokens so far.</summary>
    public void Process(Span<float> scores, ReadOnlySpan<int> sequence)
    {
        int cur_len = sequence.Length;
        if (_repetitionPenalty != 1f) RepetitionPenalty(scores, sequence, _repetitionPenalty);
        if (_noRepeatNgramSize > 0) NoRepeatNGram(scores, sequence, _noRepeatNgramSize);
        // MinLengthLogitsProcessor: cur_len counts the whole sequence
        if (_eos is int eos)
        {
            if (_minLength > 0 && cur_len < _minLength) scores[eos] = float.NegativeInfinity;
            // MinNewTokensLengthLogitsProcessor: tokens after the prompt (or the decoder start token)
            if (_minNewTokens > 0 && cur_len - _promptLength < _minNewTokens) scores[eos] = float.NegativeInfinity;
        }
        // ForcedBOSTokenLogitsProcessor: the first generated token of a one-token start
        if (_forcedBos is int bos && cur_len == 1) ForceToken(scores, bos);
        // ForcedEOSTokenLogitsProcessor: the token that reaches max_length
        if (_forcedEos is int forced && cur_len == _maxLength - 1) ForceToken(scores, forced);
    }

    private static void ForceToken(Span<float> scores, int token)
    {
        scores.Fill(float.NegativeInfinity);
        scores[token] = 0;
    }

    /// <summary>RepetitionPenaltyLogitsProcessor: each distinct token of <paramref name="sequence"/> has its score divided by
    /// <paramref name="penalty"/> when positive, multiplied when negative (once, however often it occurs).</summary>
    private void RepetitionPenalty(Span<float> scores, ReadOnlySpan<int> sequence, float penalty)
    {
        if (++_pass == int.MaxValue)
        {
            Array.Clear(_stamp);
            _pass = 1;
        }
        foreach (int token in sequence)
        {
            if (_stamp[token] == _pass) continue;
            _stamp[token] = _pass;
            float s = scores[token];
            scores[token] = s < 0 ? s * penalty : s / penalty;
        }
    }

    /// <summary>The same penalty without a stamp table (for callers that have no list).</summary>
    internal static void RepetitionPenaltyOnce(Span<float> scores, ReadOnlySpan<int> sequence, float penalty)
    {
        var list = new LogitsProcessorList(new GenerationPlan
        {
            Settings = new Modeling.Heads.GenerationConfig(), Batch = 1, StartLength = 1, MaxLength = 1, EosTokenId = null, PadTokenId = 0,
            VocabSize = scores.Length,
        });
        list.RepetitionPenalty(scores, sequence, penalty);
    }

    /// <summary>NoRepeatNGramLogitsProcessor: bans (−∞) each token that, appended to <paramref name="sequence"/>, would repeat
    /// an n-gram of size <paramref name="n"/> already in it.</summary>
    internal static void NoRepeatNGram(Span<float> scores, ReadOnlySpan<int> sequence, int n)
    {
        int length = sequence.Length;
        if (length + 1 < n) return;
        var tail = sequence[(length - n + 1)..]; // the n − 1 tokens the next one would follow
        for (int start = 0; start + n <= length; start++)
            if (sequence.Slice(start, n - 1).SequenceEqual(tail))
                scores[sequence[start + n - 1]] = float.NegativeInfinity;
    }
}
