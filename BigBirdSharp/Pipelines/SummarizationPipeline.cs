using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Modeling.Pegasus;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Pipelines;

/// <summary>One document's summary.</summary>
/// <param name="Text">The document.</param>
/// <param name="InputIds">The ids the encoder was given: the document's pieces and <c>&lt;/s&gt;</c>.</param>
/// <param name="SummaryTokenIds">HF's <c>summary_token_ids</c>: the best sequence, decoder start token first, without the
/// padding a shorter beam gets after its EOS.</param>
/// <param name="SummaryText">HF's <c>summary_text</c>: the ids decoded without special tokens and without clean-up of
/// tokenization spaces, as HF's summarization pipeline decodes them.</param>
/// <param name="TruncatedFrom">The document's length in tokens before it was cut to fit, or null.</param>
public sealed record SummarizationResult(string Text, int[] InputIds, int[] SummaryTokenIds, string SummaryText, int? TruncatedFrom);

/// <summary>
/// HF's <c>summarization</c> pipeline on a <see cref="BigBirdPegasusForConditionalGeneration"/>: the document is tokenized
/// with <c>&lt;/s&gt;</c> at its end, the encoder runs once, and <c>generate</c> decodes with the settings given (the
/// checkpoint's own with <see cref="GenerationConfig.FromPretrained"/>: the bigbird-pegasus-large checkpoints carry
/// 5 beams, length_penalty 0.8 and max_length 256). Immutable and thread-safe.
/// </summary>
public sealed class SummarizationPipeline(BigBirdPegasusForConditionalGeneration model, PegasusTokenizer tokenizer)
{
    /// <summary>Summarizes <paramref name="text"/>.</summary>
    /// <param name="text">The document.</param>
    /// <param name="generation">The decoding settings; HF's pipeline takes the checkpoint's (see <see cref="GenerationConfig.FromPretrained"/>).</param>
    /// <param name="overlong">A document longer than max_position_embeddings: <see cref="OverlongInput.Truncate"/> keeps its start
    /// and the closing <c>&lt;/s&gt;</c> (HF <c>truncation=True</c>); <see cref="OverlongInput.Reject"/> refuses it (HF's default
    /// would fail inside the model).</param>
    /// <param name="options">The encoder's attention type and random-attention semantics.</param>
    /// <param name="cancellationToken">Checked between generation steps and between layers.</param>
    /// <exception cref="BigBirdInputException">An empty document, one too long under <see cref="OverlongInput.Reject"/>, or settings
    /// the model refuses.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public SummarizationResult Run(string text, GenerationConfig generation, OverlongInput overlong = OverlongInput.Truncate,
                                   BigBirdForwardOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(generation);
        if (string.IsNullOrWhiteSpace(text)) throw new BigBirdInputException("the document is empty; give the text to summarize.");
        int[] ids = tokenizer.Encode(text).InputIds;
        int max = model.Config.MaxPositionEmbeddings;
        int? truncatedFrom = null;
        if (ids.Length > max)
        {
            if (overlong == OverlongInput.Reject)
                throw new BigBirdInputException(
                    $"the document is {ids.Length} tokens, more than the model's max_position_embeddings ({max}); shorten it, or allow truncation (drop --no-truncate).");
            truncatedFrom = ids.Length;
            ids = [.. ids.AsSpan(0, max - 1), tokenizer.EosTokenId];
        }
        var sequences = model.Generate(new BigBirdPegasusInputs(1, ids.Length) { InputIds = ids }, generation, options, cancellationToken);
        // the first row is the best: with num_return_sequences > 1 the rest are the runners-up
        var best = sequences.AsSpan(0, sequences.Length / Math.Max(1, generation.NumReturnSequences));
        // a beam shorter than the longest is padded after its EOS (the decoder start token is position 0 and stays)
        int end = best.Length;
        int? eos = generation.EosTokenId;
        if (eos is int e && best[1..].IndexOf(e) is int at and >= 0) end = at + 2;
        int[] summary = best[..end].ToArray();
        return new SummarizationResult(text, ids, summary, tokenizer.Decode(summary, skipSpecialTokens: true, cleanUpTokenizationSpaces: false), truncatedFrom);
    }
}
