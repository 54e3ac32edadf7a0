using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;
using BigBirdSharp.RandomAttention;

namespace BigBirdSharp.Modeling;

/// <summary>
/// The tensors of one forward call, flattened row-major: HF's <c>input_ids</c>, <c>inputs_embeds</c>,
/// <c>attention_mask</c>, <c>token_type_ids</c>, <c>position_ids</c> and <c>head_mask</c>.
/// </summary>
public sealed class BigBirdInputs
{
    /// <summary>Batch size.</summary>
    public int BatchSize { get; }
    /// <summary>Sequence length (before any block padding).</summary>
    public int SequenceLength { get; }
    /// <summary>[batch, seq] token ids, or null when <see cref="InputsEmbeds"/> is given.</summary>
    public int[]? InputIds { get; init; }
    /// <summary>[batch, seq, hidden] embeddings used instead of word embeddings, or null.</summary>
    public float[]? InputsEmbeds { get; init; }
    /// <summary>[batch, seq] of 0/1; null means all ones.</summary>
    public int[]? AttentionMask { get; init; }
    /// <summary>[batch, seq]; null means all zeros.</summary>
    public int[]? TokenTypeIds { get; init; }
    /// <summary>[batch, seq]; null means 0..seq−1.</summary>
    public int[]? PositionIds { get; init; }
    /// <summary>[heads] or [layers, heads] multipliers of attention probabilities (full attention only, as in HF); null for none.</summary>
    public float[]? HeadMask { get; init; }

    // ---- decoder ------------------------------------------------------------------------------

    /// <summary>[batch, encoder_seq, hidden] keys/values of cross-attention (a decoder with <c>add_cross_attention</c>), or null.</summary>
    public float[]? EncoderHiddenStates { get; init; }
    /// <summary>encoder_seq of <see cref="EncoderHiddenStates"/>.</summary>
    public int EncoderSequenceLength { get; init; }
    /// <summary>[batch, encoder_seq] 0/1 mask of the encoder tokens; null means all ones.</summary>
    public int[]? EncoderAttentionMask { get; init; }
    /// <summary>
    /// HF's <c>past_key_values</c> + <c>use_cache</c>: when set, the call attends over the cached tokens too and
    /// appends its own keys/values. <see cref="AttentionMask"/> then covers past + new tokens, as in HF.
    /// </summary>
    public BigBirdKeyValueCache? PastKeyValues { get; init; }

    // ---- task heads (ignored by the bare BigBirdModel) ----------------------------------------

    /// <summary>
    /// HF's <c>labels</c> as integers (class ids, token ids, -100 to ignore): [batch, seq] for the LM and token heads,
    /// [batch] for sequence classification and multiple choice. Integer labels make HF infer single-label classification.
    /// </summary>
    public int[]? Labels { get; init; }
    /// <summary>HF's <c>labels</c> as floats: regression targets [batch] or [batch, num_labels], or multi-label 0/1 targets [batch, num_labels].</summary>
    public float[]? FloatLabels { get; init; }
    /// <summary>[batch] NSP labels of <c>BigBirdForPreTraining</c> (0: B follows A, 1: random).</summary>
    public int[]? NextSentenceLabel { get; init; }
    /// <summary>[batch] answer start token of <c>BigBirdForQuestionAnswering</c>; clamped to [0, seq] as HF does.</summary>
    public int[]? StartPositions { get; init; }
    /// <summary>[batch] answer end token of <c>BigBirdForQuestionAnswering</c>.</summary>
    public int[]? EndPositions { get; init; }
    /// <summary>[batch] question lengths of <c>BigBirdForQuestionAnswering</c> (HF's [batch, 1]); null derives them from the first sep_token_id.</summary>
    public int[]? QuestionLengths { get; init; }
    /// <summary>
    /// For <c>BigBirdForMultipleChoice</c>: choices per example. The tensors then hold [batch·choices, seq] rows,
    /// example-major (HF's <c>input_ids.view(-1, seq)</c> of [batch, choices, seq]); 0 otherwise.
    /// </summary>
    public int NumChoices { get; init; }

