namespace BigBirdSharp.Modeling.Pegasus;

/// <summary>
/// The inputs of a BigBirdPegasus forward call, named as HF's <c>forward</c> arguments; arrays are row-major.
/// </summary>
public sealed class BigBirdPegasusInputs
{
    /// <summary>Rows of the batch.</summary>
    public int BatchSize { get; }
    /// <summary>Encoder tokens per row (of <see cref="InputIds"/>, or of <see cref="EncoderOutputs"/>).</summary>
    public int SequenceLength { get; }
    /// <summary>input_ids [batch, seq]; may be null when <see cref="EncoderOutputs"/> is given.</summary>
    public int[]? InputIds { get; init; }
    /// <summary>attention_mask [batch, seq] of 0/1; null means all ones. Also the decoder's encoder_attention_mask.</summary>
    public int[]? AttentionMask { get; init; }
    /// <summary>decoder_input_ids [batch, decoder_seq]; null derives them by shift_tokens_right from labels (or, in the bare
    /// model, from input_ids), as HF.</summary>
    public int[]? DecoderInputIds { get; init; }
    /// <summary>Decoder tokens per row of <see cref="DecoderInputIds"/>.</summary>
    public int DecoderSequenceLength { get; init; }
    /// <summary>decoder_attention_mask [batch, past + decoder_seq] of 0/1; null means all ones.</summary>
    public int[]? DecoderAttentionMask { get; init; }
    /// <summary>labels: for ForConditionalGeneration [batch, decoder_seq] token ids, or -100 to ignore; for
    /// ForSequenceClassification [batch] class ids (single_label_classification).</summary>
    public int[]? Labels { get; init; }
    /// <summary>Float labels of ForSequenceClassification: [batch] for regression with num_labels 1, else
    /// [batch, num_labels] (regression, or multi_label_classification 0/1 targets). HF takes them as one <c>labels</c>
    /// tensor whose dtype decides the problem type; give either these or <see cref="Labels"/>.</summary>
    public float[]? FloatLabels { get; init; }
    /// <summary>start_positions [batch] of ForQuestionAnswering: the answer's first decoder position (clamped to
    /// [0, decoder_seq]; decoder_seq itself is ignored by the loss).</summary>
    public int[]? StartPositions { get; init; }
    /// <summary>end_positions [batch] of ForQuestionAnswering: the answer's last decoder position, clamped as start_positions.</summary>
    public int[]? EndPositions { get; init; }
    /// <summary>HF's <c>encoder_outputs[0]</c>: a previous call's encoder_last_hidden_state [batch, seq, d_model], which skips the encoder.</summary>
    public float[]? EncoderOutputs { get; init; }
    /// <summary>past_key_values: the decoder's cache, filled in place; null runs without one.</summary>
    public BigBirdPegasusKeyValueCache? PastKeyValues { get; init; }

    /// <summary>Inputs of <paramref name="batchSize"/> rows of <paramref name="sequenceLength"/> encoder tokens.</summary>
    public BigBirdPegasusInputs(int batchSize, int sequenceLength)
    {
        BatchSize = batchSize;
        SequenceLength = sequenceLength;
    }

    /// <summary>HF's <c>shift_tokens_right</c>: each row moved one place right, decoder_start_token_id first, and -100 replaced by pad_token_id.</summary>
    public static int[] ShiftTokensRight(int[] inputIds, int batch, int seq, int padTokenId, int decoderStartTokenId)
    {
        var shifted = new int[batch * seq];
        for (int b = 0; b < batch; b++)
        {
            shifted[b * seq] = decoderStartTokenId;
            for (int s = 1; s < seq; s++) shifted[b * seq + s] = inputIds[b * seq + s - 1];
        }
        for (int i = 0; i < shifted.Length; i++)
            if (shifted[i] == -100) shifted[i] = padTokenId;
        return shifted;
    }
}

/// <summary>HF's <c>Seq2SeqModelOutput</c> (the fields BigBirdSharp returns).</summary>
public sealed class BigBirdPegasusModelOutput
{
    /// <summary>The decoder's last hidden state [batch, decoder_seq, d_model].</summary>
    public required FloatTensor LastHiddenState { get; init; }
    /// <summary>The encoder's last hidden state [batch, seq, d_model].</summary>
    public required FloatTensor EncoderLastHiddenState { get; init; }
    /// <summary>The cache passed in, advanced by this call's decoder tokens; null without one.</summary>
    public BigBirdPegasusKeyValueCache? PastKeyValues { get; init; }
    /// <summary>The encoder's attention this call ran (block_sparse falls back to original_full for short inputs).</summary>
    public Configuration.AttentionType EncoderAttentionType { get; init; }
}

/// <summary>HF's <c>Seq2SeqLMOutput</c> (the fields BigBirdSharp returns).</summary>
public sealed class BigBirdPegasusSeq2SeqLMOutput
{
    /// <summary>Mean cross-entropy over the labels that are not -100, when labels were given.</summary>
    public float? Loss { get; init; }
    /// <summary>lm_logits [batch, decoder_seq, vocab_size] (final_logits_bias added).</summary>
    public required FloatTensor Logits { get; init; }
    /// <summary>The decoder's last hidden state [batch, decoder_seq, d_model] (HF returns it only among decoder_hidden_states).</summary>
    public required FloatTensor DecoderLastHiddenState { get; init; }
    /// <summary>The encoder's last hidden state [batch, seq, d_model].</summary>
    public required FloatTensor EncoderLastHiddenState { get; init; }
    /// <summary>The cache passed in, advanced by this call's decoder tokens; null without one.</summary>
    public BigBirdPegasusKeyValueCache? PastKeyValues { get; init; }
    /// <summary>The encoder's attention this call ran.</summary>
    public Configuration.AttentionType EncoderAttentionType { get; init; }
}
