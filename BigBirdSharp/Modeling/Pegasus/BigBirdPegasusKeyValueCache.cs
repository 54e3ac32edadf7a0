using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;

namespace BigBirdSharp.Modeling.Pegasus;

/// <summary>
/// HF's <c>past_key_values</c> for the BigBirdPegasus decoder: per decoder layer, the self-attention keys and values of
/// every decoder token so far ([batch, heads, length, head_dim], preallocated up to <see cref="Capacity"/> and filled in
/// place), and the cross-attention keys and values of the encoder's output, computed by the first call and reused.
/// </summary>
/// <remarks>It belongs to one generation and is not thread-safe; the model it is used with stays immutable and shareable.</remarks>
public sealed class BigBirdPegasusKeyValueCache
{
    /// <summary>Rows of the batch it was made for.</summary>
    public int BatchSize { get; }
    /// <summary>The most decoder tokens it can hold (at most max_position_embeddings).</summary>
    public int Capacity { get; }
    /// <summary>Decoder tokens already cached: HF's <c>past_key_values_length</c>.</summary>
    public int Length { get; private set; }
    /// <summary>The encoder length of the cached cross-attention keys, or 0 before the first call.</summary>
    public int EncoderLength { get; private set; }
    /// <summary>The backend that holds the cached tensors: the model's.</summary>
    public IComputeBackend Backend { get; }

    internal readonly int Layers, Heads, HeadDim;
    internal readonly DeviceBuffer[] SelfKeys, SelfValues;
    internal readonly DeviceBuffer?[] CrossKeys, CrossValues;

    /// <summary>An empty cache for <paramref name="batchSize"/> rows of up to <paramref name="capacity"/> decoder tokens.</summary>
    /// <exception cref="BigBirdInputException">A non-positive size, a capacity beyond max_position_embeddings, or more memory than one buffer holds.</exception>
    public BigBirdPegasusKeyValueCache(BigBirdPegasusConfig config, int batchSize, int capacity, IComputeBackend? backend = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (batchSize <= 0 || capacity <= 0)
            throw new BigBirdInputException($"a cache needs a positive batch size and capacity, got {batchSize} and {capacity}.");
        if (capacity > config.MaxPositionEmbeddings)
            throw new BigBirdInputException(
                $"cache capacity {capacity} exceeds max_position_embeddings {config.MaxPositionEmbeddings}; the decoder has no positions past it.");
        BatchSize = batchSize;
        Capacity = capacity;
        Backend = backend ?? CpuBackend.Instance;
        Layers = config.DecoderLayers;
        Heads = config.DecoderAttentionHeads;
        HeadDim = config.DecoderHeadDim;
        int length = TensorSize.ForInput("past_key_values", "[batch, heads, capacity, head_dim]", "make a smaller cache.", batchSize, Heads, capacity, HeadDim);
        SelfKeys = new DeviceBuffer[Layers];
        SelfValues = new DeviceBuffer[Layers];
        CrossKeys = new DeviceBuffer?[Layers];
        CrossValues = new DeviceBuffer?[Layers];
        for (int i = 0; i < Layers; i++)
        {
            SelfKeys[i] = Backend.Allocate(length);
            SelfValues[i] = Backend.Allocate(length);
        }
    }

    /// <summary>Layer <paramref name="layer"/>'s cached self-attention keys, [batch, heads, Length, head_dim] (a copy).</summary>
    public FloatTensor KeyLayer(int layer) => Slice(SelfKeys[layer]);

    /// <summary>Layer <paramref name="layer"/>'s cached self-attention values, [batch, heads, Length, head_dim] (a copy).</summary>
    public FloatTensor ValueLayer(int layer) => Slice(SelfValues[layer]);

    private FloatTensor Slice(DeviceBuffer buffer)
    {
        var all = new float[buffer.Length];
        Backend.Download(buffer.All, all);
        var data = new float[BatchSize * Heads * Length * HeadDim];
        for (int bh = 0; bh < BatchSize * Heads; bh++)
            all.AsSpan(bh * Capacity * HeadDim, Length * HeadDim).CopyTo(data.AsSpan(bh * Length * HeadDim));
        return new FloatTensor(data, BatchSize, Heads, Length, HeadDim);
    }

    /// <summary>Stores [batch, heads, seq, d] keys/values of new tokens at positions Length … Length + seq − 1 of a layer.</summary>
    internal void Append(int layer, DeviceSpan keys, DeviceSpan values, int seq)
    {
        int rows = BatchSize * Heads, row = seq * HeadDim, stride = Capacity * HeadDim, offset = Length * HeadDim;
        Backend.Copy(SelfKeys[layer].All.Slice(offset), stride, keys, row, rows, row);
        Backend.Copy(SelfValues[layer].All.Slice(offset), stride, values, row, rows, row);
    }

    /// <summary>Allocates layer <paramref name="layer"/>'s cross-attention keys and values for an encoder of <paramref name="encoderLength"/> tokens.</summary>
    internal (DeviceSpan Keys, DeviceSpan Values) NewCross(int layer, int encoderLength)
    {
        int length = TensorSize.ForInput("past_key_values (cross)", "[batch, heads, encoder_seq, head_dim]", "use a shorter input.",
                                         BatchSize, Heads, encoderLength, HeadDim);
        CrossKeys[layer] = Backend.Allocate(length);
        CrossValues[layer] = Backend.Allocate(length);
        EncoderLength = encoderLength;
        return (CrossKeys[layer]!.All, CrossValues[layer]!.All);
    }

    /// <summary>Marks <paramref name="tokens"/> more decoder tokens as cached (after every layer appended them).</summary>
    internal void Advance(int tokens) => Length += tokens;

    private Generation.CacheReorder? _reorder;

    /// <summary>
    /// HF's <c>_reorder_cache</c> for beam search: row r's self-attention keys and values become row
    /// <paramref name="beamIndices"/>[r]'s (only rows that change are copied, only the cached positions). The
    /// cross-attention keys and values are left alone: beam search only moves rows among the beams of one input, which
    /// share one encoder output.
    /// </summary>
    internal void Reorder(ReadOnlySpan<int> beamIndices)
    {
        _reorder ??= new Generation.CacheReorder(Backend, BatchSize, Heads, Capacity, HeadDim);
        _reorder.Apply(SelfKeys, beamIndices, Length);
        _reorder.Apply(SelfValues, beamIndices, Length);
    }
}
