using BigBirdSharp.Configuration;

namespace BigBirdSharp.Modeling.EncoderDecoder;

/// <summary>HF's <c>Seq2SeqLMOutput</c> as <see cref="EncoderDecoderModel"/> returns it (the fields BigBirdSharp returns).</summary>
public sealed class EncoderDecoderSeq2SeqLMOutput
{
    /// <summary>loss: the mean cross-entropy of the logits against the labels that are not -100, when labels were given
    /// (NaN when every label is -100, as torch).</summary>
    public float? Loss { get; init; }
    /// <summary>logits [batch, decoder_seq, decoder vocab_size]: the decoder's LM head.</summary>
    public required FloatTensor Logits { get; init; }
    /// <summary>encoder_last_hidden_state [batch, seq, encoder hidden_size] (before enc_to_dec_proj, as HF returns it).</summary>
    public required FloatTensor EncoderLastHiddenState { get; init; }
    /// <summary>The encoder's attention this call ran (block_sparse falls back to original_full for short inputs).</summary>
    public AttentionType EncoderAttentionType { get; init; }
}
