using BigBirdSharp.Configuration;

namespace BigBirdSharp.Modeling.Heads;

/// <summary>
/// The decoding settings of <see cref="BigBirdForCausalLM.Generate"/>, named after HF's <c>GenerationConfig</c>.
/// Greedy unless <see cref="DoSample"/>.
/// </summary>
public sealed record GenerationConfig
{
    /// <summary>Tokens to add after the prompt (HF <c>max_new_tokens</c>).</summary>
    public int MaxNewTokens { get; init; } = 20;
    /// <summary>Stop a row at this token (HF <c>eos_token_id</c>); null never stops early.</summary>
    public int? EosTokenId { get; init; }
    /// <summary>What finished rows get while others go on (HF <c>pad_token_id</c>); null means config.pad_token_id.</summary>
    public int? PadTokenId { get; init; }
    /// <summary>Sample instead of taking the argmax (HF <c>do_sample</c>).</summary>
    public bool DoSample { get; init; }
    /// <summary>Divides the logits before sampling (HF <c>temperature</c>).</summary>
    public float Temperature { get; init; } = 1f;
    /// <summary>Keep only the k most likely tokens (ties at the k-th score kept, as HF's TopKLogitsWarper); 0 for all. HF's default, 50.</summary>
    public int TopK { get; init; } = 50;
    /// <summary>Keep the smallest set of most likely tokens whose probability reaches top_p (HF's TopPLogitsWarper); 1 for all.</summary>
    public float TopP { get; init; } = 1f;
    /// <summary>Seed of the sampler. Sampling is reproducible for a seed, but is not torch's random stream.</summary>
    public int Seed { get; init; }
    /// <summary>HF <c>repetition_penalty</c>: a token already in the sequence (prompt included) has its logit divided by
    /// this when positive, multiplied when negative; 1 leaves the logits alone.</summary>
    public float RepetitionPenalty { get; init; } = 1f;
    /// <summary>HF <c>no_repeat_ngram_size</c>: a token that would repeat an n-gram of this size already in the sequence
    /// (prompt included) is banned; 0 bans nothing.</summary>
    public int NoRepeatNgramSize { get; init; }
    /// <summary>Reuse keys/values across steps (HF <c>use_cache</c>); false recomputes the whole sequence each step.</summary>
    public bool UseCache { get; init; } = true;
}

