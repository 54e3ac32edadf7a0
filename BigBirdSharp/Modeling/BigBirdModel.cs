using System.Collections.Concurrent;
using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;
using BigBirdSharp.IO;
using BigBirdSharp.RandomAttention;

namespace BigBirdSharp.Modeling;

/// <summary>
/// The bare BigBird encoder. Ports <c>BigBirdModel</c> (transformers 4.27.1 and current main,
/// <c>modeling_big_bird.py</c>): embeddings, encoder, and the tanh pooler over the first token.
/// A loaded model is immutable and safe to call from many threads; every call owns its buffers.
/// </summary>
public sealed class BigBirdModel : IDisposable
{
    /// <summary>HF's <c>config</c>: the configuration it was built from.</summary>
    public BigBirdConfig Config { get; }
    /// <summary>model.embeddings</summary>
    public BigBirdEmbeddings Embeddings { get; }
    /// <summary>model.encoder</summary>
    public BigBirdEncoder Encoder { get; }
    /// <summary>model.pooler ([hidden, hidden] + bias, followed by tanh), or null when the checkpoint has none.</summary>
    public Linear? Pooler { get; }
    /// <summary>The backend the weights were bound to at load; every call runs on it.</summary>
    public IComputeBackend Backend { get; }

    private readonly ITensorReader? _owned;
    private readonly ConcurrentDictionary<(RandomAttentionSemantics, int Layer, int SeqLength), int[]> _plans = new();
    // the run states of the most recent calls, least recent first, for the next call of the same shape
    private readonly ForwardState?[] _idle = new ForwardState?[MaxIdleStates];
    private readonly object _idleGate = new();
    // every call that touches the weights holds it; shared with the head that owns this model, if any
    private readonly ModelLifetime _lifetime;

    /// <summary>
    /// How many finished calls' run states the model keeps for reuse: a repeated call of a recent shape allocates only its
    /// outputs, and inputs of ever-changing lengths keep at most this many states (older ones are given back to the
    /// backend's pool, which frees what it cannot keep).
    /// </summary>
    internal const int MaxIdleStates = 2;

    /// <summary>The operations the model's forward uses; the backend must support all of them.</summary>
    internal static readonly BackendOp[] RequiredOps =
    [
        BackendOp.Linear, BackendOp.LayerNorm, BackendOp.EmbeddingSum, BackendOp.Activation, BackendOp.Copy, BackendOp.Heads,
        BackendOp.FullAttention, BackendOp.BlockSparseAttention,
    ];

    private BigBirdModel(BigBirdConfig config, ITensorReader reader, bool ownsReader, BigBirdModelOptions? options, bool? addPoolingLayer = null,
                         ModelLifetime? lifetime = null, WeightLoader? headLoader = null)
    {
        config.Validate();
        this.Config = config;
        Backend = CheckBackend(options);
        var w = WeightLoader.For(reader, Backend, options, headLoader);
        Embeddings = new BigBirdEmbeddings(w, config);
        w.Settle();
        Encoder = new BigBirdEncoder(w, config);
        // bare model: the pooler when the checkpoint has one; heads: HF's add_pooling_layer (required when true)
        Pooler = addPoolingLayer ?? w.Has("pooler.weight") ? new Linear(w, "pooler", config.HiddenSize, config.HiddenSize) : null;
        _owned = ownsReader ? reader : null;
        _lifetime = lifetime ?? new ModelLifetime();
        _lifetime.OnRelease(ReleaseIdleStates);
        if (_owned is not null) _lifetime.OnRelease(_owned.Dispose);
        w.Finish();
    }

    /// <summary>The backend of <paramref name="options"/> (the CPU backend by default), once it is known to support every operation.</summary>
    /// <exception cref="BigBirdOptionsException">The options' Threads is below 1 or contradicts their Backend.</exception>
    /// <exception cref="BigBirdException">The backend lacks an operation; the message names it.</exception>
    internal static IComputeBackend CheckBackend(BigBirdModelOptions? options) => CheckBackend(options, RequiredOps, "BigBird");

