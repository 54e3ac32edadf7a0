using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Pipelines;

/// <summary>One answer span.</summary>
/// <param name="Answer">The context's text between <paramref name="Start"/> and <paramref name="End"/>.</param>
/// <param name="Start">Character offset of the answer in the context (UTF-16 code units).</param>
/// <param name="End">One past its last character.</param>
/// <param name="Score">p(start)·p(end), each a softmax over the context tokens (HF's pipeline score).</param>
/// <param name="StartToken">Token index of the first answer token in the model input.</param>
/// <param name="EndToken">Token index of the last answer token.</param>
public sealed record QuestionAnsweringAnswer(string Answer, int Start, int End, float Score, int StartToken, int EndToken);

/// <summary>The best answers to one question.</summary>
/// <param name="Question">The question.</param>
/// <param name="Context">The context searched.</param>
/// <param name="Input">How the pair was encoded (<c>[CLS] question [SEP] context [SEP]</c>).</param>
/// <param name="Answers">Best first.</param>
public sealed record QuestionAnsweringResult(string Question, string Context, PipelineEncoding Input, IReadOnlyList<QuestionAnsweringAnswer> Answers);

/// <summary>Extractive question answering on a <see cref="BigBirdForQuestionAnswering"/>. A span (s, e) is scored by
/// start_logits[s] + end_logits[e] over context tokens with s ≤ e and e − s + 1 ≤ <c>maxAnswerLength</c>, which
/// ranks spans as HF's question-answering pipeline's p(start)·p(end) does. A context longer than the model takes is
/// truncated (only_second) or refused; there is no sliding window. Immutable and thread-safe.</summary>
public sealed class QuestionAnsweringPipeline(BigBirdForQuestionAnswering model, BigBirdTokenizer tokenizer)
{
    /// <summary>Finds the <paramref name="topK"/> best answer spans to <paramref name="question"/> in <paramref name="context"/>.</summary>
    /// <exception cref="BigBirdInputException">Empty question or context, bad limits, or too long under
    /// <see cref="OverlongInput.Reject"/>.</exception>
    public QuestionAnsweringResult Run(string question, string context, int topK = 1, int maxAnswerLength = 30,
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
        var contextTokens = Enumerable.Range(0, enc.Length)
            .Where(t => enc.SequenceIds[t] == 1 && enc.SpecialTokensMask[t] == 0 && enc.Offsets[t].End > enc.Offsets[t].Start).ToArray();
        if (contextTokens.Length == 0)
            throw new BigBirdInputException("no context token is left after truncation; shorten the question.");
        var pStart = Scores.Softmax(contextTokens.Select(t => startLogits[t]).ToArray());
        var pEnd = Scores.Softmax(contextTokens.Select(t => endLogits[t]).ToArray());
        var spans = new List<(int S, int E, double Logit, float Score)>();
        for (int i = 0; i < contextTokens.Length; i++)
            for (int j = i; j < contextTokens.Length && contextTokens[j] - contextTokens[i] < maxAnswerLength; j++)
                spans.Add((i, j, (double)startLogits[contextTokens[i]] + endLogits[contextTokens[j]], pStart[i] * pEnd[j]));
        var answers = spans.OrderByDescending(s => s.Logit).ThenBy(s => s.S).ThenBy(s => s.E).Take(topK).Select(s =>
        {
            int first = contextTokens[s.S], last = contextTokens[s.E];
            int start = enc.Offsets[first].Start, end = enc.Offsets[last].End;
            while (start < end && char.IsWhiteSpace(context[start])) start++;
            return new QuestionAnsweringAnswer(context[start..end], start, end, s.Score, first, last);
        }).ToArray();
        return new QuestionAnsweringResult(question, context, input, answers);
    }
}
