using BigBirdSharp.Modeling;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Pipelines;

/// <summary>How token states become one vector.</summary>
public enum EmbeddingPooling
{
    /// <summary>Mean of the last hidden state over the attended tokens ([CLS] and [SEP] included).</summary>
    Mean,
    /// <summary>HF's <c>pooler_output</c>: tanh(dense(last_hidden_state[:, 0])).</summary>
    Pooler,
    /// <summary>The last hidden state of the first token ([CLS]).</summary>
    Cls,
}

/// <summary>One text's embedding.</summary>
/// <param name="Text">The input.</param>
/// <param name="Input">How it was encoded.</param>
/// <param name="Vector">[hidden]</param>
public sealed record EmbeddingResult(string Text, PipelineEncoding Input, float[] Vector);

/// <summary>Features from the bare encoder: HF's <c>feature-extraction</c> pipeline (<see cref="RunTokens"/>: the last
/// hidden state of every token, HF's output), or one pooled vector per text (<see cref="Run"/>).
/// Immutable and thread-safe.</summary>
public sealed class FeatureExtractionPipeline(BigBirdModel model, BigBirdTokenizer tokenizer)
{
    /// <summary>HF's <c>feature-extraction</c> output: the last hidden state of every token of <paramref name="text"/>,
    /// [CLS] and [SEP] included.</summary>
    /// <param name="text">The text.</param>
    /// <param name="overlong">A text longer than <c>max_position_embeddings</c> is cut to it, or refused.</param>
    /// <param name="options">Per-call model settings; null for the defaults.</param>
    /// <param name="cancellationToken">Checked before the model runs and between its layers.</param>
    /// <exception cref="BigBirdInputException">Empty text, or too long under <see cref="OverlongInput.Reject"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public TokenFeaturesResult RunTokens(string text, OverlongInput overlong = OverlongInput.Truncate, BigBirdForwardOptions? options = null,
                                         CancellationToken cancellationToken = default)
    {
        var input = PipelineEncoding.Encode(tokenizer, model.Config, text, null, overlong, "the text");
        var states = model.Forward(input.ToInputs(), options, cancellationToken).LastHiddenState.Data; // [1, seq, hidden]
        return new TokenFeaturesResult(text, input, states, model.Config.HiddenSize);
    }

    /// <summary>Embeds <paramref name="text"/> as one pooled vector.</summary>
    /// <exception cref="BigBirdInputException">Empty text, too long under <see cref="OverlongInput.Reject"/>, or
    /// <see cref="EmbeddingPooling.Pooler"/> on a checkpoint without a pooler.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public EmbeddingResult Run(string text, EmbeddingPooling pooling = EmbeddingPooling.Mean,
                               OverlongInput overlong = OverlongInput.Truncate, BigBirdForwardOptions? options = null,
                               CancellationToken cancellationToken = default)
    {
        if (pooling == EmbeddingPooling.Pooler && model.Pooler is null)
            throw new BigBirdInputException("this checkpoint has no pooler (bert.pooler.*); use mean or cls pooling.");
        var input = PipelineEncoding.Encode(tokenizer, model.Config, text, null, overlong, "the text");
        var output = model.Forward(input.ToInputs(), options, cancellationToken);
        int hidden = model.Config.HiddenSize, seq = input.Length;
        var states = output.LastHiddenState.Data; // [1, seq, hidden]
        var vector = new float[hidden];
        switch (pooling)
        {
            case EmbeddingPooling.Pooler:
                output.PoolerOutput!.Data.AsSpan(0, hidden).CopyTo(vector);
                break;
            case EmbeddingPooling.Cls:
                states.AsSpan(0, hidden).CopyTo(vector);
                break;
            default:
                var sum = new double[hidden];
                int count = 0;
                for (int t = 0; t < seq; t++)
                {
                    if (input.Encoding.AttentionMask[t] == 0) continue;
                    count++;
                    for (int h = 0; h < hidden; h++) sum[h] += states[t * hidden + h];
                }
                for (int h = 0; h < hidden; h++) vector[h] = (float)(sum[h] / count);
                break;
        }
        return new EmbeddingResult(text, input, vector);
    }
}