public sealed partial class BigBirdForCausalLM
{
    /// <summary>
    /// Extends each prompt row with up to <see cref="GenerationConfig.MaxNewTokens"/> tokens, as HF's
    /// <c>generate</c> does with greedy search (or sampling): each step scores the last position, a finished row
    /// (one that produced EOS) gets pad tokens, and generation stops when every row has finished.
    /// Returns [batch, prompt + generated] ids.
    /// </summary>
    /// <remarks>
    /// Attention is original_full (causal) at every step. HF's block-sparse attention is neither causal nor cached,
    /// and HF itself falls back to full attention for the one-token steps; a long block_sparse prompt would give HF an
    /// unusable cache, so we do not follow it there. The prompt's <c>attention_mask</c> (left padding) is honoured and
    /// extended with ones, and positions are not shifted for padding, as in HF.
    /// </remarks>
    /// <param name="prompt">input_ids [batch, prompt] and optionally its attention_mask.</param>
    /// <param name="generation">The decoding settings.</param>
    /// <param name="options">Per-step forward settings; attention is original_full whatever they say.</param>
    /// <param name="cancellationToken">Checked before each step and between the layers of each step's forward.</param>
    /// <exception cref="BigBirdInputException">Bad prompt, or a total length beyond max_position_embeddings.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; nothing is returned.</exception>
    /// <exception cref="ObjectDisposedException">The head has been disposed.</exception>
    public int[] Generate(BigBirdInputs prompt, GenerationConfig generation, BigBirdForwardOptions? options = null,
                          CancellationToken cancellationToken = default)
    {
        // one lease for the whole generation: a generation admitted before Dispose runs to its end
        using var lease = Lifetime.Enter(this);
        cancellationToken.ThrowIfCancellationRequested();
        int batch = prompt.BatchSize, promptLength = prompt.SequenceLength;
        if (prompt.InputIds is null)
            throw new BigBirdInputException("generation needs input_ids as the prompt.");
        if (prompt.PastKeyValues is not null)
            throw new BigBirdInputException("generation makes its own cache; pass the prompt without past_key_values.");
        Bert.Validate(prompt);
        if (prompt.EncoderHiddenStates is not null)
            throw new BigBirdInputException(
                "generation takes no encoder_hidden_states: HF's BigBirdForCausalLM.prepare_inputs_for_generation drops them, and its " +
                "decoder would attend to them in place of its own tokens. Call Forward step by step to decode against an encoder.");
        if (generation.MaxNewTokens < 0)
            throw new BigBirdInputException($"max_new_tokens must be non-negative, got {generation.MaxNewTokens}.");
        if (generation.DoSample && !(generation.Temperature > 0))
            throw new BigBirdInputException($"temperature must be positive, got {generation.Temperature}.");
        if (generation.DoSample && !(generation.TopP > 0 && generation.TopP <= 1))
            throw new BigBirdInputException($"top_p must be in (0, 1], got {generation.TopP}.");
        if (generation.TopK < 0) throw new BigBirdInputException($"top_k must be non-negative, got {generation.TopK}.");
        if (!(generation.RepetitionPenalty > 0) || float.IsInfinity(generation.RepetitionPenalty))
            throw new BigBirdInputException($"repetition_penalty must be a positive number, got {generation.RepetitionPenalty}.");
        if (generation.NoRepeatNgramSize < 0)
            throw new BigBirdInputException($"no_repeat_ngram_size must be non-negative, got {generation.NoRepeatNgramSize}.");
        if ((long)promptLength + generation.MaxNewTokens > Config.MaxPositionEmbeddings)
            throw new BigBirdInputException(
                $"prompt of {promptLength} tokens + {generation.MaxNewTokens} new tokens exceeds max_position_embeddings {Config.MaxPositionEmbeddings}; " +
                "ask for fewer tokens or shorten the prompt.");
        int maxLength = promptLength + generation.MaxNewTokens;
        _ = TensorSize.ForInput("sequences", "[batch, prompt + max_new_tokens]", "generate for fewer rows at a time.", batch, maxLength);
        int pad = generation.PadTokenId ?? Config.PadTokenId;
        var stepOptions = (options ?? new BigBirdForwardOptions()) with
        {
            AttentionType = AttentionType.OriginalFull, OutputAttentions = false, OutputHiddenStates = false,
        };

        var sequences = new int[batch * maxLength];            // input_ids, growing
        var mask = new int[batch * maxLength];                 // attention_mask, growing
        // _prepare_attention_mask_for_generation: without a mask, pad tokens in the prompt are masked (unless pad = eos)
        bool inferMask = prompt.AttentionMask is null && prompt.InputIds.Contains(pad) && pad != generation.EosTokenId;
        for (int b = 0; b < batch; b++)
        {
            prompt.InputIds.AsSpan(b * promptLength, promptLength).CopyTo(sequences.AsSpan(b * maxLength));
            for (int s = 0; s < promptLength; s++)
            {
                int i = b * promptLength + s;
                mask[b * maxLength + s] = prompt.AttentionMask?[i] ?? (inferMask && prompt.InputIds[i] == pad ? 0 : 1);
            }
        }
        var unfinished = new bool[batch];
        Array.Fill(unfinished, true);
        // HF keeps no cache for a model that is not a decoder (use_cache is forced off), so every step re-runs everything
        var cache = generation.UseCache && Config.IsDecoder ? new BigBirdKeyValueCache(Config, batch, Math.Max(1, maxLength), Bert.Backend) : null;
        var sampler = generation.DoSample ? new Random(generation.Seed) : null;
        int length = promptLength;
        for (int step = 0; step < generation.MaxNewTokens; step++)
        {
            // between generation steps (the step's forward also checks between layers)
            cancellationToken.ThrowIfCancellationRequested();
            // prepare_inputs_for_generation: with a cache, only the last token goes in; the mask covers everything
            int newTokens = cache is null || cache.Length == 0 ? length : 1;
            var ids = new int[batch * newTokens];
            var stepMask = new int[batch * length];
            for (int b = 0; b < batch; b++)
            {
                sequences.AsSpan(b * maxLength + length - newTokens, newTokens).CopyTo(ids.AsSpan(b * newTokens));
                mask.AsSpan(b * maxLength, length).CopyTo(stepMask.AsSpan(b * length));
            }
            var inputs = new BigBirdInputs(batch, newTokens)
            {
                InputIds = ids, AttentionMask = stepMask, PastKeyValues = cache,
            };
            var next_token_logits = NextTokenLogits(inputs, stepOptions, cancellationToken); // [batch, vocab]

            bool any = false;
            for (int b = 0; b < batch; b++)
            {
                var scores = next_token_logits.AsSpan(b * Config.VocabSize, Config.VocabSize);
                // HF's logits processors, in HF's order, before greedy choice or the sampling warpers
                var sequence = sequences.AsSpan(b * maxLength, length);
                if (generation.RepetitionPenalty != 1f) ApplyRepetitionPenalty(scores, sequence, generation.RepetitionPenalty);
                if (generation.NoRepeatNgramSize > 0) BanRepeatedNgrams(scores, sequence, generation.NoRepeatNgramSize);
                int next = sampler is null ? ArgMax(scores) : Sample(scores, generation, sampler);
                if (generation.EosTokenId is not null && !unfinished[b]) next = pad;
                sequences[b * maxLength + length] = next;
                mask[b * maxLength + length] = 1;
                if (generation.EosTokenId is int eos && next == eos) unfinished[b] = false;
                any |= unfinished[b];
            }
            length++;
            if (!any) break;
        }
        if (length == maxLength) return sequences;
        var trimmed = new int[batch * length];
        for (int b = 0; b < batch; b++) sequences.AsSpan(b * maxLength, length).CopyTo(trimmed.AsSpan(b * length));
        return trimmed;
    }