    /// <summary>Declares the batch and sequence sizes; set the tensors with the init properties.</summary>
    public BigBirdInputs(int batchSize, int sequenceLength)
    {
        BatchSize = batchSize;
        SequenceLength = sequenceLength;
    }

    /// <summary>Builds inputs from rows of ids (all rows the same length), with optional masks of the same shape.</summary>
    /// <exception cref="BigBirdInputException">Empty input, a null or ragged row, or more ids than one buffer can hold.</exception>
    public static BigBirdInputs FromIds(int[][] inputIds, int[][]? attentionMask = null, int[][]? tokenTypeIds = null, int[][]? positionIds = null)
    {
        ArgumentNullException.ThrowIfNull(inputIds);
        if (inputIds.Length == 0 || inputIds[0] is null || inputIds[0].Length == 0)
            throw new BigBirdInputException("input_ids is empty: give at least one sequence of at least one token.");
        int seq = inputIds[0].Length;
        return new BigBirdInputs(inputIds.Length, seq)
        {
            InputIds = Flatten(inputIds, seq, "input_ids"),
            AttentionMask = attentionMask is null ? null : Flatten(attentionMask, seq, "attention_mask", inputIds.Length),
            TokenTypeIds = tokenTypeIds is null ? null : Flatten(tokenTypeIds, seq, "token_type_ids", inputIds.Length),
            PositionIds = positionIds is null ? null : Flatten(positionIds, seq, "position_ids", inputIds.Length),
        };
    }

    private static int[] Flatten(int[][] rows, int seq, string name, int? batch = null)
    {
        if (batch is int b && rows.Length != b)
            throw new BigBirdInputException($"{name} has {rows.Length} rows but input_ids has {b}; give one row per sequence.");
        var flat = new int[TensorSize.ForInput(name, "[batch, seq]", "give fewer rows per call or shorter rows.", rows.Length, seq)];
        for (int i = 0; i < rows.Length; i++)
        {
            if (rows[i] is null)
                throw new BigBirdInputException($"{name} row {i} is null; give every row as an array of {seq} values.");
            if (rows[i].Length != seq)
                throw new BigBirdInputException($"{name} row {i} has {rows[i].Length} tokens, expected {seq}: pad every row to the same length and mark padding in attention_mask.");
            rows[i].CopyTo(flat, i * seq);
        }
        return flat;
    }
}

/// <summary>Load-time settings of a model: where its weights live and its arithmetic runs.</summary>
public sealed record BigBirdModelOptions
{
    /// <summary>
    /// The compute backend the weights are bound to (packed or uploaded) at load; null means <see cref="CpuBackend.Instance"/>.
    /// Every operation the model uses is checked against <see cref="IComputeBackend.Supports"/> at load.
    /// </summary>
    public IComputeBackend? Backend { get; init; }

    /// <summary>
    /// Threads each CPU operation runs on, the calling thread included, when <see cref="Backend"/> is null: the model is
    /// bound to <see cref="CpuBackend.Create"/>(Threads). Null (the default) means every processor
    /// (<see cref="CpuBackend.Instance"/>). Checked at load: a value below 1 is a <see cref="BigBirdOptionsException"/>, and
    /// so is a <see cref="Backend"/> that is set too and is not a <see cref="CpuBackend"/> of exactly this many threads.
    /// </summary>
    public int? Threads { get; init; }

    /// <summary>
    /// Receives one line per load-time warning: a weight tensor holding NaN or ±Inf (named with its file and the count of
    /// such values). Null drops warnings.
    /// </summary>
    public Action<string>? Warning { get; init; }

    /// <summary>
    /// Refuse a checkpoint whose weights hold NaN or ±Inf with a <see cref="CheckpointFormatException"/> naming the file
    /// and the tensor, instead of loading it with a <see cref="Warning"/> (HF loads such weights silently).
    /// </summary>
    public bool RejectNonFiniteWeights { get; init; }

