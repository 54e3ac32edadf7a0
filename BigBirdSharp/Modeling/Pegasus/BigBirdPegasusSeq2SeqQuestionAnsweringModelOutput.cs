namespace BigBirdSharp.Modeling.Pegasus;

/// <summary>HF's <c>Seq2SeqQuestionAnsweringModelOutput</c> (the fields BigBirdSharp returns).</summary>
public sealed class BigBirdPegasusSeq2SeqQuestionAnsweringModelOutput
{
    /// <summary>(start cross-entropy + end cross-entropy) / 2, when start_positions and end_positions were given.</summary>
    public float? Loss { get; init; }
    /// <summary>start_logits [batch, decoder_seq].</summary>
    public required FloatTensor StartLogits { get; init; }
    /// <summary>end_logits [batch, decoder_seq].</summary>
    public required FloatTensor EndLogits { get; init; }
    /// <summary>The encoder's last hidden state [batch, seq, d_model].</summary>
    public required FloatTensor EncoderLastHiddenState { get; init; }
    /// <summary>The encoder's attention this call ran (block_sparse falls back to original_full for short inputs).</summary>
    public Configuration.AttentionType EncoderAttentionType { get; init; }
}
