using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;
using BigBirdSharp.IO;

namespace BigBirdSharp.Modeling.Pegasus;

/// <summary>
/// The bare encoder-decoder. Ports <c>BigBirdPegasusModel</c> (transformers 4.27.1, <c>modeling_bigbird_pegasus.py</c>):
/// the shared token embedding, the block-sparse encoder and the decoder. A loaded model is immutable and safe to call
/// from many threads; every call owns its buffers (a cache belongs to its caller).
/// </summary>
public sealed class BigBirdPegasusModel : IDisposable
{
    /// <summary>The configuration it was built from.</summary>
    public BigBirdPegasusConfig Config { get; }
    /// <summary>shared: the token embedding of encoder, decoder and (tied) lm_head, [vocab_size, d_model].</summary>
    public Embedding Shared { get; }
    /// <summary>encoder</summary>
    public BigBirdPegasusEncoder Encoder { get; }
    /// <summary>decoder</summary>
    public BigBirdPegasusDecoder Decoder { get; }
    /// <summary>The backend the weights were bound to at load; every call runs on it.</summary>
    public IComputeBackend Backend { get; }

    /// <summary>nn.LayerNorm's default eps, which every BigBirdPegasus LayerNorm uses.</summary>
    internal const double LayerNormEps = 1e-5;

    private readonly DeviceBuffer _zeroRow;
    private readonly ModelLifetime _lifetime;

    /// <summary>The backend operations BigBirdPegasus runs on: BigBird's, and the elementwise Add of its residual connections.</summary>
    internal static readonly BackendOp[] RequiredOps = [.. BigBirdModel.RequiredOps, BackendOp.Add];

    internal BigBirdPegasusModel(BigBirdPegasusConfig config, WeightLoader w, string prefix, ModelLifetime lifetime)
    {
        config.Validate();
        Config = config;
        Backend = w.Backend;
        _lifetime = lifetime;
        // HF saves the shared table as shared.weight (and its tied copies as encoder/decoder.embed_tokens.weight)
        string shared = w.Has($"{prefix}shared.weight") || !w.Has($"{prefix}encoder.embed_tokens.weight") ? $"{prefix}shared" : $"{prefix}encoder.embed_tokens";
        Shared = new Embedding(w, shared, config.VocabSize, config.DModel);
        Encoder = new BigBirdPegasusEncoder(w, $"{prefix}encoder", config, Shared);
        Decoder = new BigBirdPegasusDecoder(w, $"{prefix}decoder", config, Shared);
        _zeroRow = Backend.Allocate(config.DModel);
    }

    /// <summary>Loads <c>config.json</c> and the weights of a Hugging Face BigBirdPegasusModel folder (or of a
    /// ForConditionalGeneration folder, whose <c>model.</c> tensors it reads), binding them to the options' backend.</summary>
    /// <exception cref="BigBirdConfigException">config.json is missing or invalid.</exception>
    /// <exception cref="CheckpointFormatException">A weights file is missing or malformed.</exception>
    /// <exception cref="TensorMismatchException">A tensor is missing or has the wrong shape; the message names the file and the tensor.</exception>
    /// <exception cref="BigBirdException">The folder does not exist, or the backend lacks an operation the model needs.</exception>
    public static BigBirdPegasusModel FromPretrained(string directory, BigBirdModelOptions? options = null) =>
        Load(directory, options, (config, reader, w, lifetime) => new BigBirdPegasusModel(config, w, Prefix(reader), lifetime));

