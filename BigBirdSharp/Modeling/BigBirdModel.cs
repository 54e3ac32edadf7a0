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
    /// <summary>The configuration it was built from.</summary>
    public BigBirdConfig config { get; }
    /// <summary>model.embeddings</summary>
    public BigBirdEmbeddings embeddings { get; }
    /// <summary>model.encoder</summary>
    public BigBirdEncoder encoder { get; }
    /// <summary>model.pooler ([hidden, hidden] + bias, followed by tanh), or null when the checkpoint has none.</summary>
    public Linear? pooler { get; }

    private readonly ITensorReader? _owned;
    private readonly ConcurrentDictionary<(RandomAttentionSemantics, int Layer, int SeqLength), int[]> _plans = new();

    private BigBirdModel(BigBirdConfig config, ITensorReader reader, bool ownsReader, bool? addPoolingLayer = null)
    {
        config.Validate();
        this.config = config;
        var w = WeightLoader.For(reader);
        embeddings = new BigBirdEmbeddings(w, config);
        encoder = new BigBirdEncoder(w, config);
        // bare model: the pooler when the checkpoint has one; heads: HF's add_pooling_layer (required when true)
        pooler = addPoolingLayer ?? w.Has("pooler.weight") ? new Linear(w, "pooler", config.HiddenSize, config.HiddenSize) : null;
        _owned = ownsReader ? reader : null;
    }

    /// <summary>The <c>bert</c> of a task head, over a reader the head owns.</summary>
    internal static BigBirdModel ForHead(BigBirdConfig config, ITensorReader reader, bool addPoolingLayer) =>
        new(config, reader, ownsReader: false, addPoolingLayer);

    /// <summary>Loads <c>config.json</c> and the weights of a Hugging Face checkpoint folder.</summary>
    /// <param name="directory">A folder with config.json and model.safetensors, a sharded safetensors index, or pytorch_model.bin.</param>
    /// <exception cref="BigBirdConfigException">config.json is missing or invalid.</exception>
    /// <exception cref="CheckpointFormatException">A weights file is missing or malformed.</exception>
    /// <exception cref="TensorMismatchException">A tensor is missing or has the wrong shape.</exception>
    public static BigBirdModel Load(string directory)
    {
        if (!Directory.Exists(directory))
            throw new BigBirdException($"{directory}: no such folder; pass a Hugging Face checkpoint folder (config.json + weights).");
        var config = BigBirdConfig.FromFile(Path.Combine(directory, "config.json"));
        var reader = CheckpointLoader.Open(directory);
        try
        {
            return new BigBirdModel(config, reader, ownsReader: true);
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }

    /// <summary>Builds the model over an open reader, which must outlive the model (the caller disposes it).</summary>
    /// <exception cref="TensorMismatchException">A tensor is missing or has the wrong shape.</exception>
    public static BigBirdModel FromReader(BigBirdConfig config, ITensorReader reader) => new(config, reader, ownsReader: false);

    /// <summary>Releases the memory-mapped weights of a model made by <see cref="Load"/>.</summary>
    public void Dispose() => _owned?.Dispose();

    /// <summary>The attention type a call of unpadded length <paramref name="seqLength"/> runs with.</summary>
    /// <remarks>
    /// HF switches a block_sparse model to original_full for good the first time it sees
    /// seq_length ≤ (5 + 2·num_random_blocks)·block_size (transformers issue 20031). We decide per call.
    /// A model with cross-attention always runs original_full, as HF forces at construction, and so does a call
    /// with a key/value cache (block-sparse attention keeps no cache).
    /// </remarks>
    public AttentionType EffectiveAttentionType(int seqLength, AttentionType? requested = null, bool withCache = false)
    {
        if (requested is null && (config.AddCrossAttention || withCache)) return AttentionType.OriginalFull;
        var type = requested ?? config.AttentionType;
        return type == AttentionType.BlockSparse && seqLength <= config.MaxTokensToAttend ? AttentionType.OriginalFull : type;
    }

    /// <summary>Runs the encoder and the pooler, as <c>BigBirdModel.forward</c> in eval mode.</summary>
    /// <exception cref="BigBirdInputException">Empty input, out-of-range ids, or a length the position table cannot hold.</exception>
    public BigBirdModelOutput Forward(BigBirdInputs inputs, BigBirdForwardOptions? options = null)
    {
        options ??= new BigBirdForwardOptions();
        var backend = options.Backend ?? CpuBackend.Instance;
        int batch_size = inputs.BatchSize, seq_length = inputs.SequenceLength, hidden = config.HiddenSize;
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
            ? (config.BlockSize - seq_length % config.BlockSize) % config.BlockSize : 0;
        int seq = seq_length + padding_len;
        if (past_key_values_length > 0 && past_key_values_length + seq_length > config.MaxPositionEmbeddings)
            throw new BigBirdInputException(
                $"{past_key_values_length} cached + {seq_length} new tokens exceed max_position_embeddings {config.MaxPositionEmbeddings}; " +
                "stop generating at that length.");
        if (inputs.PositionIds is null && seq > config.MaxPositionEmbeddings)
            throw new BigBirdInputException(
                $"input of {seq_length} tokens{(padding_len > 0 ? $" (padded to {seq} for block_size {config.BlockSize})" : "")} is longer than " +
                $"max_position_embeddings {config.MaxPositionEmbeddings}: truncate it to at most " +
                $"{(padding_len > 0 || attention_type == AttentionType.BlockSparse ? config.MaxPositionEmbeddings / config.BlockSize * config.BlockSize : config.MaxPositionEmbeddings)} tokens.");

        if (inputs.PositionIds is not null && padding_len > 0 && config.PadTokenId >= config.MaxPositionEmbeddings)
            throw new BigBirdInputException(
                $"position_ids are padded with pad_token_id {config.PadTokenId} (as HF does), which is outside max_position_embeddings " +
                $"{config.MaxPositionEmbeddings}: pad the input to a multiple of block_size {config.BlockSize} yourself, or omit position_ids.");
        int tokens = batch_size * seq;
        var input_ids = inputs.InputIds is null ? null : Pad(inputs.InputIds, batch_size, seq_length, padding_len, config.PadTokenId);
        // with a cache the mask covers past + new tokens: attention_mask = ones(batch, seq + past) by default
        int mask_length = past_key_values_length + seq_length;
        var attention_mask = inputs.AttentionMask is null
            ? Fill(batch_size, mask_length, 1) : inputs.AttentionMask;
        attention_mask = Pad(attention_mask, batch_size, seq_length, padding_len, 0);
        var token_type_ids = Pad(inputs.TokenTypeIds ?? new int[batch_size * seq_length], batch_size, seq_length, padding_len, 0);
        // HF pads given position_ids with pad_token_id, and otherwise uses 0..seq-1
        var position_ids = inputs.PositionIds is null
            ? Arange(batch_size, seq, past_key_values_length) : Pad(inputs.PositionIds, batch_size, seq_length, padding_len, config.PadTokenId);
        float[]? inputs_embeds = inputs.InputsEmbeds is null ? null : PadEmbeds(backend, inputs.InputsEmbeds, batch_size, seq_length, padding_len);

        var state = new ForwardState(config, batch_size, seq, past_key_values_length, encoder_length) { Trace = options.Trace };
        if (attention_type == AttentionType.BlockSparse)
        {
            for (int i = 0; i < tokens; i++) state.BlockMask[i] = attention_mask[i];
        }
        else
        {
            // get_extended_attention_mask: (1 − mask) · finfo(float32).min; causal part applied in attention
            for (int i = 0; i < attention_mask.Length; i++) state.AdditiveMask[i] = attention_mask[i] != 0 ? 0f : float.MinValue;
        }
        if (encoder_length > 0)
        {
            // invert_attention_mask(encoder_attention_mask): (1 − mask) · finfo(float32).min, ones by default
            var encoder_attention_mask = inputs.EncoderAttentionMask;
            for (int i = 0; i < batch_size * encoder_length; i++)
                state.EncoderAdditiveMask[i] = encoder_attention_mask is null || encoder_attention_mask[i] != 0 ? 0f : float.MinValue;
        }

        // embedding_output
        embeddings.Forward(backend, state.Hidden.AsSpan(0, tokens * hidden), input_ids ?? [], inputs_embeds ?? [],
                           token_type_ids, position_ids);
        state.Emit("embeddings", state.Hidden, batch_size, seq, hidden);

        var all_hidden_states = options.OutputHiddenStates ? new List<FloatTensor>() : null;
        var all_self_attentions = options.OutputAttentions ? new List<FloatTensor>() : null;
        var all_cross_attentions = options.OutputAttentions && config.AddCrossAttention ? new List<FloatTensor>() : null;
        // self-attention keys: the encoder's when encoder_hidden_states is given (HF), else past + new tokens
        int heads = config.NumAttentionHeads, keys = encoder_length > 0 ? encoder_length : past_key_values_length + seq;
        for (int i = 0; i < encoder.layer.Count; i++)
        {
            all_hidden_states?.Add(new FloatTensor(state.Hidden.AsSpan(0, tokens * hidden).ToArray(), batch_size, seq, hidden));
            var layer_head_mask = LayerHeadMask(inputs.HeadMask, i);
            int[]? rand_attn = attention_type == AttentionType.BlockSparse ? RandomPlan(options.RandomAttention, i, seq) : null;
            float[]? probs = all_self_attentions is null ? null : new float[batch_size * heads * seq * keys];
            float[]? crossProbs = all_cross_attentions is null || encoder_length == 0 ? null : new float[batch_size * heads * seq * encoder_length];
            encoder.layer[i].Forward(backend, state, attention_type, rand_attn, layer_head_mask, probs,
                                     inputs.EncoderHiddenStates ?? [], crossProbs, cache);
            if (probs is not null) all_self_attentions!.Add(new FloatTensor(probs, batch_size, heads, seq, keys));
            if (crossProbs is not null) all_cross_attentions!.Add(new FloatTensor(crossProbs, batch_size, heads, seq, encoder_length));
        }
        all_hidden_states?.Add(new FloatTensor(state.Hidden.AsSpan(0, tokens * hidden).ToArray(), batch_size, seq, hidden));
        cache?.Advance(seq);

        // pooler_output = tanh(pooler(sequence_output[:, 0]))
        FloatTensor? pooler_output = null;
        if (pooler is not null)
        {
            var first = new float[batch_size * hidden];
            for (int b = 0; b < batch_size; b++)
                state.Hidden.AsSpan(b * seq * hidden, hidden).CopyTo(first.AsSpan(b * hidden));
            var pooled = new float[batch_size * hidden];
            pooler.Forward(backend, pooled, first, batch_size);
            state.Emit("pooler", pooled, batch_size, hidden);
            backend.Activate(pooled, Kernels.ActivationKind.Tanh);
            state.Emit("activation", pooled, batch_size, hidden);
            pooler_output = new FloatTensor(pooled, batch_size, hidden);
        }

        // sequence_output[:, :-padding_len]
        var sequence_output = new float[batch_size * seq_length * hidden];
        for (int b = 0; b < batch_size; b++)
            state.Hidden.AsSpan(b * seq * hidden, seq_length * hidden).CopyTo(sequence_output.AsSpan(b * seq_length * hidden));

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

    /// <summary>This layer's random key blocks for a padded length, cached: the plan depends only on its arguments.</summary>
    internal int[] RandomPlan(RandomAttentionSemantics semantics, int layer, int seq) =>
        _plans.GetOrAdd((semantics, layer, seq), key => BigBirdRandomAttention.GetRandAttn(
            key.Item1, seed: key.Layer, fromSeqLength: key.SeqLength, toSeqLength: key.SeqLength,
            fromBlockSize: config.BlockSize, toBlockSize: config.BlockSize,
            numRandBlocks: config.NumRandomBlocks, numHeads: config.NumAttentionHeads, maxSeqlen: config.MaxPositionEmbeddings));

    private ReadOnlyMemory<float> LayerHeadMask(float[]? head_mask, int layer)
    {
        if (head_mask is null) return ReadOnlyMemory<float>.Empty;
        int heads = config.NumAttentionHeads;
        return head_mask.Length == heads ? head_mask : head_mask.AsMemory(layer * heads, heads);
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
            CheckRange(ids, config.VocabSize, "input_ids", "vocab_size", "use the tokenizer that came with this checkpoint");
        }
        if (inputs.InputsEmbeds is { } embeds)
            CheckLength(embeds.Length, tokens * config.HiddenSize, "inputs_embeds", $"[{batch}, {seq}, {config.HiddenSize}]");
        int past = inputs.PastKeyValues?.Length ?? 0;
        if (inputs.PastKeyValues is { } cache)
        {
            if (!config.IsDecoder)
                throw new BigBirdInputException(
                    "past_key_values needs a decoder (config is_decoder): HF keeps no cache for an encoder, whose attention is not causal.");
            if (cache.Layers != config.NumHiddenLayers || cache.Heads != config.NumAttentionHeads || cache.HeadDim != config.AttentionHeadSize)
                throw new BigBirdInputException(
                    $"past_key_values was made for {cache.Layers} layers × {cache.Heads} heads × {cache.HeadDim}, but this model has " +
                    $"{config.NumHiddenLayers} × {config.NumAttentionHeads} × {config.AttentionHeadSize}; make the cache from this model's config.");
            if (cache.BatchSize != batch)
                throw new BigBirdInputException($"past_key_values holds {cache.BatchSize} rows but the input has {batch}; use one cache per batch.");
            if (past + seq > cache.Capacity)
                throw new BigBirdInputException(
                    $"past_key_values holds {past} of at most {cache.Capacity} tokens, too few for {seq} more; make a cache with a larger capacity.");
        }
        if (inputs.AttentionMask is { } mask)
        {
            CheckLength(mask.Length, (long)batch * (past + seq), "attention_mask", past > 0 ? $"[{batch}, {past} past + {seq} new]" : $"[{batch}, {seq}]");
            foreach (int m in mask)
                if (m is not (0 or 1)) throw new BigBirdInputException($"attention_mask holds {m}; use 1 for tokens to attend and 0 for padding.");
        }
        if (inputs.TokenTypeIds is { } tt)
        {
            CheckLength(tt.Length, tokens, "token_type_ids", $"[{batch}, {seq}]");
            CheckRange(tt, config.TypeVocabSize, "token_type_ids", "type_vocab_size", "use 0 for the first segment and 1 for the second");
        }
        if (inputs.PositionIds is { } pos)
        {
            CheckLength(pos.Length, tokens, "position_ids", $"[{batch}, {seq}]");
            CheckRange(pos, config.MaxPositionEmbeddings, "position_ids", "max_position_embeddings", "truncate the input");
        }
        if (inputs.EncoderHiddenStates is { } enc)
        {
            if (!config.AddCrossAttention)
                throw new BigBirdInputException(
                    "encoder_hidden_states was given, but this model has no cross-attention layers (config add_cross_attention is false); " +
                    "load a decoder checkpoint with is_decoder and add_cross_attention, or drop encoder_hidden_states.");
            int encSeq = inputs.EncoderSequenceLength;
            if (encSeq <= 0)
                throw new BigBirdInputException($"encoder_hidden_states has length {encSeq}; give at least one encoder token.");
            CheckLength(enc.Length, (long)batch * encSeq * config.HiddenSize, "encoder_hidden_states", $"[{batch}, {encSeq}, {config.HiddenSize}]");
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
        if (inputs.HeadMask is { } hm && hm.Length != config.NumAttentionHeads && hm.Length != config.NumAttentionHeads * config.NumHiddenLayers)
            throw new BigBirdInputException(
                $"head_mask has {hm.Length} values; expected [{config.NumAttentionHeads}] or [{config.NumHiddenLayers}, {config.NumAttentionHeads}].");
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

    private static int[] Fill(int batch, int seq, int value)
    {
        var a = new int[batch * seq];
        Array.Fill(a, value);
        return a;
    }

    private static int[] Arange(int batch, int seq, int start)
    {
        var a = new int[batch * seq];
        for (int b = 0; b < batch; b++)
            for (int s = 0; s < seq; s++) a[b * seq + s] = start + s;
        return a;
    }

    private static int[] Pad(int[] src, int batch, int seq, int pad, int value)
    {
        if (pad == 0) return src;
        var dst = new int[batch * (seq + pad)];
        Array.Fill(dst, value);
        for (int b = 0; b < batch; b++) src.AsSpan(b * seq, seq).CopyTo(dst.AsSpan(b * (seq + pad)));
        return dst;
    }

    /// <summary>
    /// HF pads inputs_embeds with <c>self.embeddings(pad ids)</c>: the full embedding output (positions 0..pad−1,
    /// token type 0, LayerNorm), which then passes through the embeddings again as if it were word embeddings.
    /// </summary>
    private float[] PadEmbeds(IComputeBackend backend, float[] src, int batch, int seq, int pad)
    {
        int hidden = config.HiddenSize;
        if (pad == 0) return src;
        var padRows = new float[pad * hidden];
        var padIds = new int[pad];
        Array.Fill(padIds, config.PadTokenId);
        var positions = new int[pad];
        for (int i = 0; i < pad; i++) positions[i] = i;
        embeddings.Forward(backend, padRows, padIds, [], new int[pad], positions);
        var dst = new float[batch * (seq + pad) * hidden];
        for (int b = 0; b < batch; b++)
        {
            src.AsSpan(b * seq * hidden, seq * hidden).CopyTo(dst.AsSpan(b * (seq + pad) * hidden));
            padRows.CopyTo(dst.AsSpan((b * (seq + pad) + seq) * hidden));
        }
        return dst;
    }
}
