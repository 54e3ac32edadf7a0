using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;
using BigBirdSharp.IO;
using BigBirdSharp.Modeling.Heads;

namespace BigBirdSharp.Modeling.Pegasus;

/// <summary>
/// The BigBirdPegasus decoder alone with a language-modeling head. Ports <c>BigBirdPegasusForCausalLM</c>
/// (transformers 4.27.1): <c>model.decoder</c> (causal self-attention, and cross-attention only when
/// encoder_hidden_states are given), then logits = lm_head(hidden_states), lm_head [vocab_size, d_model] without bias,
/// tied to <c>model.decoder.embed_tokens</c> unless tie_word_embeddings is false. It loads its own checkpoints
/// (<c>model.decoder.*</c>, <c>lm_head.weight</c>), a ForConditionalGeneration checkpoint's decoder (the encoder and
/// final_logits_bias are left unused, as in HF), or a bare model's (<c>decoder.*</c>). A loaded model is immutable and
/// safe to call from many threads; a cache belongs to its caller.
/// </summary>
public sealed partial class BigBirdPegasusForCausalLM : IDisposable
{
    /// <summary>model</summary>
    public BigBirdPegasusDecoderWrapper Model { get; }
    /// <summary>lm_head: [vocab_size, d_model], no bias.</summary>
    public Linear LmHead { get; }
    /// <summary>The configuration.</summary>
    public BigBirdPegasusConfig Config { get; }
    /// <summary>The backend the weights were bound to at load; every call runs on it.</summary>
    public IComputeBackend Backend { get; }

    private readonly DeviceBuffer _zeroRow;
    private readonly ModelLifetime _lifetime;

    private BigBirdPegasusForCausalLM(BigBirdPegasusConfig config, WeightLoader w, string prefix, ModelLifetime lifetime)
    {
        config.Validate();
        Config = config;
        Backend = w.Backend;
        _lifetime = lifetime;
        Model = new BigBirdPegasusDecoderWrapper(w, prefix, config);
        int d = config.DModel, vocab = config.VocabSize;
        var weight = config.TieWordEmbeddings ? Model.EmbedTokens.Weight : w.GetForBinding("lm_head.weight", vocab, d);
        LmHead = new Linear(w.Backend, weight, ReadOnlyMemory<float>.Empty, d, vocab);
        _zeroRow = Backend.Allocate(d);
    }

    /// <summary>Loads <c>config.json</c> and the decoder and lm_head of a Hugging Face BigBirdPegasusForCausalLM folder, or
    /// the decoder of a BigBirdPegasusForConditionalGeneration (such as <c>google/bigbird-pegasus-large-arxiv</c>) or
    /// BigBirdPegasusModel folder, binding them to the options' backend.</summary>
    /// <exception cref="BigBirdConfigException">config.json is missing or invalid.</exception>
    /// <exception cref="CheckpointFormatException">A weights file is missing or malformed.</exception>
    /// <exception cref="TensorMismatchException">A tensor is missing or has the wrong shape; the message names the file and the tensor.</exception>
    /// <exception cref="BigBirdException">The folder does not exist, or the backend lacks an operation the model needs.</exception>
    public static BigBirdPegasusForCausalLM FromPretrained(string directory, BigBirdModelOptions? options = null) =>
        BigBirdPegasusModel.Load(directory, options, (config, reader, w, lifetime) => new BigBirdPegasusForCausalLM(config, w, Prefix(reader), lifetime));

    /// <summary>"model." for a CausalLM or ForConditionalGeneration checkpoint, "" for a bare model's.</summary>
    private static string Prefix(ITensorReader reader)
    {
        if (reader.TryGetInfo("model.decoder.embed_positions.weight", out _)) return "model.";
        if (reader.TryGetInfo("decoder.embed_positions.weight", out _)) return "";
        string sample = string.Join(", ", reader.Names.Take(5));
        throw new TensorMismatchException("model.decoder.embed_positions.weight",
            "missing tensor 'model.decoder.embed_positions.weight' (with or without the 'model.' prefix); this is not a BigBirdPegasus " +
            $"decoder checkpoint. First tensors found: {sample}");
    }

    /// <summary>
    /// Releases the weights and the reader. Calls already running finish normally; calls begun afterwards throw
    /// <see cref="ObjectDisposedException"/>. Calling it again does nothing.
    /// </summary>
    public void Dispose() => _lifetime.Dispose();