    /// <summary>Opens a folder and builds a model over it, the reader owned by the model's lifetime.</summary>
    internal static T Load<T>(string directory, BigBirdModelOptions? options, Func<BigBirdPegasusConfig, ITensorReader, WeightLoader, ModelLifetime, T> build)
    {
        if (!Directory.Exists(directory))
            throw new BigBirdException($"{directory}: no such folder; pass a Hugging Face checkpoint folder (config.json + weights).");
        var config = BigBirdPegasusConfig.FromFile(Path.Combine(directory, "config.json"));
        var backend = BigBirdModel.CheckBackend(options, RequiredOps, "BigBirdPegasus");
        var reader = CheckpointLoader.Open(directory);
        try
        {
            var lifetime = new ModelLifetime();
            var w = new WeightLoader(reader, "", backend, options);
            T model;
            try
            {
                model = build(config, reader, w, lifetime);
            }
            catch (TensorMismatchException e)
            {
                // name the file as well as the tensor
                string file = FileOf(reader, directory);
                if (e.Message.Contains(file, StringComparison.Ordinal)) throw;
                throw new TensorMismatchException(e.TensorName, $"{file}: {e.Message}");
            }
            lifetime.OnRelease(reader.Dispose);
            w.Finish();
            return model;
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }

    private static string FileOf(ITensorReader reader, string directory)
    {
        foreach (var name in reader.Names)
            if (reader.TryGetInfo(name, out var info)) return info.FilePath;
        return directory;
    }

    /// <summary>"model." when the checkpoint is a head's (ForConditionalGeneration), else "".</summary>
    internal static string Prefix(ITensorReader reader)
    {
        if (reader.TryGetInfo("model.encoder.embed_positions.weight", out _)) return "model.";
        if (reader.TryGetInfo("encoder.embed_positions.weight", out _)) return "";
        string sample = string.Join(", ", reader.Names.Take(5));
        throw new TensorMismatchException("model.encoder.embed_positions.weight",
            "missing tensor 'model.encoder.embed_positions.weight' (with or without the 'model.' prefix); this is not a BigBirdPegasus " +
            $"checkpoint. First tensors found: {sample}");
    }

    /// <summary>
    /// Releases the weights and the reader. Calls already running finish normally; calls begun afterwards throw
    /// <see cref="ObjectDisposedException"/>. Calling it again does nothing.
    /// </summary>
    public void Dispose() => _lifetime.Dispose();

    internal ModelLifetime Lifetime => _lifetime;

    /// <summary>
    /// HF's <c>BigBirdPegasusModel.forward</c>: the encoder (unless <see cref="BigBirdPegasusInputs.EncoderOutputs"/> is given),
    /// then the decoder over decoder_input_ids, which default to shift_tokens_right(input_ids).
    /// </summary>
    /// <param name="inputs">The call's inputs.</param>
    /// <param name="options">Attention type override and random-attention semantics (default: deterministic, as current HF).</param>
    /// <param name="cancellationToken">Checked between layers.</param>
    /// <exception cref="BigBirdInputException">Inputs of the wrong shape, ids outside the vocabulary, masks that are not 0/1,
    /// lengths beyond max_position_embeddings, or a cache that does not fit.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public BigBirdPegasusModelOutput Forward(BigBirdPegasusInputs inputs, BigBirdForwardOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        using var lease = _lifetime.Enter(this);
        cancellationToken.ThrowIfCancellationRequested();
        var decoderIds = DecoderInputIds(inputs, out int decoderSeq);
        Validate(inputs, decoderIds, decoderSeq, requireDecoderIds: false);
        using var call = NewCall(cancellationToken);
        var run = Run(call, inputs, decoderIds, decoderSeq, options ?? BigBirdForwardOptions.Default);
        int batch = inputs.BatchSize, d = Config.DModel;
        return new BigBirdPegasusModelOutput
        {
            LastHiddenState = new FloatTensor(call.Download(run.Decoder), batch, decoderSeq, d),
            EncoderLastHiddenState = new FloatTensor(call.Download(run.Encoder), batch, inputs.SequenceLength, d),
            PastKeyValues = inputs.PastKeyValues,
            EncoderAttentionType = run.AttentionType,
        };
    }

    /// <summary>
    /// HF's rule of BigBirdPegasusModel.forward (and of the sequence-classification and question-answering heads, which
    /// call it): the given decoder_input_ids, or else shift_tokens_right(input_ids).
    /// </summary>
    /// <exception cref="BigBirdInputException">Neither decoder_input_ids nor input_ids, or input_ids of the wrong shape.</exception>
    internal int[] DecoderInputIds(BigBirdPegasusInputs inputs, out int decoderSeq)
    {
        if (inputs.DecoderInputIds is not null)
        {
            decoderSeq = inputs.DecoderSequenceLength;
            return inputs.DecoderInputIds;
        }
        if (inputs.InputIds is null)
            throw new BigBirdInputException("give decoder_input_ids, or input_ids to derive them from (shift_tokens_right), as HF requires.");
        Validate(inputs, inputs.InputIds, inputs.SequenceLength, requireDecoderIds: false);
        decoderSeq = inputs.SequenceLength;
        return BigBirdPegasusInputs.ShiftTokensRight(inputs.InputIds, inputs.BatchSize, inputs.SequenceLength, Config.PadTokenId, Config.DecoderStartTokenId);
    }

    internal BigBirdPegasusCall NewCall(CancellationToken cancellationToken) => new(Backend, _zeroRow.All, cancellationToken);

    internal readonly record struct RunResult(DeviceSpan Encoder, DeviceSpan Decoder, AttentionType AttentionType);

