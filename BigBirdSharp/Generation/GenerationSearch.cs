using BigBirdSharp.Modeling.Heads;

namespace BigBirdSharp.Generation;

/// <summary>What generate returns: HF's <c>sequences</c> [Rows, Length] row-major (Rows = batch × num_return_sequences),
/// and for beam search HF's <c>sequences_scores</c> [Rows].</summary>
internal sealed record GenerationOutput(int[] Sequences, int Rows, int Length, float[]? SequencesScores);

/// <summary>
/// HF's <c>generate</c> loops (transformers 4.27.1, generation/utils.py) over any <see cref="IDecodingSession"/>:
/// <c>greedy_search</c>, <c>sample</c> and <c>beam_search</c> with <c>BeamSearchScorer</c>.
/// </summary>
internal static class GenerationSearch
{
    /// <summary>
    /// Runs the plan's search. <paramref name="start"/> is [plan.Batch, plan.StartLength]: each input row's prompt, or its
    /// decoder start token; the session has plan.Rows rows (inputs repeated ExpandSize times, as repeat_interleave).
    /// </summary>
    public static GenerationOutput Generate(IDecodingSession session, GenerationPlan plan, ReadOnlySpan<int> start, CancellationToken cancellationToken)
    {
        if (session.Rows != plan.Rows) throw new InvalidOperationException($"session of {session.Rows} rows for a plan of {plan.Rows}.");
        int expand = plan.ExpandSize, startLength = plan.StartLength, maxLength = plan.MaxLength;
        var sequences = new int[plan.Rows * maxLength];
        for (int b = 0; b < plan.Batch; b++)
            for (int e = 0; e < expand; e++)
                start.Slice(b * startLength, startLength).CopyTo(sequences.AsSpan((b * expand + e) * maxLength));
        var processors = new LogitsProcessorList(plan);
        return plan.IsBeamSearch
            ? BeamSearch(session, plan, processors, sequences, cancellationToken)
            : GreedyOrSample(session, plan, processors, sequences, cancellationToken);
    }

