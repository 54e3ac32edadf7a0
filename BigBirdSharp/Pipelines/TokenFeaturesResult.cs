namespace BigBirdSharp.Pipelines;

/// <summary>The last hidden state of every token of one text: HF's <c>feature-extraction</c> output.</summary>
/// <param name="Text">The input.</param>
/// <param name="Input">How it was encoded; token <c>t</c> of <see cref="Features"/> is its token <c>t</c>.</param>
/// <param name="Features">[seq, hidden] row-major, [CLS] and [SEP] included, as HF returns them.</param>
/// <param name="HiddenSize">hidden.</param>
public sealed record TokenFeaturesResult(string Text, PipelineEncoding Input, float[] Features, int HiddenSize)
{
    /// <summary>Tokens (rows of <see cref="Features"/>).</summary>
    public int SequenceLength => Features.Length / HiddenSize;

    /// <summary>The [hidden] features of token <paramref name="index"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is not a token of the text.</exception>
    public ReadOnlySpan<float> Token(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, SequenceLength);
        return Features.AsSpan(index * HiddenSize, HiddenSize);
    }
}