    /// <summary>
    /// HF's <c>forward</c>: the decoder over input_ids after the cache's tokens (cross-attending to encoder_hidden_states
    /// when they are given), logits = lm_head(hidden_states), and with labels the mean cross-entropy of logits[i] against
    /// labels[i] (4.27.1 does not shift them).
    /// </summary>
    /// <param name="inputs">The call's inputs.</param>
    /// <param name="cancellationToken">Checked between layers.</param>
    /// <exception cref="BigBirdInputException">Inputs of the wrong shape, ids or labels outside the vocabulary, masks that are
    /// not 0/1, more tokens than max_position_embeddings, or a cache that does not fit.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public BigBirdPegasusCausalLMOutputWithCrossAttentions Forward(BigBirdPegasusCausalLMInputs inputs, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        using var lease = _lifetime.Enter(this);
        cancellationToken.ThrowIfCancellationRequested();
        Validate(inputs);
        int batch = inputs.BatchSize, seq = inputs.SequenceLength, vocab = Config.VocabSize, rows = batch * seq;
        using var call = NewCall(cancellationToken);
        var hidden_states = RunDecoder(call, inputs);
        // logits = self.lm_head(outputs[0])
        var logits_device = call.Rent(TensorSize.ForInput("logits", "[batch, seq, vocab_size]", "run fewer rows per call.", rows, vocab));
        LmHead.Forward(logits_device, hidden_states, rows);
        var logits = call.Download(logits_device);
        float? loss = null;
        if (inputs.Labels is { } labels)
            loss = Losses.CrossEntropy(logits, labels, vocab);
        return new BigBirdPegasusCausalLMOutputWithCrossAttentions
        {
            Loss = loss,
            Logits = new FloatTensor(logits, batch, seq, vocab),
            PastKeyValues = inputs.PastKeyValues,
        };
    }

    /// <summary>
    /// One decoding step for generation: runs the new tokens of every row (inputs.InputIds [batch, seq]) against the cache
    /// (which receives their keys and values and advances by seq) and returns the last position's logits [batch, vocab_size],
    /// HF's <c>outputs.logits[:, -1, :]</c>. The inputs are checked as in <see cref="Forward"/>; labels are not allowed.
    /// </summary>
    internal float[] LastPositionLogits(BigBirdPegasusCausalLMInputs inputs, CancellationToken cancellationToken = default)
    {
        using var lease = _lifetime.Enter(this);
        cancellationToken.ThrowIfCancellationRequested();
        if (inputs.Labels is not null) throw new BigBirdInputException("a decoding step takes no labels.");
        Validate(inputs);
        int batch = inputs.BatchSize, seq = inputs.SequenceLength, d = Config.DModel, vocab = Config.VocabSize;
        using var call = NewCall(cancellationToken);
        var hidden_states = RunDecoder(call, inputs);
        var last = call.Rent(batch * d);
        Backend.Copy(last, d, hidden_states.Slice((seq - 1) * d), seq * d, batch, d);
        var logits = call.Rent(batch * vocab);
        LmHead.Forward(logits, last, batch);
        return call.Download(logits);
    }

    /// <summary>A call's work space on this model's backend (the generation helper keeps one for a whole generation).</summary>
    internal BigBirdPegasusCall NewCall(CancellationToken cancellationToken) => new(Backend, _zeroRow.All, cancellationToken);

    internal ModelLifetime Lifetime => _lifetime;

    private DeviceSpan RunDecoder(BigBirdPegasusCall call, BigBirdPegasusCausalLMInputs inputs)
    {
        int batch = inputs.BatchSize, seq = inputs.SequenceLength;
        int encoderLength = inputs.EncoderHiddenStates is null ? 0 : inputs.EncoderSequenceLength;
        var encoder = inputs.EncoderHiddenStates is { } e ? call.Upload(e) : default;
        return Model.Decoder.Forward(call, inputs.InputIds, inputs.AttentionMask, batch, seq, encoder, encoderLength, inputs.EncoderAttentionMask,
                                     inputs.PastKeyValues);
    }

    /// <summary>Checks shapes, ranges, masks and the cache of a call.</summary>
    private void Validate(BigBirdPegasusCausalLMInputs inputs)
    {
        int batch = inputs.BatchSize, seq = inputs.SequenceLength, d = Config.DModel;
        if (batch <= 0 || seq <= 0)
            throw new BigBirdInputException($"empty input (batch {batch}, length {seq}): give at least one row of at least one token.");
        if (inputs.InputIds is null) throw new BigBirdInputException("give input_ids.");
        int past = inputs.PastKeyValues?.Length ?? 0;
        CheckLength(inputs.InputIds.Length, (long)batch * seq, "input_ids", $"[{batch}, {seq}]");
        for (int i = 0; i < inputs.InputIds.Length; i++)
            if ((uint)inputs.InputIds[i] >= (uint)Config.VocabSize)
                throw new BigBirdInputException(
                    $"input_ids[{i}] = {inputs.InputIds[i]} is outside [0, {Config.VocabSize}) (vocab_size); use the tokenizer that came with this checkpoint.");
        if ((long)past + seq > Config.MaxPositionEmbeddings)
            throw new BigBirdInputException(
                $"{past} cached + {seq} new tokens exceed max_position_embeddings {Config.MaxPositionEmbeddings}; decode fewer tokens.");
        if (inputs.AttentionMask is { } mask)
        {
            CheckLength(mask.Length, (long)batch * (past + seq), "attention_mask", past > 0 ? $"[{batch}, {past} past + {seq} new]" : $"[{batch}, {seq}]");
            CheckMask(mask, "attention_mask");
        }
        if (inputs.Labels is { } labels) CheckLength(labels.Length, (long)batch * seq, "labels", $"[{batch}, {seq}]");
        int encoderLength = inputs.EncoderSequenceLength;
        if (inputs.EncoderHiddenStates is { } encoder)
        {
            if (encoderLength <= 0)
                throw new BigBirdInputException($"encoder_hidden_states are given with EncoderSequenceLength {encoderLength}; give the encoder's length per row.");
            CheckLength(encoder.Length, (long)batch * encoderLength * d, "encoder_hidden_states", $"[{batch}, {encoderLength}, {d}]");
            if (inputs.EncoderAttentionMask is { } emask)
            {
                CheckLength(emask.Length, (long)batch * encoderLength, "encoder_attention_mask", $"[{batch}, {encoderLength}]");
                CheckMask(emask, "encoder_attention_mask");
            }
        }
        else if (inputs.EncoderAttentionMask is not null)
        {
            throw new BigBirdInputException("encoder_attention_mask is given without encoder_hidden_states; give both or neither.");
        }
        if (inputs.PastKeyValues is { } cache)
        {
            if (cache.Layers != Config.DecoderLayers || cache.Heads != Config.DecoderAttentionHeads || cache.HeadDim != Config.DecoderHeadDim)
                throw new BigBirdInputException(
                    $"past_key_values was made for {cache.Layers} layers × {cache.Heads} heads × {cache.HeadDim}, but this decoder has " +
                    $"{Config.DecoderLayers} × {Config.DecoderAttentionHeads} × {Config.DecoderHeadDim}; make the cache from this model's config.");
            if (cache.Backend != Backend)
                throw new BigBirdInputException($"past_key_values lives on backend '{cache.Backend.Name}', the model on '{Backend.Name}'; make the cache with the model's backend.");
            if (cache.BatchSize != batch)
                throw new BigBirdInputException($"past_key_values holds {cache.BatchSize} rows but the input has {batch}; use one cache per batch.");
            if ((long)past + seq > cache.Capacity)
                throw new BigBirdInputException(
                    $"past_key_values holds {past} of at most {cache.Capacity} tokens, too few for {seq} more; make a cache with a larger capacity.");
            if (inputs.EncoderHiddenStates is not null && cache.EncoderLength != 0 && cache.EncoderLength != encoderLength)
                throw new BigBirdInputException(
                    $"past_key_values holds cross-attention keys of {cache.EncoderLength} encoder tokens, but encoder_hidden_states have {encoderLength}; " +
                    "use one cache per encoder input.");
        }
    }

    private static void CheckMask(int[] mask, string name)
    {
        foreach (int m in mask)
            if (m is not (0 or 1)) throw new BigBirdInputException($"{name} holds {m}; use 1 for tokens to attend and 0 for padding.");
    }

    private static void CheckLength(long actual, long expected, string name, string shape)
    {
        if (actual != expected) throw new BigBirdInputException($"{name} has {actual} values, expected {expected} for shape {shape}.");
    }
}