    /// <summary>The backend these options select: <see cref="Backend"/>, else the CPU backend of <see cref="Threads"/>.</summary>
    /// <exception cref="BigBirdOptionsException">Threads is below 1, or contradicts Backend.</exception>
    internal IComputeBackend ResolveBackend()
    {
        if (Threads is int threads)
        {
            if (threads < 1)
                throw new BigBirdOptionsException(nameof(Threads),
                    $"Threads is {threads}; give at least 1, or null to use every processor ({Environment.ProcessorCount}).");
            if (Backend is null) return CpuBackend.Create(threads);
            if (Backend is not CpuBackend cpu)
                throw new BigBirdOptionsException(nameof(Threads),
                    $"Threads is {threads} but Backend is '{Backend.Name}', which is not the CPU backend; set one of them, not both.");
            if (cpu.Threads != threads)
                throw new BigBirdOptionsException(nameof(Threads),
                    $"Threads is {threads} but Backend is a CPU backend of {cpu.Threads} threads; set one of them, not both.");
            return cpu;
        }
        return Backend ?? CpuBackend.Instance;
    }
}

/// <summary>Per-call settings of <see cref="BigBirdModel.Forward"/>.</summary>
public sealed record BigBirdForwardOptions
{
    /// <summary>The defaults: the config's attention type, deterministic random blocks, no extra outputs.</summary>
    public static BigBirdForwardOptions Default { get; } = new();

    /// <summary>Overrides <c>config.attention_type</c> for this call (HF's <c>set_attention_type</c>, without mutating the model).</summary>
    public AttentionType? AttentionType { get; init; }
    /// <summary>Which random-block semantics block-sparse attention uses (default deterministic, as current transformers in eval mode).</summary>
    public RandomAttentionSemantics RandomAttention { get; init; } = RandomAttentionSemantics.Deterministic;
    /// <summary>Return every layer's input and the final hidden states (HF <c>output_hidden_states</c>).</summary>
    public bool OutputHiddenStates { get; init; }
    /// <summary>Return attention probabilities (HF <c>output_attentions</c>); dense [batch, heads, seq, seq] maps.</summary>
    public bool OutputAttentions { get; init; }
    /// <summary>
    /// Receives a copy of every intermediate tensor, named by its HF module path inside BigBirdModel (what a
    /// forward hook on that module returns): <c>embeddings</c>; per layer <c>encoder.layer.i.attention.self.query</c>,
    /// <c>.key</c>, <c>.value</c> (the Linear outputs, [batch, seq, hidden]), <c>.attention.self</c> (the context),
    /// <c>.attention.output</c>, <c>.intermediate</c>, <c>.output</c>; <c>pooler</c> (before tanh) and
    /// <c>activation</c> (= pooler_output). Block-sparse tensors are at the block-padded length, as in HF.
    /// Null (the default) costs nothing.
    /// </summary>
    public Action<string, FloatTensor>? Trace { get; init; }
}

/// <summary>HF's <c>BaseModelOutputWithPoolingAndCrossAttentions</c> for the encoder.</summary>
public sealed class BigBirdModelOutput
{
    /// <summary>[batch, seq, hidden], unpadded to the input length.</summary>
    public required FloatTensor LastHiddenState { get; init; }
    /// <summary>[batch, hidden] tanh(pooler(first token)); null when the checkpoint has no pooler.</summary>
    public FloatTensor? PoolerOutput { get; init; }
    /// <summary>L+1 tensors [batch, seq', hidden] (seq' is the block-padded length under block_sparse, as in HF), or null.</summary>
    public IReadOnlyList<FloatTensor>? HiddenStates { get; init; }
    /// <summary>L tensors [batch, heads, seq', seq'], or null.</summary>
    public IReadOnlyList<FloatTensor>? Attentions { get; init; }
    /// <summary>L tensors [batch, heads, seq, encoder_seq] of cross-attention probabilities (decoder with cross-attention), or null.</summary>
    public IReadOnlyList<FloatTensor>? CrossAttentions { get; init; }
    /// <summary>The cache passed in <see cref="BigBirdInputs.PastKeyValues"/>, now holding this call's tokens too; or null.</summary>
    public BigBirdKeyValueCache? PastKeyValues { get; init; }
    /// <summary>The attention that actually ran (block_sparse falls back to original_full for short inputs).</summary>
    public AttentionType AttentionType { get; init; }
}
