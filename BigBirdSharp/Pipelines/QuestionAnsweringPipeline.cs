using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Pipelines;

/// <summary>One answer span.</summary>
/// <param name="Answer">The context's text between <paramref name="Start"/> and <paramref name="End"/>: whole
/// whitespace-delimited words, as HF's pipeline widens a span (<c>align_to_words</c>).</param>
/// <param name="Start">Character offset of the answer in the context (UTF-16 code units).</param>
/// <param name="End">One past its last character.</param>
/// <param name="Score">p(start)·p(end), each a softmax over [CLS] and the context tokens, as HF's pipeline scores.</param>
/// <param name="StartToken">Token index of the first answer token in the model input.</param>
/// <param name="EndToken">Token index of the last answer token.</param>
public sealed record QuestionAnsweringAnswer(string Answer, int Start, int End, float Score, int StartToken, int EndToken);

/// <summary>The best answers to one question.</summary>
/// <param name="Question">The question.</param>
/// <param name="Context">The context searched.</param>
/// <param name="Input">How the pair was encoded (<c>[CLS] question [SEP] context [SEP]</c>).</param>
/// <param name="Answers">Best first.</param>
public sealed record QuestionAnsweringResult(string Question, string Context, PipelineEncoding Input, IReadOnlyList<QuestionAnsweringAnswer> Answers);

/// <summary>
/// Extractive question answering on a <see cref="BigBirdForQuestionAnswering"/>, as HF's question-answering
/// pipeline: a span (s, e) of context tokens with s ≤ e and e − s + 1 ≤ <c>maxAnswerLength</c> (HF's default 15)
/// scores p(start = s)·p(end = e), softmaxes over [CLS] and the context tokens; the best spans are widened to whole
/// words. Unlike HF, whitespace-only pieces never start or end a span, a span that widens to an answer already found
/// is skipped, and a context longer than the model takes is truncated (only_second) or refused instead of read
/// through a sliding window. Immutable and thread-safe.
/// </summary>
public sealed class QuestionAnsweringPipeline(BigBirdForQuestionAnswering model, BigBirdTokenizer tokenizer)
{
    /// <summary>Finds the <paramref name="topK"/> best answers to <paramref name="question"/> in <paramref name="context"/>.</summary>
    /// <exception cref="BigBirdInputException">Empty question or context, bad limits, a question that leaves no room
    /// for the context, or too long under <see cref="OverlongInput.Reject"/>.</exception>
    public QuestionAnsweringResult Run(string question, string context, int topK = 1, int maxAnswerLength = 15,
                                       OverlongInput overlong = OverlongInput.Truncate, BigBirdForwardOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(question);
        ArgumentNullException.ThrowIfNull(context);
        if (topK <= 0) throw new BigBirdInputException($"top-k must be positive, not {topK}.");
        if (maxAnswerLength <= 0) throw new BigBirdInputException($"the longest answer must be positive, not {maxAnswerLength}.");
        if (string.IsNullOrWhiteSpace(question)) throw new BigBirdInputException("the question is empty; give a question.");
        if (string.IsNullOrWhiteSpace(context)) throw new BigBirdInputException("the context is empty; give the text to search.");
        var input = PipelineEncoding.Encode(tokenizer, model.config, question, context, overlong, TruncationStrategy.OnlySecond, "the question and context");
        var enc = input.Encoding;
        var output = model.Forward(input.ToInputs(), options);
        var startLogits = output.StartLogits!.Data; // [1, seq]
        var endLogits = output.EndLogits!.Data;

        // candidates: context pieces that cover some non-space text
        var contextTokens = Enumerable.Range(0, enc.Length).Where(t =>
        {
            var o = enc.Offsets[t];
            return enc.SequenceIds[t] == 1 && enc.SpecialTokensMask[t] == 0 && o.End > o.Start &&
                   !context.AsSpan(o.Start, o.End - o.Start).IsWhiteSpace();
        }).ToArray();
        if (contextTokens.Length == 0)
            throw new BigBirdInputException("no context token is left after truncation; shorten the question.");
        // HF leaves [CLS] in the softmax (it is zeroed afterwards) and pushes every other non-context token to -10000
        bool cls = enc.InputIds[0] == tokenizer.ClsTokenId;
        var pStart = ContextSoftmax(startLogits, contextTokens, cls);
        var pEnd = ContextSoftmax(endLogits, contextTokens, cls);

        // best spans by p(start)·p(end); a bounded set is enough, since widening can merge only a few of them
        int keep = topK * 8 + 16;
        var best = new PriorityQueue<(int S, int E), double>();
        for (int i = 0; i < contextTokens.Length; i++)
            for (int j = i; j < contextTokens.Length && contextTokens[j] - contextTokens[i] < maxAnswerLength; j++)
            {
                double score = (double)pStart[i] * pEnd[j];
                if (best.Count < keep) best.Enqueue((i, j), score);
                else if (best.TryPeek(out _, out double worst) && score > worst) best.EnqueueDequeue((i, j), score);
            }
        var ranked = new List<((int S, int E) Span, double Score)>();
        while (best.TryDequeue(out var span, out double score)) ranked.Add((span, score));
        ranked.Sort((a, b) => b.Score.CompareTo(a.Score) is var c && c != 0 ? c : (a.Span.S, a.Span.E).CompareTo((b.Span.S, b.Span.E)));

        var answers = new List<QuestionAnsweringAnswer>();
        var seen = new HashSet<(int, int)>();
        foreach (var ((i, j), score) in ranked)
        {
            int first = contextTokens[i], last = contextTokens[j];
            var (start, end) = WidenToWords(context, enc.Offsets[first].Start, enc.Offsets[last].End);
            if (!seen.Add((start, end))) continue;
            answers.Add(new QuestionAnsweringAnswer(context[start..end], start, end, (float)score, first, last));
            if (answers.Count == topK) break;
        }
        return new QuestionAnsweringResult(question, context, input, answers);
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