    /// <summary>As <see cref="CheckBackend(BigBirdModelOptions?)"/>, for a model that needs <paramref name="required"/>.</summary>
    /// <exception cref="BigBirdOptionsException">The options' Threads is below 1 or contradicts their Backend.</exception>
    /// <exception cref="BigBirdException">The backend lacks an operation; the message names it and the model.</exception>
    internal static IComputeBackend CheckBackend(BigBirdModelOptions? options, BackendOp[] required, string model)
    {
        var backend = options?.ResolveBackend() ?? CpuBackend.Instance;
        foreach (var op in required)
            if (!backend.Supports(op))
                throw new BigBirdException($"backend '{backend.Name}' does not support the operation {op}, which {model} needs; choose another backend.");
        return backend;
    }

    /// <summary>The <c>bert</c> of a task head, over a reader the head owns, sharing the head's lifetime, backend and
    /// non-finite check (<paramref name="heads"/> is the head's loader).</summary>
    internal static BigBirdModel ForHead(BigBirdConfig config, ITensorReader reader, bool addPoolingLayer, WeightLoader heads,
                                         ModelLifetime lifetime) =>
        new(config, reader, ownsReader: false, new BigBirdModelOptions { Backend = heads.Backend }, addPoolingLayer, lifetime, heads);

