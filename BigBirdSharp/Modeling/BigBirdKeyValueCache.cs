using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;

namespace BigBirdSharp.Modeling;

/// <summary>
/// HF's <c>past_key_values</c> for a decoder: per layer, the self-attention keys and values of every token seen so
/// far ([batch, heads, length, head_dim], preallocated up to <see cref="Capacity"/>).
/// </summary>
/// <remarks>
/// HF returns a new tuple of tensors per call; this cache is filled in place (as current transformers'
/// <c>DynamicCache</c> is), so a generation step allocates nothing. It belongs to one generation: it is not
/// thread-safe, while the model it is used with stays immutable and shareable.
/// </remarks>
public sealed class BigBirdKeyValueCache
{
    /// <summary>Rows of the batch it was made for.</summary>
    public int BatchSize { get; }
    /// <summary>The most tokens it can hold (at most max_position_embeddings).</summary>
    public int Capacity { get; }
    /// <summary>Tokens already cached: HF's <c>past_key_values_length</c>.</summary>
    public int Length { get; private set; }

    /// <summary>The backend that holds the cached tensors: the model's.</summary>
    public IComputeBackend Backend { get; }

    internal readonly int Layers, Heads, HeadDim;
    // per layer: [batch, heads, Capacity, head_dim]
    internal readonly DeviceBuffer[] Keys, Values;

    /// <summary>An empty cache for <paramref name="batchSize"/> rows of up to <paramref name="capacity"/> tokens, on <paramref name="backend"/> (the CPU backend by default; use the model's).</summary>
    /// <exception cref="BigBirdInputException">A non-positive size, a capacity beyond max_position_embeddings, or more memory than the process can use.</exception>
    /// <exception cref="BigBirdConfigException"><paramref name="config"/> is invalid.</exception>
    public BigBirdKeyValueCache(BigBirdConfig config, int batchSize, int capacity, IComputeBackend? backend = null)
    {
        // the sizes the cache is made of (a config built in code has not necessarily been validated)
        if (config.NumHiddenLayers <= 0 || config.NumAttentionHeads <= 0 || config.HiddenSize <= 0 || config.HiddenSize % config.NumAttentionHeads != 0)
            throw new BigBirdConfigException(
                $"a key/value cache needs positive num_hidden_layers, num_attention_heads and hidden_size, with hidden_size a multiple of " +
                $"num_attention_heads; got {config.NumHiddenLayers}, {config.NumAttentionHeads} and {config.HiddenSize}.");
        Backend = backend ?? CpuBackend.Instance;
        if (batchSize <= 0 || capacity <= 0)
            throw new BigBirdInputException($"a key/value cache needs a positive batch size and capacity, got {batchSize} and {capacity}.");
        if (capacity > config.MaxPositionEmbeddings)
            throw new BigBirdInputException(
                $"a key/value cache of {capacity} tokens exceeds max_position_embeddings {config.MaxPositionEmbeddings}; ask for at most that many.");
        long perLayer = (long)batchSize * config.NumAttentionHeads * capacity * config.AttentionHeadSize;
        if (perLayer > Array.MaxLength)
            throw new BigBirdInputException(
                $"a key/value cache of {batchSize} rows × {capacity} tokens needs {perLayer} floats per layer, more than one array can hold; use a smaller batch.");
        // keys and values of every layer, allocated now: refuse what the process cannot hold rather than run out of memory
        double bytes = 2.0 * config.NumHiddenLayers * perLayer * sizeof(float);
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (bytes > available)
            throw new BigBirdInputException(
                $"a key/value cache of {config.NumHiddenLayers} layers × {batchSize} rows × {capacity} tokens needs {bytes / (1 << 30):0.#} GiB, " +
                $"more than the {available / (double)(1 << 30):0.#} GiB this process can use; use a smaller batch or capacity.");
        BatchSize = batchSize;
        Capacity = capacity;
        Layers = config.NumHiddenLayers;
        Heads = config.NumAttentionHeads;
        HeadDim = config.AttentionHeadSize;
        Keys = new DeviceBuffer[Layers];
        Values = new DeviceBuffer[Layers];
        for (int i = 0; i < Layers; i++)
        {
            Keys[i] = Backend.Allocate((int)perLayer);
            Values[i] = Backend.Allocate((int)perLayer);
        }
    }

    /// <summary>Layer <paramref name="layer"/>'s cached self-attention keys, [batch, heads, Length, head_dim] (a copy).</summary>
    public FloatTensor KeyLayer(int layer) => Slice(Keys[layer]);

    /// <summary>Layer <paramref name="layer"/>'s cached self-attention values, [batch, heads, Length, head_dim] (a copy).</summary>
    public FloatTensor ValueLayer(int layer) => Slice(Values[layer]);

    private FloatTensor Slice(DeviceBuffer src)
    {
        var dst = new float[BatchSize * Heads * Length * HeadDim];
        for (int bh = 0; bh < BatchSize * Heads; bh++)
            Backend.Download(src.Slice(bh * Capacity * HeadDim, Length * HeadDim), dst.AsSpan(bh * Length * HeadDim, Length * HeadDim));
        return new FloatTensor(dst, BatchSize, Heads, Length, HeadDim);
    }

    /// <summary>Stores [batch, heads, seq, d] keys/values of new tokens at positions Length..Length+seq−1 of a layer.</summary>
    internal void Append(int layer, DeviceSpan keys, DeviceSpan values, int seq)
    {
        // per (batch, head): seq·d floats from the call's layer into the cache after its Length rows
        int rows = BatchSize * Heads, chunk = seq * HeadDim;
        Backend.Copy(Keys[layer].Slice(Length * HeadDim, (rows - 1) * Capacity * HeadDim + chunk), Capacity * HeadDim,
                     keys.Slice(0, rows * chunk), chunk, rows, chunk);
        Backend.Copy(Values[layer].Slice(Length * HeadDim, (rows - 1) * Capacity * HeadDim + chunk), Capacity * HeadDim,
                     values.Slice(0, rows * chunk), chunk, rows, chunk);
    }

    /// <summary>Marks <paramref name="tokens"/> more tokens as cached (after every layer appended them).</summary>
    internal void Advance(int tokens) => Length += tokens;

    private Generation.CacheReorder? _reorder;

    /// <summary>HF's <c>_reorder_cache</c> for beam search: row r's keys and values become row
    /// <paramref name="beamIndices"/>[r]'s (only rows that change are copied, only the cached positions).</summary>
    internal void Reorder(ReadOnlySpan<int> beamIndices)
    {
        _reorder ??= new Generation.CacheReorder(Backend, BatchSize, Heads, Capacity, HeadDim);
        _reorder.Apply(Keys, beamIndices, Length);
        _reorder.Apply(Values, beamIndices, Length);
    }
}