    /// <summary><c>greedy_search</c> (argmax of the processed logits) or <c>sample</c> (the warpers, then one draw).</summary>
    private static GenerationOutput GreedyOrSample(IDecodingSession session, GenerationPlan plan, LogitsProcessorList processors, int[] sequences,
                                                   CancellationToken cancellationToken)
    {
        int rows = plan.Rows, vocab = plan.VocabSize, maxLength = plan.MaxLength, length = plan.StartLength;
        var g = plan.Settings;
        var unfinished = new bool[rows];
        Array.Fill(unfinished, true);
        var sampler = g.DoSample ? new Random(g.Seed) : null;
        while (length < maxLength)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var next_token_logits = session.NextTokenLogits(sequences, maxLength, length);
            bool any = false;
            for (int r = 0; r < rows; r++)
            {
                var scores = next_token_logits.Slice(r * vocab, vocab);
                processors.Process(scores, sequences.AsSpan(r * maxLength, length));
                int next = sampler is null ? ArgMax(scores) : Sample(scores, g, sampler);
                if (plan.EosTokenId is not null && !unfinished[r]) next = plan.PadTokenId;
                sequences[r * maxLength + length] = next;
                if (plan.EosTokenId is int eos && next == eos) unfinished[r] = false;
                any |= unfinished[r];
            }
            length++;
            if (!any) break;
        }
        return new GenerationOutput(Trim(sequences, rows, maxLength, length), rows, length, null);
    }

    private static int[] Trim(int[] sequences, int rows, int stride, int length)
    {
        if (length == stride) return sequences;
        var trimmed = new int[rows * length];
        for (int r = 0; r < rows; r++) sequences.AsSpan(r * stride, length).CopyTo(trimmed.AsSpan(r * length));
        return trimmed;
    }

    /// <summary>
    /// <c>beam_search</c>: log_softmax of the last logits, the processors, plus the running beam scores; the top
    /// 2·num_beams of each input's num_beams × vocab candidates; <c>BeamSearchScorer.process</c> keeps num_beams of them
    /// (an EOS among the first num_beams ends a hypothesis); the sequences and the cache follow the chosen beams; then
    /// <c>finalize</c>.
    /// </summary>
    private static GenerationOutput BeamSearch(IDecodingSession session, GenerationPlan plan, LogitsProcessorList processors, int[] sequences,
                                               CancellationToken cancellationToken)
    {
        int batch = plan.Batch, beams = plan.Settings.NumBeams, rows = plan.Rows, vocab = plan.VocabSize, maxLength = plan.MaxLength;
        int length = plan.StartLength, k = 2 * beams;
        int? eos = plan.EosTokenId;
        int pad = plan.PadTokenId;
        var hyps = new BeamHypotheses[batch];
        for (int b = 0; b < batch; b++) hyps[b] = new BeamHypotheses(beams, plan.LengthPenalty, plan.Settings.EarlyStopping, maxLength);
        var done = new bool[batch];
        // beam_scores[:, 1:] = -1e9: at the first step only the first beam of each input counts
        var beam_scores = new float[rows];
        for (int r = 0; r < rows; r++) beam_scores[r] = r % beams == 0 ? 0f : -1e9f;
        var next_beam_scores = new float[rows];
        var next_beam_tokens = new int[rows];
        var next_beam_indices = new int[rows];
        var topScores = new float[k];
        var topIndices = new int[k];
        var reordered = new int[rows * maxLength];
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var next_token_scores = session.NextTokenLogits(sequences, maxLength, length);
            for (int r = 0; r < rows; r++)
            {
                var row = next_token_scores.Slice(r * vocab, vocab);
                LogSoftmax(row);
                processors.Process(row, sequences.AsSpan(r * maxLength, length));
                float add = beam_scores[r];
                for (int v = 0; v < vocab; v++) row[v] += add;
            }
            // BeamSearchScorer.process
            for (int b = 0; b < batch; b++)
            {
                if (done[b])
                {
                    // pad the batch
                    for (int j = 0; j < beams; j++)
                    {
                        next_beam_scores[b * beams + j] = 0;
                        next_beam_tokens[b * beams + j] = pad;
                        next_beam_indices[b * beams + j] = 0;
                    }
                    continue;
                }
                // torch.topk(next_token_scores.view(batch, beams * vocab), 2 * beams, largest, sorted)
                TopK(next_token_scores.Slice(b * beams * vocab, beams * vocab), topScores, topIndices);
                int beam_idx = 0;
                for (int rank = 0; rank < k; rank++)
                {
                    int next_token = topIndices[rank] % vocab, next_index = topIndices[rank] / vocab;
                    float next_score = topScores[rank];
                    int batch_beam_idx = b * beams + next_index;
                    if (eos is int e && next_token == e)
                    {
                        // an EOS outside the first num_beams candidates does not end a hypothesis
                        if (rank >= beams) continue;
                        hyps[b].Add(sequences.AsSpan(batch_beam_idx * maxLength, length), next_score);
                    }
                    else
                    {
                        next_beam_scores[b * beams + beam_idx] = next_score;
                        next_beam_tokens[b * beams + beam_idx] = next_token;
                        next_beam_indices[b * beams + beam_idx] = batch_beam_idx;
                        beam_idx++;
                    }
                    if (beam_idx == beams) break;
                }
                done[b] = done[b] || hyps[b].IsDone(topScores[0], length + 1);
            }
            // input_ids = cat([input_ids[beam_idx, :], beam_next_tokens]); the cache follows (_reorder_cache)
            for (int r = 0; r < rows; r++)
            {
                sequences.AsSpan(next_beam_indices[r] * maxLength, length).CopyTo(reordered.AsSpan(r * maxLength));
                reordered[r * maxLength + length] = next_beam_tokens[r];
            }
            (sequences, reordered) = (reordered, sequences);
            next_beam_scores.CopyTo(beam_scores, 0);
            session.ReorderCache(next_beam_indices);
            length++;
            if (Array.TrueForAll(done, d => d) || length >= maxLength) break;
        }
        return Finalize(plan, hyps, done, sequences, beam_scores, length);
    }

    /// <summary><c>BeamSearchScorer.finalize</c>: open beams join the hypotheses; the best num_return_sequences of each input,
    /// padded with pad_token_id to the longest (an EOS after each shorter one when it fits).</summary>
    private static GenerationOutput Finalize(GenerationPlan plan, BeamHypotheses[] hyps, bool[] done, int[] sequences, float[] beam_scores, int length)
    {
        int batch = plan.Batch, beams = plan.Settings.NumBeams, keep = plan.Settings.NumReturnSequences, maxLength = plan.MaxLength;
        for (int b = 0; b < batch; b++)
        {
            if (done[b]) continue;
            for (int j = 0; j < beams; j++)
            {
                int r = b * beams + j;
                hyps[b].Add(sequences.AsSpan(r * maxLength, length), beam_scores[r]);
            }
        }
        int outRows = batch * keep;
        var best = new (int[] Tokens, int Length, double Score)[outRows];
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < keep; j++)
                best[b * keep + j] = hyps[b].Best(j);
        int longest = best.Max(h => h.Length), shortest = best.Min(h => h.Length);
        int sent_max_len = Math.Min(longest + 1, maxLength);
        var decoded = new int[outRows * sent_max_len];
        // shorter hypotheses are padded (torch leaves the rest of `decoded` uninitialised when all have one length)
        if (shortest != longest) Array.Fill(decoded, plan.PadTokenId);
        var scores = new float[outRows];
        for (int i = 0; i < outRows; i++)
        {
            var (tokens, n, score) = best[i];
            tokens.AsSpan(0, n).CopyTo(decoded.AsSpan(i * sent_max_len));
            if (n < sent_max_len && plan.EosTokenId is int eos) decoded[i * sent_max_len + n] = eos;
            scores[i] = (float)score;
        }
        return new GenerationOutput(decoded, outRows, sent_max_len, scores);
    }

    /// <summary>log_softmax over one row, in place (float32, as torch).</summary>
    internal static void LogSoftmax(Span<float> row)
    {
        float max = float.NegativeInfinity;
        foreach (float x in row) if (x > max) max = x;
        if (float.IsNegativeInfinity(max)) return; // every token banned: stays −∞
        double sum = 0;
        foreach (float x in row) sum += Math.Exp(x - max);
        float logSum = (float)Math.Log(sum);
        for (int i = 0; i < row.Length; i++) row[i] = row[i] - max - logSum;
    }

    /// <summary>The k largest scores, largest first, and their indices; equal scores keep the lower index first.</summary>
    internal static void TopK(ReadOnlySpan<float> scores, Span<float> topScores, Span<int> topIndices)
    {
        int k = topScores.Length, count = 0;
        for (int i = 0; i < scores.Length; i++)
        {
            float x = scores[i];
            if (float.IsNaN(x)) continue;
            if (count == k && !(x > topScores[k - 1])) continue;
            int at = count < k ? count : k - 1;
            while (at > 0 && x > topScores[at - 1])
            {
                topScores[at] = topScores[at - 1];
                topIndices[at] = topIndices[at - 1];
                at--;
            }
            topScores[at] = x;
            topIndices[at] = i;
            if (count < k) count++;
        }
        for (int i = count; i < k; i++)
        {
            topScores[i] = float.NegativeInfinity;
            topIndices[i] = 0;
        }
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