    /// <summary>Loads <c>config.json</c> and the weights of a Hugging Face checkpoint folder, binding them to the options' backend.</summary>
    /// <param name="directory">A folder with config.json and model.safetensors, a sharded safetensors index, or pytorch_model.bin.</param>
    /// <param name="options">The backend and other load-time settings; null for the CPU backend.</param>
    /// <exception cref="BigBirdConfigException">config.json is missing or invalid.</exception>
    /// <exception cref="CheckpointFormatException">A weights file is missing or malformed.</exception>
    /// <exception cref="TensorMismatchException">A tensor is missing or has the wrong shape.</exception>
    /// <exception cref="BigBirdException">The backend lacks an operation the model needs.</exception>
    public static BigBirdModel FromPretrained(string directory, BigBirdModelOptions? options = null)
    {
        if (!Directory.Exists(directory))
            throw new BigBirdException($"{directory}: no such folder; pass a Hugging Face checkpoint folder (config.json + weights).");
        var config = BigBirdConfig.FromFile(Path.Combine(directory, "config.json"));
        var reader = CheckpointLoader.Open(directory);
        try
        {
            return new BigBirdModel(config, reader, ownsReader: true, options);
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }

    /// <summary>Builds the model over an open reader, which must outlive the model (the caller disposes it).</summary>
    /// <exception cref="TensorMismatchException">A tensor is missing or has the wrong shape.</exception>
    /// <exception cref="BigBirdException">The backend lacks an operation the model needs.</exception>
    internal static BigBirdModel FromReader(BigBirdConfig config, ITensorReader reader, BigBirdModelOptions? options = null) =>
        new(config, reader, ownsReader: false, options);

    /// <summary>
    /// Releases the memory-mapped weights of a model made by <see cref="FromPretrained"/> and the idle work space. Safe to call
    /// while other threads run <see cref="Forward"/>: calls already running finish normally and the memory is released
    /// when the last of them returns (Dispose itself does not wait); calls begun afterwards throw
    /// <see cref="ObjectDisposedException"/>. The <c>bert</c> of a task head shares the head's lifetime: disposing
    /// either disposes both. Calling it again does nothing.
    /// </summary>
    public void Dispose() => _lifetime.Dispose();

    /// <summary>Whether <see cref="Dispose"/> has run (on this model or on the head that owns it).</summary>
    internal bool IsDisposed => _lifetime.IsDisposed;

    /// <summary>The lifetime this model's calls hold; a head shares its own with its <c>bert</c>.</summary>
    internal ModelLifetime Lifetime => _lifetime;

    /// <summary>
    /// Keeps the weights alive until the lease is disposed, for a caller that makes several calls as one (a pipeline):
    /// either all of them run, or the first throws <see cref="ObjectDisposedException"/>.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    internal ModelLifetime.Lease Acquire() => _lifetime.Enter(this);

    // runs once, after Dispose, when no call holds the model any more
    private void ReleaseIdleStates()
    {
        lock (_idleGate)
        {
            for (int i = 0; i < _idle.Length; i++)
            {
                _idle[i]?.Dispose();
                _idle[i] = null;
            }
        }
    }

    /// <summary>The attention type a call of unpadded length <paramref name="seqLength"/> runs with.</summary>
    /// <remarks>
    /// HF switches a block_sparse model to original_full for good the first time it sees
    /// seq_length ≤ (5 + 2·num_random_blocks)·block_size (transformers issue 20031). We decide per call.
    /// A model with cross-attention always runs original_full, as HF forces at construction, and so does a call
    /// with a key/value cache (block-sparse attention keeps no cache).
    /// </remarks>
    public AttentionType EffectiveAttentionType(int seqLength, AttentionType? requested = null, bool withCache = false)
    {
        if (requested is null && (Config.AddCrossAttention || withCache)) return AttentionType.OriginalFull;
        var type = requested ?? Config.AttentionType;
        return type == AttentionType.BlockSparse && seqLength <= Config.MaxTokensToAttend ? AttentionType.OriginalFull : type;
    }

    /// <summary>Runs the encoder and the pooler, as <c>BigBirdModel.forward</c> in eval mode.</summary>
    /// <param name="inputs">HF's forward arguments.</param>
    /// <param name="options">Per-call settings; null for the defaults.</param>
    /// <param name="cancellationToken">Checked before the call and between layers. A cancelled call leaves the model
    /// (and a key/value cache it was given) as it found them.</param>
    /// <exception cref="BigBirdInputException">Empty input, out-of-range ids, or a length the position table cannot hold.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="ObjectDisposedException">The model (or the head that owns it) has been disposed.</exception>
    public BigBirdModelOutput Forward(BigBirdInputs inputs, BigBirdForwardOptions? options = null, CancellationToken cancellationToken = default)
    {
        using var lease = _lifetime.Enter(this);
        return ForwardLeased(inputs, options, cancellationToken);
    }

    /// <summary>
    /// <see cref="Forward"/> for a caller that already holds a lease on this model's lifetime (a head's forward, a
    /// pipeline): a call admitted before Dispose runs to its end.
    /// </summary>
    internal BigBirdModelOutput ForwardLeased(BigBirdInputs inputs, BigBirdForwardOptions? options, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        options ??= BigBirdForwardOptions.Default;
        int batch_size = inputs.BatchSize, seq_length = inputs.SequenceLength, hidden = Config.HiddenSize;
        Validate(inputs);
        var cache = inputs.PastKeyValues;
        int past_key_values_length = cache?.Length ?? 0;
        int encoder_length = inputs.EncoderHiddenStates is null ? 0 : inputs.EncoderSequenceLength;

        var attention_type = EffectiveAttentionType(seq_length, options.AttentionType, cache is not null);
        if (attention_type == AttentionType.BlockSparse && (cache is not null || encoder_length > 0))
            throw new BigBirdInputException(
                "block_sparse attention has no key/value cache and no cross-attention (HF: 'BigBird cannot be used as a decoder " +
                "when config.attention_type != original_full'); run this call with attention_type original_full.");

        // block_sparse pads every input to a multiple of block_size (_pad_to_block_size)
        int padding_len = attention_type == AttentionType.BlockSparse
            ? (Config.BlockSize - seq_length % Config.BlockSize) % Config.BlockSize : 0;
        long padded_length = (long)seq_length + padding_len;
        if (padded_length > int.MaxValue)
            throw new BigBirdInputException(
                $"input of {seq_length} tokens pads to {padded_length} for block_size {Config.BlockSize}, more than one buffer can index; use a shorter input.");
        int seq = (int)padded_length;
        if (past_key_values_length > 0 && (long)past_key_values_length + seq_length > Config.MaxPositionEmbeddings)
            throw new BigBirdInputException(
                $"{past_key_values_length} cached + {seq_length} new tokens exceed max_position_embeddings {Config.MaxPositionEmbeddings}; " +
                "stop generating at that length.");
        if (inputs.PositionIds is null && seq > Config.MaxPositionEmbeddings)
            throw new BigBirdInputException(
                $"input of {seq_length} tokens{(padding_len > 0 ? $" (padded to {seq} for block_size {Config.BlockSize})" : "")} is longer than " +
                $"max_position_embeddings {Config.MaxPositionEmbeddings}: truncate it to at most " +
                $"{(padding_len > 0 || attention_type == AttentionType.BlockSparse ? Config.MaxPositionEmbeddings / Config.BlockSize * Config.BlockSize : Config.MaxPositionEmbeddings)} tokens.");
        if (inputs.PositionIds is not null && padding_len > 0 && Config.PadTokenId >= Config.MaxPositionEmbeddings)
            throw new BigBirdInputException(
                $"position_ids are padded with pad_token_id {Config.PadTokenId} (as HF does), which is outside max_position_embeddings " +
                $"{Config.MaxPositionEmbeddings}: pad the input to a multiple of block_size {Config.BlockSize} yourself, or omit position_ids.");
        if (cache is not null && !ReferenceEquals(cache.Backend, Backend))
            throw new BigBirdInputException(
                $"past_key_values lives on backend '{cache.Backend.Name}' but this model runs on '{Backend.Name}'; make the cache with the model's backend.");

        var state = RentState(batch_size, seq, past_key_values_length, encoder_length);
        try
        {
            state.Trace = options.Trace;
            state.Cancellation = cancellationToken;
            var backend = Backend;
            int tokens = batch_size * seq;
            // input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds = self._pad_to_block_size(...)
            bool embeds = PadToBlockSize(inputs, state, padding_len);
            if (attention_type == AttentionType.BlockSparse)
            {
                // blocked_encoder_mask, band_mask, from_mask, to_mask = self.create_masks_for_block_sparse_attn(attention_mask, block_size)
                CreateMasksForBlockSparseAttn(state);
            }
            else
            {
                // extended_attention_mask = self.get_extended_attention_mask(attention_mask, input_shape)
                GetExtendedAttentionMask(state);
            }
            if (encoder_length > 0)
            {
                // encoder_extended_attention_mask = self.invert_attention_mask(encoder_attention_mask)
                InvertAttentionMask(state, inputs.EncoderAttentionMask);
                backend.Upload(state.EncoderHidden, inputs.EncoderHiddenStates);
            }

            // embedding_output = self.embeddings(input_ids, position_ids, token_type_ids, inputs_embeds)
            var embedding_output = state.Hidden.Slice(0, tokens * hidden);
            Embeddings.Forward(embedding_output, embeds ? ReadOnlySpan<int>.Empty : state.InputIds, embeds ? state.ValueLayer : default,
                               state.TokenTypeIds, state.PositionIds);
            if (state.Tracing) state.Emit("embeddings", embedding_output, batch_size, seq, hidden);

            var all_hidden_states = options.OutputHiddenStates ? new List<FloatTensor>() : null;
            var all_self_attentions = options.OutputAttentions ? new List<FloatTensor>() : null;
            var all_cross_attentions = options.OutputAttentions && Config.AddCrossAttention ? new List<FloatTensor>() : null;
            // encoder_outputs = self.encoder(embedding_output, ...)
            Encoder.Forward(state, new AttentionSchedule(this, attention_type, options.RandomAttention, seq), inputs.HeadMask, cache,
                            all_hidden_states, all_self_attentions, all_cross_attentions);
            cache?.Advance(seq);

            // pooler_output = tanh(self.pooler(sequence_output[:, 0]))
            FloatTensor? pooler_output = null;
            if (Pooler is not null)
            {
                backend.Copy(state.First, hidden, state.Hidden, seq * hidden, batch_size, hidden);
                Pooler.Forward(state.Pooled, state.First, batch_size);
                if (state.Tracing) state.Emit("pooler", state.Pooled, batch_size, hidden);
                backend.Activate(state.Pooled, Kernels.ActivationKind.Tanh);
                if (state.Tracing) state.Emit("activation", state.Pooled, batch_size, hidden);
                var pooled = new float[batch_size * hidden];
                backend.Download(state.Pooled, pooled);
                pooler_output = new FloatTensor(pooled, batch_size, hidden);
            }

            // sequence_output = sequence_output[:, :-padding_len]
            var sequence_output = new float[batch_size * seq_length * hidden];
            for (int b = 0; b < batch_size; b++)
                backend.Download(state.Hidden.Slice(b * seq * hidden, seq_length * hidden), sequence_output.AsSpan(b * seq_length * hidden, seq_length * hidden));

            return new BigBirdModelOutput
            {
                LastHiddenState = new FloatTensor(sequence_output, batch_size, seq_length, hidden),
                PoolerOutput = pooler_output,
                HiddenStates = all_hidden_states,
                Attentions = all_self_attentions,
                CrossAttentions = all_cross_attentions is { Count: > 0 } ? all_cross_attentions : null,
                PastKeyValues = cache,
                AttentionType = attention_type,
            };
        }
        finally
        {
            state.Trace = null;
            state.Cancellation = default;
            ReturnState(state);
        }
    }

    /// <summary>Run states kept for reuse now (at most <see cref="MaxIdleStates"/>).</summary>
    internal int IdleStateCount
    {
        get
        {
            lock (_idleGate) return _idle.Count(s => s is not null);
        }
    }

    private ForwardState RentState(int batch, int seq, int past, int encoder)
    {
        lock (_idleGate)
        {
            for (int i = _idle.Length - 1; i >= 0; i--)
            {
                var state = _idle[i];
                if (state is null || state.Batch != batch || state.SeqLength != seq || state.PastLength != past || state.EncoderLength != encoder)
                    continue;
                for (int j = i; j > 0; j--) _idle[j] = _idle[j - 1];
                _idle[0] = null;
                return state;
            }
        }
        return new ForwardState(Config, Backend, batch, seq, past, encoder);
    }

    private void ReturnState(ForwardState state)
    {
        if (_lifetime.IsDisposed)
        {
            // a disposed model keeps nothing for later: the state goes straight back to the backend's pool
            state.Dispose();
            return;
        }
        ForwardState? evicted;
        lock (_idleGate)
        {
            // the most recent last; the least recent (index 0) makes room
            evicted = _idle[0];
            for (int j = 0; j < _idle.Length - 1; j++) _idle[j] = _idle[j + 1];
            _idle[^1] = state;
        }
        evicted?.Dispose();
    }

    /// <summary>
    /// HF's <c>_pad_to_block_size</c>, into the state's staging: ids padded with pad_token_id, the mask with 0, token
    /// types with 0, given position ids with pad_token_id (else 0..seq−1 after the cached tokens), and inputs_embeds with
    /// the embeddings of pad tokens. Returns whether the call runs on inputs_embeds (then staged in state.ValueLayer).
    /// </summary>
    private bool PadToBlockSize(BigBirdInputs inputs, ForwardState state, int padding_len)
    {
        int batch = state.Batch, seq_length = inputs.SequenceLength, seq = state.SeqLength, past = state.PastLength;
        if (inputs.InputIds is { } ids) Pad(ids, state.InputIds, batch, seq_length, padding_len, Config.PadTokenId);
        // with a cache the mask covers past + new tokens: attention_mask = ones(batch, past + seq) by default
        if (inputs.AttentionMask is { } mask) Pad(mask, state.AttentionMask, batch, past + seq_length, padding_len, 0);
        else
        {
            Array.Fill(state.AttentionMask, 1);
            for (int b = 0; b < batch; b++) state.AttentionMask.AsSpan(b * (past + seq) + past + seq_length, padding_len).Clear();
        }
        if (inputs.TokenTypeIds is { } types) Pad(types, state.TokenTypeIds, batch, seq_length, padding_len, 0);
        else Array.Clear(state.TokenTypeIds);
        if (inputs.PositionIds is { } positions) Pad(positions, state.PositionIds, batch, seq_length, padding_len, Config.PadTokenId);
        else
        {
            for (int b = 0; b < batch; b++)
                for (int s = 0; s < seq; s++) state.PositionIds[b * seq + s] = past + s;
        }
        if (inputs.InputsEmbeds is not { } inputs_embeds) return false;

        int hidden = Config.HiddenSize;
        var staged = state.ValueLayer; // free until the first layer
        for (int b = 0; b < batch; b++)
            Backend.Upload(staged.Slice(b * seq * hidden, seq_length * hidden), inputs_embeds.AsSpan(b * seq_length * hidden, seq_length * hidden));
        if (padding_len > 0)
        {
            // inputs_embeds_padding = self.embeddings(input_ids_padding): the full embedding output of pad tokens at
            // positions 0..pad−1 with token type 0, which then passes through the embeddings again as word embeddings
            int[] pad = state.InputIds; // free while the call runs on inputs_embeds
            for (int i = 0; i < padding_len; i++) pad[i] = Config.PadTokenId;
            int[] padPositions = new int[padding_len], padTypes = new int[padding_len];
            for (int i = 0; i < padding_len; i++) padPositions[i] = i;
            var padRows = state.ContextLayer.Slice(0, padding_len * hidden); // free until the first attention
            Embeddings.Forward(padRows, pad.AsSpan(0, padding_len), default, padTypes, padPositions);
            Backend.Copy(staged.Slice(seq_length * hidden), seq * hidden, padRows, 0, batch, padding_len * hidden);
        }
        return true;
    }

    /// <summary>
    /// HF's <c>get_extended_attention_mask</c> (and its causal part, applied inside attention): (1 − mask)·finfo(float32).min,
    /// uploaded once for every layer.
    /// </summary>
    private void GetExtendedAttentionMask(ForwardState state)
    {
        var mask = state.AttentionMask;
        for (int i = 0; i < mask.Length; i++) state.MaskStage[i] = mask[i] != 0 ? 0f : float.MinValue;
        Backend.Upload(state.AdditiveMask, state.MaskStage);
    }

    /// <summary>
    /// HF's <c>create_masks_for_block_sparse_attn</c>: the backend derives blocked_encoder_mask, band_mask, from_mask and
    /// to_mask from the padded 0/1 mask [batch, seq], which is what is uploaded here.
    /// </summary>
    private void CreateMasksForBlockSparseAttn(ForwardState state)
    {
        var mask = state.AttentionMask;
        var stage = state.MaskStage.AsSpan(0, state.Batch * state.SeqLength);
        for (int i = 0; i < stage.Length; i++) stage[i] = mask[i];
        Backend.Upload(state.BlockMask, stage);
    }

    /// <summary>HF's <c>invert_attention_mask(encoder_attention_mask)</c>: (1 − mask)·finfo(float32).min, ones by default.</summary>
    private void InvertAttentionMask(ForwardState state, int[]? encoder_attention_mask)
    {
        var stage = state.EncoderMaskStage;
        for (int i = 0; i < stage.Length; i++)
            stage[i] = encoder_attention_mask is null || encoder_attention_mask[i] != 0 ? 0f : float.MinValue;
        Backend.Upload(state.EncoderAdditiveMask, stage);
    }

    /// <summary>
    /// The most plan entries the model caches (16 Mi ints, 64 MiB): every padded length has a plan per layer, so inputs of
    /// ever-changing lengths under a small block_size would otherwise grow the cache without bound. Past it, the cache
    /// starts over.
    /// </summary>
    internal long PlanCacheBudget { get; set; } = 16L << 20;

    /// <summary>Plan entries cached now (at most <see cref="PlanCacheBudget"/>, or one plan when a single plan is larger).</summary>
    internal long CachedPlanEntries
    {
        get
        {
            lock (_planGate) return _planEntries;
        }
    }

    private readonly object _planGate = new();
    private long _planEntries;

    /// <summary>This layer's random key blocks for a padded length, cached: the plan depends only on its arguments.</summary>
    internal int[] RandomPlan(RandomAttentionSemantics semantics, int layer, int seq)
    {
        var key = (semantics, layer, seq);
        if (_plans.TryGetValue(key, out var plan)) return plan;
        plan = BigBirdRandomAttention.GetRandAttn(
            semantics, seed: layer, fromSeqLength: seq, toSeqLength: seq,
            fromBlockSize: Config.BlockSize, toBlockSize: Config.BlockSize,
            numRandBlocks: Config.NumRandomBlocks, numHeads: Config.NumAttentionHeads, maxSeqlen: Config.MaxPositionEmbeddings);
        lock (_planGate)
        {
            if (_plans.TryGetValue(key, out var cached)) return cached;
            if (_planEntries + plan.Length > PlanCacheBudget)
            {
                _plans.Clear();
                _planEntries = 0;
            }
            _plans[key] = plan;
            _planEntries += plan.Length;
        }
        return plan;
    }

    /// <summary>Checks shapes, ranges and masks of a forward call; heads call it before touching the inputs themselves.</summary>
    internal void Validate(BigBirdInputs inputs)
    {
        int batch = inputs.BatchSize, seq = inputs.SequenceLength;
        if (batch <= 0 || seq <= 0)
            throw new BigBirdInputException($"empty input (batch {batch}, length {seq}): give at least one sequence of at least one token.");
        if ((inputs.InputIds is null) == (inputs.InputsEmbeds is null))
            throw new BigBirdInputException("give exactly one of input_ids and inputs_embeds.");
        long tokens = (long)batch * seq;
        if (inputs.InputIds is { } ids)
        {
            CheckLength(ids.Length, tokens, "input_ids", $"[{batch}, {seq}]");
            CheckRange(ids, Config.VocabSize, "input_ids", "vocab_size", "use the tokenizer that came with this checkpoint");
        }
        if (inputs.InputsEmbeds is { } embeds)
            CheckLength(embeds.Length, tokens * Config.HiddenSize, "inputs_embeds", $"[{batch}, {seq}, {Config.HiddenSize}]");
        int past = inputs.PastKeyValues?.Length ?? 0;
        if (inputs.PastKeyValues is { } cache)
        {
            if (!Config.IsDecoder)
                throw new BigBirdInputException(
                    "past_key_values needs a decoder (config is_decoder): HF keeps no cache for an encoder, whose attention is not causal.");
            if (cache.Layers != Config.NumHiddenLayers || cache.Heads != Config.NumAttentionHeads || cache.HeadDim != Config.AttentionHeadSize)
                throw new BigBirdInputException(
                    $"past_key_values was made for {cache.Layers} layers × {cache.Heads} heads × {cache.HeadDim}, but this model has " +
                    $"{Config.NumHiddenLayers} × {Config.NumAttentionHeads} × {Config.AttentionHeadSize}; make the cache from this model's config.");
            if (cache.BatchSize != batch)
                throw new BigBirdInputException($"past_key_values holds {cache.BatchSize} rows but the input has {batch}; use one cache per batch.");
            if ((long)past + seq > cache.Capacity)
                throw new BigBirdInputException(
                    $"past_key_values holds {past} of at most {cache.Capacity} tokens, too few for {seq} more; make a cache with a larger capacity.");
        }
        if (inputs.AttentionMask is { } mask)
        {
            CheckLength(mask.Length, (long)batch * ((long)past + seq), "attention_mask", past > 0 ? $"[{batch}, {past} past + {seq} new]" : $"[{batch}, {seq}]");
            foreach (int m in mask)
                if (m is not (0 or 1)) throw new BigBirdInputException($"attention_mask holds {m}; use 1 for tokens to attend and 0 for padding.");
        }
        if (inputs.TokenTypeIds is { } tt)
        {
            CheckLength(tt.Length, tokens, "token_type_ids", $"[{batch}, {seq}]");
            CheckRange(tt, Config.TypeVocabSize, "token_type_ids", "type_vocab_size", "use 0 for the first segment and 1 for the second");
        }
        if (inputs.PositionIds is { } pos)
        {
            CheckLength(pos.Length, tokens, "position_ids", $"[{batch}, {seq}]");
            CheckRange(pos, Config.MaxPositionEmbeddings, "position_ids", "max_position_embeddings", "truncate the input");
        }
        if (inputs.EncoderHiddenStates is { } enc)
        {
            if (!Config.AddCrossAttention)
                throw new BigBirdInputException(
                    "encoder_hidden_states was given, but this model has no cross-attention layers (config add_cross_attention is false); " +
                    "load a decoder checkpoint with is_decoder and add_cross_attention, or drop encoder_hidden_states.");
            int encSeq = inputs.EncoderSequenceLength;
            if (encSeq <= 0)
                throw new BigBirdInputException($"encoder_hidden_states has length {encSeq}; give at least one encoder token.");
            CheckLength(enc.Length, (long)batch * encSeq * Config.HiddenSize, "encoder_hidden_states", $"[{batch}, {encSeq}, {Config.HiddenSize}]");
            if (inputs.EncoderAttentionMask is { } emask)
            {
                CheckLength(emask.Length, (long)batch * encSeq, "encoder_attention_mask", $"[{batch}, {encSeq}]");
                foreach (int m in emask)
                    if (m is not (0 or 1)) throw new BigBirdInputException($"encoder_attention_mask holds {m}; use 1 for encoder tokens to attend and 0 for padding.");
            }
            if (inputs.PastKeyValues is not null)
                throw new BigBirdInputException(
                    "past_key_values cannot be combined with encoder_hidden_states: HF's BigBird decoder then attends to the encoder " +
                    "in its self-attention too, so its cache holds encoder keys, not the decoder's tokens. Run without a cache.");
        }
        else if (inputs.EncoderAttentionMask is not null)
        {
            throw new BigBirdInputException("encoder_attention_mask was given without encoder_hidden_states; give both or neither.");
        }
        if (inputs.HeadMask is { } hm && hm.Length != Config.NumAttentionHeads && hm.Length != (long)Config.NumAttentionHeads * Config.NumHiddenLayers)
            throw new BigBirdInputException(
                $"head_mask has {hm.Length} values; expected [{Config.NumAttentionHeads}] or [{Config.NumHiddenLayers}, {Config.NumAttentionHeads}].");
    }

    private static void CheckLength(long actual, long expected, string name, string shape)
    {
        if (actual != expected)
            throw new BigBirdInputException($"{name} has {actual} values, expected {expected} for shape {shape}.");
    }

    private static void CheckRange(int[] values, int limit, string name, string limitName, string advice)
    {
        for (int i = 0; i < values.Length; i++)
            if ((uint)values[i] >= (uint)limit)
                throw new BigBirdInputException($"{name}[{i}] = {values[i]} is outside [0, {limit}) ({limitName}); {advice}.");
    }

    private static void Pad(int[] src, int[] dst, int batch, int seq, int pad, int value)
    {
        for (int b = 0; b < batch; b++)
        {
            src.AsSpan(b * seq, seq).CopyTo(dst.AsSpan(b * (seq + pad)));
            dst.AsSpan(b * (seq + pad) + seq, pad).Fill(value);
        }
    }
}
