namespace BigBirdSharp.Modeling.Pegasus;

/// <summary>
/// The inputs of a <see cref="BigBirdPegasusForCausalLM"/> forward call, named as HF's <c>forward</c> arguments; arrays
/// are row-major.
/// </summary>
public sealed class BigBirdPegasusCausalLMInputs
{
    /// <summary>Rows of the batch.</summary>
    public int BatchSize { get; }
    /// <summary>New tokens per row of <see cref="InputIds"/> (after the cache's).</summary>
    public int SequenceLength { get; }
    /// <summary>input_ids [batch, seq]: the new tokens.</summary>
    public required int[] InputIds { get; init; }
    /// <summary>attention_mask [batch, past + seq] of 0/1 over the cached and the new tokens; null means all ones.</summary>
    public int[]? AttentionMask { get; init; }
    /// <summary>encoder_hidden_states [batch, encoder_seq, d_model] for the cross-attention; null runs the decoder without it.</summary>
    public float[]? EncoderHiddenStates { get; init; }
    /// <summary>Tokens per row of <see cref="EncoderHiddenStates"/>.</summary>
    public int EncoderSequenceLength { get; init; }
    /// <summary>encoder_attention_mask [batch, encoder_seq] of 0/1; null means all ones.</summary>
    public int[]? EncoderAttentionMask { get; init; }
    /// <summary>past_key_values: the decoder's cache, filled in place; null runs without one.</summary>
    public BigBirdPegasusKeyValueCache? PastKeyValues { get; init; }
    /// <summary>labels [batch, seq]: the target of each position (HF's BigBirdPegasusForCausalLM does not shift them), or -100.</summary>
    public int[]? Labels { get; init; }

    /// <summary>Inputs of <paramref name="batchSize"/> rows of <paramref name="sequenceLength"/> new tokens.</summary>
    public BigBirdPegasusCausalLMInputs(int batchSize, int sequenceLength)
    {
        BatchSize = batchSize;
        SequenceLength = sequenceLength;
    }
}