    /// <summary>HF's RepetitionPenaltyLogitsProcessor: every token present in <paramref name="sequence"/> gets its score
    /// divided by <paramref name="penalty"/> when positive and multiplied by it when negative.</summary>
    internal static void ApplyRepetitionPenalty(Span<float> scores, ReadOnlySpan<int> sequence, float penalty)
    {
        var seen = new HashSet<int>();
        foreach (int token in sequence)
        {
            if (!seen.Add(token)) continue;
            float s = scores[token];
            scores[token] = s < 0 ? s * penalty : s / penalty;
        }
    }

    /// <summary>HF's NoRepeatNGramLogitsProcessor: bans (−∞) each token that, appended to
    /// <paramref name="sequence"/>, would repeat an n-gram of size <paramref name="n"/> already in it.</summary>
    internal static void BanRepeatedNgrams(Span<float> scores, ReadOnlySpan<int> sequence, int n)
    {
        int length = sequence.Length;
        if (length + 1 < n) return;
        var tail = sequence[(length - n + 1)..]; // the n − 1 tokens the next one would follow
        for (int start = 0; start + n <= length; start++)
            if (sequence.Slice(start, n - 1).SequenceEqual(tail))
                scores[sequence[start + n - 1]] = float.NegativeInfinity;
    }

    /// <summary>The first index of the largest score, as torch.argmax.</summary>
    internal static int ArgMax(ReadOnlySpan<float> scores)
    {
        int best = 0;
        for (int i = 1; i < scores.Length; i++)
            if (scores[i] > scores[best]) best = i;
        return best;
    }

    /// <summary>
    /// HF's warpers in HF's order (temperature, top-k, top-p), then one draw from the softmax of what is left.
    /// </summary>
    internal static int Sample(ReadOnlySpan<float> logits, GenerationConfig g, Random random)
    {
        int vocab = logits.Length;
        var scores = new float[vocab];
        for (int i = 0; i < vocab; i++) scores[i] = logits[i] / g.Temperature;
        if (g.TopK > 0 && g.TopK < vocab)
        {
            // remove tokens scoring below the k-th largest score
            var sorted = (float[])scores.Clone();
            Array.Sort(sorted);
            float kth = sorted[vocab - g.TopK];
            for (int i = 0; i < vocab; i++) if (scores[i] < kth) scores[i] = float.NegativeInfinity;
        }
        if (g.TopP < 1f)
        {
            // sort ascending; drop tokens whose cumulative probability is ≤ 1 − top_p, always keeping the most likely one
            var order = Enumerable.Range(0, vocab).ToArray();
            var keys = (float[])scores.Clone();
            Array.Sort(keys, order);
            var probs = Softmax(keys);
            double cumulative = 0;
            for (int r = 0; r < vocab - 1; r++)
            {
                cumulative += probs[r];
                if (cumulative <= 1 - g.TopP) scores[order[r]] = float.NegativeInfinity;
            }
        }
        var p = Softmax(scores);
        double u = random.NextDouble(), acc = 0;
        int last = 0;
        for (int i = 0; i < vocab; i++)
        {
            if (p[i] <= 0) continue;
            last = i;
            acc += p[i];
            if (u < acc) return i;
        }
        return last;
    }

    private static double[] Softmax(float[] scores)
    {
        float max = float.NegativeInfinity;
        foreach (float s in scores) max = Math.Max(max, s);
        var p = new double[scores.Length];
        double sum = 0;
        for (int i = 0; i < scores.Length; i++)
        {
            p[i] = float.IsNegativeInfinity(scores[i]) ? 0 : Math.Exp(scores[i] - max);
            sum += p[i];
        }
        for (int i = 0; i < p.Length; i++) p[i] /= sum;
        return p;
    }
}
