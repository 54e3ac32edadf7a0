using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Pipelines;

/// <summary>One answer span.</summary>
/// <param name="Answer">The context's text between <paramref name="Start"/> and <paramref name="End"/>: whole
/// whitespace-delimited words, as HF's pipeline widens a span (<c>align_to_words</c>).</param>
/// <param name="Start">Character offset of the answer in the context (UTF-16 code units).</param>
/// <param name="End">One past its last character.</param>
/// <param name="Score">p(start)·p(end), each a softmax over [CLS] and the context tokens of the answer's window, as HF's
/// pipeline scores.</param>
/// <param name="StartToken">Index of the first answer token in the whole pair encoding (<see cref="QuestionAnsweringResult.Input"/>).</param>
/// <param name="EndToken">Index of the last answer token there.</param>
public sealed record QuestionAnsweringAnswer(string Answer, int Start, int End, float Score, int StartToken, int EndToken);

/// <summary>The best answers to one question.</summary>
/// <param name="Question">The question.</param>
/// <param name="Context">The context searched.</param>
/// <param name="Input">The whole pair encoding, <c>[CLS] question [SEP] context [SEP]</c>, before any windowing.</param>
/// <param name="Windows">How many overlapping windows the model read (1 when the pair fits).</param>
/// <param name="WindowOverlap">Context tokens each window shares with the previous one: the doc stride asked for, at
/// most half a window.</param>
/// <param name="Answers">Best first.</param>
public sealed record QuestionAnsweringResult(string Question, string Context, PipelineEncoding Input, int Windows, int WindowOverlap,
                                             IReadOnlyList<QuestionAnsweringAnswer> Answers);

/// <summary>
/// Extractive question answering on a <see cref="BigBirdForQuestionAnswering"/>, as HF's question-answering
/// pipeline: a span (s, e) of context tokens with s ≤ e and e − s + 1 ≤ <c>maxAnswerLength</c> (HF's default 15)
/// scores p(start = s)·p(end = e), softmaxes over [CLS] and the context tokens; the best spans are widened to whole
/// words. A pair longer than <c>max_position_embeddings</c> is read, like HF reads it, in windows of the context that
/// overlap by <c>docStride</c> tokens (at most half a window), each with the whole question
/// (<see cref="OverlongInput.Reject"/> refuses it instead). HF's windows are <c>max_seq_len</c> long (384 by
/// default); ours are as long as the model takes. Unlike HF, whitespace-only pieces never start or end a span, and a span that widens to an answer
/// already found is skipped. Immutable and thread-safe.
/// </summary>
public sealed class QuestionAnsweringPipeline(BigBirdForQuestionAnswering model, BigBirdTokenizer tokenizer)
{
    /// <summary>Finds the <paramref name="topK"/> best answers to <paramref name="question"/> in <paramref name="context"/>.</summary>
    /// <exception cref="BigBirdInputException">Empty question or context, bad limits, a question that leaves no room
    /// for the context, or too long under <see cref="OverlongInput.Reject"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (checked between windows and between layers).</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public QuestionAnsweringResult Run(string question, string context, int topK = 1, int maxAnswerLength = 15,
                                       OverlongInput overlong = OverlongInput.Truncate, BigBirdForwardOptions? options = null,
                                       int docStride = 128, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(question);
        ArgumentNullException.ThrowIfNull(context);
        if (topK <= 0) throw new BigBirdInputException($"top-k must be positive, not {topK}.");
        if (maxAnswerLength <= 0) throw new BigBirdInputException($"the longest answer must be positive, not {maxAnswerLength}.");
        if (docStride < 0) throw new BigBirdInputException($"the window overlap (doc stride) must not be negative, not {docStride}.");
        if (string.IsNullOrWhiteSpace(question)) throw new BigBirdInputException("the question is empty; give a question.");
        if (string.IsNullOrWhiteSpace(context)) throw new BigBirdInputException("the context is empty; give the text to search.");
        var full = tokenizer.Encode(question, context); // [CLS] question [SEP] context [SEP]
        int max = model.Config.MaxPositionEmbeddings;
        if (full.Length > max && overlong == OverlongInput.Reject)
            throw new BigBirdInputException(
                $"the question and context are {full.Length} tokens, more than the model's max_position_embeddings ({max}); " +
                "shorten them, or allow reading the context in windows (drop --no-truncate).");

        // the context's tokens (between the first [SEP] and the last) and the prefix every window repeats
        int prefix = Array.IndexOf(full.SequenceIds, 1);
        if (prefix < 0) throw new BigBirdInputException("the context has no tokens; give the text to search.");
        int contextCount = full.Length - 1 - prefix, capacity = max - prefix - 1;
        if (capacity <= 0)
            throw new BigBirdInputException(
                $"the question alone is {prefix} tokens, which leaves no room for the context within max_position_embeddings ({max}); shorten the question.");

