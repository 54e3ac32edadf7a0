namespace BigBirdSharp.Modeling.Pegasus;

/// <summary>HF's <c>CausalLMOutputWithCrossAttentions</c> (the fields BigBirdSharp returns).</summary>
public sealed class BigBirdPegasusCausalLMOutputWithCrossAttentions
{
    /// <summary>Mean cross-entropy of the logits against the labels that are not -100, when labels were given.</summary>
    public float? Loss { get; init; }
    /// <summary>logits [batch, seq, vocab_size].</summary>
    public required FloatTensor Logits { get; init; }
    /// <summary>The cache passed in, advanced by this call's tokens; null without one.</summary>
    public BigBirdPegasusKeyValueCache? PastKeyValues { get; init; }
}