    /// <summary>Encoder (or the given encoder outputs) then decoder, in the call's work space.</summary>
    internal RunResult Run(BigBirdPegasusCall call, BigBirdPegasusInputs inputs, int[] decoderIds, int decoderSeq, BigBirdForwardOptions options)
    {
        int batch = inputs.BatchSize, seq = inputs.SequenceLength;
        var encoder = RunEncoder(call, inputs, options, out var type);
        var decoder = Decoder.Forward(call, decoderIds, inputs.DecoderAttentionMask, batch, decoderSeq, encoder, seq, inputs.AttentionMask,
                                      inputs.PastKeyValues);
        return new RunResult(encoder, decoder, type);
    }

    /// <summary>The encoder's last hidden state: the given encoder outputs, uploaded, or the encoder run on input_ids.</summary>
    internal DeviceSpan RunEncoder(BigBirdPegasusCall call, BigBirdPegasusInputs inputs, BigBirdForwardOptions options, out AttentionType type)
    {
        if (inputs.EncoderOutputs is { } given)
        {
            type = Config.AttentionType;
            return call.Upload(given);
        }
        return Encoder.Forward(call, inputs.InputIds!, inputs.AttentionMask, inputs.BatchSize, inputs.SequenceLength, options, out type);
    }

    /// <summary>Checks shapes, ranges, masks and the cache of a call.</summary>
    internal void Validate(BigBirdPegasusInputs inputs, int[]? decoderIds, int decoderSeq, bool requireDecoderIds)
    {
        int batch = inputs.BatchSize, seq = inputs.SequenceLength;
        if (batch <= 0 || seq <= 0)
            throw new BigBirdInputException($"empty input (batch {batch}, length {seq}): give at least one sequence of at least one token.");
        if ((inputs.InputIds is null) == (inputs.EncoderOutputs is null))
            throw new BigBirdInputException("give exactly one of input_ids and encoder_outputs.");
        if (seq > Config.MaxPositionEmbeddings)
            throw new BigBirdInputException($"input of {seq} tokens exceeds max_position_embeddings {Config.MaxPositionEmbeddings}; truncate the input.");
        long tokens = (long)batch * seq;
        if (inputs.InputIds is { } ids)
        {
            CheckLength(ids.Length, tokens, "input_ids", $"[{batch}, {seq}]");
            CheckIds(ids, "input_ids");
        }
        if (inputs.EncoderOutputs is { } enc) CheckLength(enc.Length, tokens * Config.DModel, "encoder_outputs", $"[{batch}, {seq}, {Config.DModel}]");
        if (inputs.AttentionMask is { } mask)
        {
            CheckLength(mask.Length, tokens, "attention_mask", $"[{batch}, {seq}]");
            CheckMask(mask, "attention_mask");
        }
        if (decoderIds is null)
        {
            if (requireDecoderIds) throw new BigBirdInputException("give decoder_input_ids or labels.");
            return;
        }
        int past = inputs.PastKeyValues?.Length ?? 0;
        if (decoderSeq <= 0) throw new BigBirdInputException($"decoder_input_ids has length {decoderSeq}; give at least one decoder token.");
        CheckLength(decoderIds.Length, (long)batch * decoderSeq, "decoder_input_ids", $"[{batch}, {decoderSeq}]");
        CheckIds(decoderIds, "decoder_input_ids");
        if ((long)past + decoderSeq > Config.MaxPositionEmbeddings)
            throw new BigBirdInputException(
                $"{past} cached + {decoderSeq} decoder tokens exceed max_position_embeddings {Config.MaxPositionEmbeddings}; decode fewer tokens.");
        if (inputs.DecoderAttentionMask is { } dmask)
        {
            CheckLength(dmask.Length, (long)batch * (past + decoderSeq), "decoder_attention_mask",
                        past > 0 ? $"[{batch}, {past} past + {decoderSeq} new]" : $"[{batch}, {decoderSeq}]");
            CheckMask(dmask, "decoder_attention_mask");
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
            if ((long)past + decoderSeq > cache.Capacity)
                throw new BigBirdInputException(
                    $"past_key_values holds {past} of at most {cache.Capacity} tokens, too few for {decoderSeq} more; make a cache with a larger capacity.");
            if (cache.EncoderLength != 0 && cache.EncoderLength != seq)
                throw new BigBirdInputException(
                    $"past_key_values holds cross-attention keys of {cache.EncoderLength} encoder tokens, but the input has {seq}; use one cache per input.");
        }
    }

    private void CheckIds(int[] ids, string name)
    {
        for (int i = 0; i < ids.Length; i++)
            if ((uint)ids[i] >= (uint)Config.VocabSize)
                throw new BigBirdInputException($"{name}[{i}] = {ids[i]} is outside [0, {Config.VocabSize}) (vocab_size); use the tokenizer that came with this checkpoint.");
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
