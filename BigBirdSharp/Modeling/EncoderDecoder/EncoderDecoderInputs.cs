namespace BigBirdSharp.Modeling.EncoderDecoder;

/// <summary>
/// The inputs of an <see cref="EncoderDecoderModel"/> forward call, named as HF's <c>EncoderDecoderModel.forward</c>
/// arguments; arrays are row-major.
/// </summary>
public sealed class EncoderDecoderInputs
{
    /// <summary>Rows of the batch.</summary>
    public int BatchSize { get; }
    /// <summary>Encoder tokens per row (of <see cref="InputIds"/>, or of <see cref="EncoderOutputs"/>).</summary>
    public int SequenceLength { get; }
    /// <summary>input_ids [batch, seq]: the encoder's tokens; may be null when <see cref="EncoderOutputs"/> is given.</summary>
    public int[]? InputIds { get; init; }
    /// <summary>attention_mask [batch, seq] of 0/1; null means all ones. Also the decoder's encoder_attention_mask.</summary>
    public int[]? AttentionMask { get; init; }
    /// <summary>decoder_input_ids [batch, decoder_seq]; null derives them from <see cref="Labels"/> by shift_tokens_right, as HF.</summary>
    public int[]? DecoderInputIds { get; init; }
    /// <summary>Decoder tokens per row of <see cref="DecoderInputIds"/> (or of <see cref="Labels"/> when those are derived).</summary>
    public int DecoderSequenceLength { get; init; }
    /// <summary>decoder_attention_mask [batch, decoder_seq] of 0/1; null means all ones. It is checked and handed to the
    /// decoder as HF does, where it changes nothing: 4.27.1's BigBird decoder attends only to the encoder (see
    /// <see cref="EncoderDecoderModel"/>).</summary>
    public int[]? DecoderAttentionMask { get; init; }
    /// <summary>labels [batch, decoder_seq]: decoder token ids, or -100 to ignore. The loss is the mean cross-entropy of the
    /// logits against them, not shifted (the decoder inputs are the shifted ones).</summary>
    public int[]? Labels { get; init; }
    /// <summary>HF's <c>encoder_outputs[0]</c>: a previous call's encoder_last_hidden_state [batch, seq, encoder hidden],
    /// which skips the encoder.</summary>
    public float[]? EncoderOutputs { get; init; }

    /// <summary>Inputs of <paramref name="batchSize"/> rows of <paramref name="sequenceLength"/> encoder tokens.</summary>
    public EncoderDecoderInputs(int batchSize, int sequenceLength)
    {
        BatchSize = batchSize;
        SequenceLength = sequenceLength;
    }

    /// <summary>HF's <c>shift_tokens_right</c> of <c>modeling_encoder_decoder.py</c>: each row moved one place right,
    /// <paramref name="decoderStartTokenId"/> first, and -100 replaced by <paramref name="padTokenId"/>.</summary>
    /// <param name="labels">[batch, seq] token ids or -100.</param>
    /// <param name="batch">Rows.</param>
    /// <param name="seq">Tokens per row.</param>
    /// <param name="padTokenId">config.pad_token_id; HF raises when it is none.</param>
    /// <param name="decoderStartTokenId">config.decoder_start_token_id; HF raises when it is none.</param>
    /// <exception cref="BigBirdConfigException">A token id is none (HF's ValueError), named.</exception>
    /// <exception cref="BigBirdInputException">labels is not [batch, seq].</exception>
    public static int[] ShiftTokensRight(int[] labels, int batch, int seq, int? padTokenId, int? decoderStartTokenId)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (decoderStartTokenId is not int start)
            throw new BigBirdConfigException(
                "decoder_start_token_id is not set in config.json, so decoder_input_ids cannot be derived from labels (HF: 'Make sure to set " +
                "the decoder_start_token_id attribute of the model's configuration'); set it, or give decoder_input_ids.");
        if (padTokenId is not int pad)
            throw new BigBirdConfigException(
                "pad_token_id is not set in config.json, so -100 labels cannot be shifted into decoder_input_ids (HF: 'Make sure to set the " +
                "pad_token_id attribute of the model's configuration'); set it, or give decoder_input_ids.");
        if (batch <= 0 || seq <= 0 || labels.Length != (long)batch * seq)
            throw new BigBirdInputException($"labels has {labels.Length} values, expected {(long)batch * seq} for shape [{batch}, {seq}].");
        var shifted = new int[labels.Length];
        for (int b = 0; b < batch; b++)
        {
            shifted[b * seq] = start;
            labels.AsSpan(b * seq, seq - 1).CopyTo(shifted.AsSpan(b * seq + 1));
        }
        for (int i = 0; i < shifted.Length; i++)
            if (shifted[i] == -100) shifted[i] = pad;
        return shifted;
    }
}
