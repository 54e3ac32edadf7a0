namespace BigBirdSharp.Modeling.Pegasus;

/// <summary>HF's <c>Seq2SeqSequenceClassifierOutput</c> (the fields BigBirdSharp returns).</summary>
public sealed class BigBirdPegasusSeq2SeqSequenceClassifierOutput
{
    /// <summary>The loss of the labels under the problem type (MSE, cross-entropy or BCE with logits), when labels were given.</summary>
    public float? Loss { get; init; }
    /// <summary>logits [batch, num_labels].</summary>
    public required FloatTensor Logits { get; init; }
    /// <summary>The encoder's last hidden state [batch, seq, d_model].</summary>
    public required FloatTensor EncoderLastHiddenState { get; init; }
    /// <summary>The encoder's attention this call ran (block_sparse falls back to original_full for short inputs).</summary>
    public Configuration.AttentionType EncoderAttentionType { get; init; }
}
