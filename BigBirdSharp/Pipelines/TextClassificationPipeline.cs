using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Pipelines;

/// <summary>One label's score.</summary>
/// <param name="Index">Class index.</param>
/// <param name="Label">config <c>id2label</c> name (<c>LABEL_i</c> when absent).</param>
/// <param name="Score">Probability: sigmoid for multi-label and one-label models, softmax otherwise (HF's pipeline rule).</param>
public sealed record LabelScore(int Index, string Label, float Score);

/// <summary>One text's labels, best first.</summary>
/// <param name="Text">The input (the first text of a pair).</param>
/// <param name="Input">How it was encoded.</param>
/// <param name="Labels">Every label, highest score first.</param>
/// <param name="Logits">[num_labels] raw logits.</param>
public sealed record ClassificationResult(string Text, PipelineEncoding Input, IReadOnlyList<LabelScore> Labels, float[] Logits);

/// <summary>HF's <c>text-classification</c> pipeline on a <see cref="BigBirdForSequenceClassification"/>: the score
/// function follows the pipeline's rule (multi-label or one label: sigmoid; otherwise softmax).
/// Immutable and thread-safe.</summary>
public sealed class TextClassificationPipeline(BigBirdForSequenceClassification model, BigBirdTokenizer tokenizer)
{
    /// <summary>Scores every label for <paramref name="text"/> (optionally a pair).</summary>
    /// <exception cref="BigBirdInputException">Empty text, or too long under <see cref="OverlongInput.Reject"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public ClassificationResult Run(string text, string? pair = null, OverlongInput overlong = OverlongInput.Truncate,
                                    BigBirdForwardOptions? options = null, CancellationToken cancellationToken = default)
    {
        var config = model.Config;
        var input = PipelineEncoding.Encode(tokenizer, config, text, pair, overlong, "the text");
        var logits = model.Forward(input.ToInputs(), options, cancellationToken).Logits!.Data.ToArray(); // [1, num_labels]
        // HF's rule, in HF's order: multi-label or one label → sigmoid, otherwise softmax (regression included)
        float[] scores = config.ProblemType == "multi_label_classification" || config.NumLabels == 1
            ? logits.Select(Scores.Sigmoid).ToArray()
            : Scores.Softmax(logits);
        var labels = Scores.TopK(scores, scores.Length).Select(i => new LabelScore(i, config.LabelName(i), scores[i])).ToArray();
        return new ClassificationResult(text, input, labels, logits);
    }
}
