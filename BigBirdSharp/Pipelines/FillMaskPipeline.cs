using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Pipelines;

/// <summary>One candidate for a <c>[MASK]</c>, with HF's <c>fill-mask</c> pipeline fields.</summary>
/// <param name="TokenId">Vocabulary id (HF <c>token</c>).</param>
/// <param name="Token">The piece, e.g. <c>▁heaven</c>.</param>
/// <param name="TokenStr">The piece decoded (HF <c>token_str</c>).</param>
/// <param name="Score">Softmax probability over the vocabulary.</param>
/// <param name="Sequence">The input with this mask filled, decoded (HF <c>sequence</c>: without special tokens when the
/// text has one mask; with them, so the other masks show, when it has several).</param>
public sealed record FillMaskCandidate(int TokenId, string Token, string TokenStr, float Score, string Sequence);

/// <summary>The candidates for every <c>[MASK]</c> of one text, in text order.</summary>
/// <param name="Text">The input.</param>
/// <param name="Input">How it was encoded.</param>
/// <param name="Masks">Per mask: its token position and top-k candidates, best first.</param>
public sealed record FillMaskResult(string Text, PipelineEncoding Input, IReadOnlyList<(int Position, IReadOnlyList<FillMaskCandidate> Candidates)> Masks);

/// <summary>HF's <c>fill-mask</c> pipeline on a <see cref="BigBirdForMaskedLM"/> (or <see cref="BigBirdForPreTraining"/>).
/// Immutable and thread-safe, like the model under it.</summary>
public sealed class FillMaskPipeline
{
    private readonly BigBirdPreTrainedModel model;
    private readonly BigBirdTokenizer tokenizer;

    /// <summary>Wraps a masked-LM head and its tokenizer.</summary>
    /// <exception cref="ArgumentException">The head has no masked-LM logits.</exception>
    public FillMaskPipeline(BigBirdPreTrainedModel model, BigBirdTokenizer tokenizer)
    {
        if (model is not (BigBirdForMaskedLM or BigBirdForPreTraining))
            throw new ArgumentException($"fill-mask needs BigBirdForMaskedLM or BigBirdForPreTraining, not {model.Architecture}", nameof(model));
        this.model = model;
        this.tokenizer = tokenizer;
    }

    /// <summary>Predicts the top <paramref name="topK"/> tokens for each <c>[MASK]</c> in <paramref name="text"/>.</summary>
    /// <exception cref="BigBirdInputException">Empty text, no <c>[MASK]</c>, or too long under <see cref="OverlongInput.Reject"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public FillMaskResult Run(string text, int topK = 5, OverlongInput overlong = OverlongInput.Truncate, BigBirdForwardOptions? options = null,
                              CancellationToken cancellationToken = default)
    {
        if (topK <= 0) throw new BigBirdInputException($"top-k must be positive, not {topK}.");
        var input = PipelineEncoding.Encode(tokenizer, model.Config, text, null, overlong, "the text");
        int[] ids = input.Encoding.InputIds;
        var positions = Enumerable.Range(0, ids.Length).Where(i => ids[i] == tokenizer.MaskTokenId).ToArray();
        if (positions.Length == 0)
            throw new BigBirdInputException(input.Truncated
                ? "every [MASK] was cut off by truncation; move the [MASK] nearer the start or shorten the text."
                : $"the text has no {tokenizer.SpecialTokens.MaskToken?.Content ?? "[MASK]"}; write [MASK] where a word should be predicted.");
        // the encoder and the LM head run under one lease: a run admitted before Dispose runs to its end
        using var lease = model.Acquire();
        // the LM head is per token: score only the masked rows, not [seq, vocab] (824 MB at 4096 tokens of bigbird-roberta-base)
        var states = model.Bert.ForwardLeased(input.ToInputs(), options, cancellationToken).LastHiddenState.Data; // [1, seq, hidden]
        int hidden = model.Config.HiddenSize, vocab = model.Config.VocabSize;
        var rows = new float[positions.Length * hidden]; // [masks, hidden]
        for (int m = 0; m < positions.Length; m++) states.AsSpan(positions[m] * hidden, hidden).CopyTo(rows.AsSpan(m * hidden));
        var head = model is BigBirdForMaskedLM mlm ? mlm.Cls.Predictions : ((BigBirdForPreTraining)model).Cls.Predictions;
        var logits = head.ForwardLeased(rows, positions.Length); // [masks, vocab]
        var masks = new List<(int, IReadOnlyList<FillMaskCandidate>)>();
        for (int m = 0; m < positions.Length; m++)
        {
            int pos = positions[m];
            var probs = Scores.Softmax(logits.AsSpan(m * vocab, vocab));
            var candidates = new List<FillMaskCandidate>();
            foreach (int id in Scores.TopK(probs, topK))
            {
                var filled = (int[])ids.Clone();
                filled[pos] = id;
                // as HF: special tokens are dropped from the sequence only when there is one mask, so other masks stay visible
                candidates.Add(new FillMaskCandidate(id, tokenizer.ConvertIdsToTokens([id])[0], tokenizer.Decode([id]), probs[id],
                                                     tokenizer.Decode(filled, skipSpecialTokens: positions.Length == 1)));
            }
            masks.Add((pos, candidates));
        }
        return new FillMaskResult(text, input, masks);
    }
}