        // every window runs under one lease: a run admitted before Dispose reads all its windows
        using var lease = model.Acquire();
        var candidates = new List<(int S, int E, double Score)>(); // token indices into `full`
        int overlap = Math.Min(docStride, capacity / 2);
        var windows = Windows(contextCount, capacity, overlap);
        foreach (var (from, count) in windows)
        {
            int[] map = [.. Enumerable.Range(0, prefix), .. Enumerable.Range(prefix + from, count), full.Length - 1]; // window → full
            var window = new TokenizerEncoding
            {
                InputIds = [.. map.Select(i => full.InputIds[i])],
                TokenTypeIds = [.. map.Select(i => full.TokenTypeIds[i])],
                AttentionMask = [.. map.Select(i => full.AttentionMask[i])],
                SpecialTokensMask = [.. map.Select(i => full.SpecialTokensMask[i])],
                Offsets = [.. map.Select(i => full.Offsets[i])],
                SequenceIds = [.. map.Select(i => full.SequenceIds[i])],
            };
            foreach (var (s, e, score) in BestSpans(window, context, maxAnswerLength, topK * 8 + 16, options, cancellationToken))
                candidates.Add((map[s], map[e], score));
        }
        if (candidates.Count == 0)
            throw new BigBirdInputException("the context has no word to answer with (only whitespace is left in it).");

        candidates.Sort((a, b) => b.Score.CompareTo(a.Score) is var c && c != 0 ? c : (a.S, a.E).CompareTo((b.S, b.E)));
        var answers = new List<QuestionAnsweringAnswer>();
        var seen = new HashSet<(int, int)>();
        foreach (var (s, e, score) in candidates)
        {
            var (start, end) = WidenToWords(context, full.Offsets[s].Start, full.Offsets[e].End);
            if (!seen.Add((start, end))) continue; // overlapping windows and word widening find the same answer again
            answers.Add(new QuestionAnsweringAnswer(context[start..end], start, end, (float)score, s, e));
            if (answers.Count == topK) break;
        }
        var input = new PipelineEncoding(full, full.Length);
        return new QuestionAnsweringResult(question, context, input, windows.Count, windows.Count > 1 ? overlap : 0, answers);
    }

    /// <summary>The best <paramref name="keep"/> spans of one window (window token indices) and their scores.</summary>
    private List<(int S, int E, double Score)> BestSpans(TokenizerEncoding window, string context, int maxAnswerLength, int keep,
                                                         BigBirdForwardOptions? options, CancellationToken cancellationToken)
    {
        var output = model.ForwardLeased(new BigBirdInputs(1, window.Length)
        {
            InputIds = window.InputIds,
            AttentionMask = window.AttentionMask,
            TokenTypeIds = window.TokenTypeIds,
        }, options, cancellationToken);
        var startLogits = output.StartLogits!.Data; // [1, seq]
        var endLogits = output.EndLogits!.Data;
        // candidates: context pieces that cover some non-space text
        var tokens = Enumerable.Range(0, window.Length).Where(t =>
        {
            var o = window.Offsets[t];
            return window.SequenceIds[t] == 1 && window.SpecialTokensMask[t] == 0 && o.End > o.Start &&
                   !context.AsSpan(o.Start, o.End - o.Start).IsWhiteSpace();
        }).ToArray();
        if (tokens.Length == 0) return [];
        // HF leaves [CLS] in the softmax (and zeroes it afterwards); every other non-context token gets -10000
        bool cls = window.InputIds[0] == tokenizer.ClsTokenId;
        var pStart = ContextSoftmax(startLogits, tokens, cls);
        var pEnd = ContextSoftmax(endLogits, tokens, cls);
        var best = new PriorityQueue<(int S, int E), double>();
        for (int i = 0; i < tokens.Length; i++)
            for (int j = i; j < tokens.Length && tokens[j] - tokens[i] < maxAnswerLength; j++)
            {
                double score = (double)pStart[i] * pEnd[j];
                if (best.Count < keep) best.Enqueue((tokens[i], tokens[j]), score);
                else if (best.TryPeek(out _, out double worst) && score > worst) best.EnqueueDequeue((tokens[i], tokens[j]), score);
            }
        var spans = new List<(int, int, double)>(best.Count);
        while (best.TryDequeue(out var span, out double score)) spans.Add((span.S, span.E, score));
        return spans;
    }

    /// <summary>Windows (first context token, count) of at most <paramref name="capacity"/> tokens over
    /// <paramref name="count"/> context tokens, each overlapping the previous by <paramref name="overlap"/> tokens,
    /// the last ending at the last token (HF's <c>stride</c> overflow).</summary>
    internal static List<(int From, int Count)> Windows(int count, int capacity, int overlap)
    {
        if (capacity <= 0 || overlap < 0 || overlap >= capacity) throw new ArgumentOutOfRangeException(nameof(overlap));
        var windows = new List<(int, int)>();
        for (int from = 0; ; from += capacity - overlap)
        {
            windows.Add((from, Math.Min(capacity, count - from)));
            if (from + capacity >= count) return windows;
        }
    }

    private static float[] ContextSoftmax(float[] logits, int[] contextTokens, bool withCls)
    {
        var values = new float[contextTokens.Length + (withCls ? 1 : 0)];
        for (int i = 0; i < contextTokens.Length; i++) values[i] = logits[contextTokens[i]];
        if (withCls) values[^1] = logits[0];
        return Scores.Softmax(values)[..contextTokens.Length];
    }

    /// <summary>The span grown to whole whitespace-delimited words, without surrounding whitespace.</summary>
    internal static (int Start, int End) WidenToWords(string text, int start, int end)
    {
        while (start < end && char.IsWhiteSpace(text[start])) start++;
        while (end > start && char.IsWhiteSpace(text[end - 1])) end--;
        while (start > 0 && !char.IsWhiteSpace(text[start - 1])) start--;
        while (end < text.Length && !char.IsWhiteSpace(text[end])) end++;
        return (start, end);
    }
}
