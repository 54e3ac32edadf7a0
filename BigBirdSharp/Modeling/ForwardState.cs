using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;

namespace BigBirdSharp.Modeling;

/// <summary>
/// The run state of one forward call (llama2.c's RunState): every buffer the layer loop needs, rented from the
/// backend's <see cref="WorkspacePool"/> for one (batch, length, past, encoder length) and reused by every layer, plus
/// the host staging of the padded ids and masks. A call owns its state while it runs — that is what makes a loaded model
/// safe to share between threads — and the model keeps idle states for the next call of the same shape, so that call
/// allocates nothing but its outputs.
/// </summary>
internal sealed class ForwardState : IDisposable
{
    public readonly IComputeBackend Backend;
    public readonly int Batch;
    /// <summary>Sequence length the encoder runs at (padded to block_size under block_sparse).</summary>
    public readonly int SeqLength;
    /// <summary>Tokens already in the key/value cache (HF's past_key_values_length); 0 without a cache.</summary>
    public readonly int PastLength;
    /// <summary>encoder_seq of cross-attention; 0 without it.</summary>
    public readonly int EncoderLength;

    /// <summary>[batch, seq, hidden] the running hidden states, which each layer's sublayers update in place.</summary>
    public readonly DeviceSpan Hidden;
    /// <summary>
    /// [batch, heads, seq, head_dim] each. Until attention runs, ContextLayer holds each projection ([batch, seq, hidden])
    /// on its way to its head layout; once attention has run, QueryLayer is free and holds the merged context
    /// (<see cref="MergedContext"/>), so no separate scratch buffer is needed.
    /// </summary>
    public readonly DeviceSpan QueryLayer, KeyLayer, ValueLayer, ContextLayer;
    /// <summary>[batch, seq, hidden] the context after the heads are merged back: the query buffer, free by then.</summary>
    public DeviceSpan MergedContext => QueryLayer;
    /// <summary>[FeedForwardChunkRows, intermediate]: the feed-forward block runs over chunks of rows, in the attention buffers' memory.</summary>
    public readonly DeviceSpan Intermediate;
    /// <summary>[FeedForwardChunkRows, hidden]: BigBirdOutput's dense product of one chunk, before residual + LayerNorm into Hidden.</summary>
    public readonly DeviceSpan FeedForwardOutput;
    /// <summary>Rows per feed-forward chunk: all of them for short inputs, <see cref="MaxFeedForwardChunkRows"/> for long ones.</summary>
    public readonly int FeedForwardChunkRows;
    /// <summary>Largest feed-forward chunk: 512 rows keep the [rows, intermediate] buffer at 6 MB for bigbird-roberta-base.</summary>
    public const int MaxFeedForwardChunkRows = 512;
    /// <summary>[batch, past + seq] additive mask of full attention: 0 where attended, float.MinValue where not.</summary>
    public readonly DeviceSpan AdditiveMask;
    /// <summary>[batch, seq] 0/1 attention mask of block-sparse attention (from_mask = to_mask).</summary>
    public readonly DeviceSpan BlockMask;
    /// <summary>[batch, encoder_seq, hidden] encoder_hidden_states; empty without them.</summary>
    public readonly DeviceSpan EncoderHidden;
    /// <summary>[batch, encoder_seq] additive mask of cross-attention (HF's invert_attention_mask); empty without it.</summary>
    public readonly DeviceSpan EncoderAdditiveMask;
    /// <summary>[batch, heads, encoder_seq, head_dim] keys/values projected from encoder_hidden_states; empty without them.</summary>
    public readonly DeviceSpan CrossKeyLayer, CrossValueLayer;
    /// <summary>[batch, encoder_seq, hidden] projection scratch for cross-attention keys/values; empty without it.</summary>
    public readonly DeviceSpan EncoderScratch;
    /// <summary>[batch, hidden] the first token of each row, then the pooled output.</summary>
    public readonly DeviceSpan First, Pooled;

    /// <summary>Host staging of the padded inputs, [batch, seq] each (the mask [batch, past + seq]).</summary>
    public readonly int[] InputIds, TokenTypeIds, PositionIds, AttentionMask;
    /// <summary>Host staging of the float masks: [batch, past + seq] and [batch, encoder_seq].</summary>
    public readonly float[] MaskStage, EncoderMaskStage;

    private readonly List<DeviceBuffer> _rented = [];

    /// <summary>Receives intermediate tensors by HF module path (<see cref="BigBirdForwardOptions.Trace"/>), or null.</summary>
    public Action<string, FloatTensor>? Trace;

    /// <summary>The call's cancellation token, polled between layers (<see cref="BigBirdEncoder"/>); default when none.</summary>
    public CancellationToken Cancellation;

    /// <summary>Whether anyone listens: guard every <see cref="Emit"/> with it, so that no name is built otherwise.</summary>
    public bool Tracing => Trace is not null;

    /// <summary>Hands a host copy of <paramref name="data"/> to <see cref="Trace"/> under <paramref name="name"/>.</summary>
    public void Emit(string name, DeviceSpan data, params int[] shape)
    {
        if (Trace is null) return;
        int n = 1;
        foreach (int d in shape) n *= d;
        var copy = new float[n];
        Backend.Download(data.Slice(0, n), copy);
        Trace(name, new FloatTensor(copy, shape));
    }

    public ForwardState(BigBirdConfig config, IComputeBackend backend, int batch, int seqLength, int pastLength = 0, int encoderLength = 0)
    {
        Backend = backend;
        Batch = batch;
        SeqLength = seqLength;
        PastLength = pastLength;
        EncoderLength = encoderLength;
        try
        {
            int hidden = config.HiddenSize;
            // every size below is checked: a shape too large for one buffer is a BigBirdInputException naming it
            int tokens = TensorSize.ForInput("input_ids", "[batch, seq]", Advice, batch, seqLength);
            int activations = TensorSize.ForInput("hidden_states", "[batch, seq, hidden_size]", Advice, batch, seqLength, hidden);
            int maskLength = TensorSize.ForInput("attention_mask", "[batch, past + seq]", Advice, batch, (long)pastLength + seqLength);
            Hidden = Rent(activations);
            // query, key, value and context share one buffer; the feed-forward block, which runs after attention is done with
            // them, uses the same memory for its intermediate chunk when it fits (intermediate_size ≤ 4·hidden_size, as usual).
            // When four activations do not fit one buffer, each gets its own.
            DeviceSpan attention = default;
            if (TensorSize.Fits(4, activations))
            {
                attention = Rent(4 * activations);
                QueryLayer = attention.Slice(0, activations);
                KeyLayer = attention.Slice(activations, activations);
                ValueLayer = attention.Slice(2 * activations, activations);
                ContextLayer = attention.Slice(3 * activations, activations);
            }
            else
            {
                QueryLayer = Rent(activations);
                KeyLayer = Rent(activations);
                ValueLayer = Rent(activations);
                ContextLayer = Rent(activations);
                attention = QueryLayer;
            }
            // at most MaxElements / intermediate_size rows, so the chunk fits one buffer whatever intermediate_size is
            FeedForwardChunkRows = (int)Math.Max(1, Math.Min(Math.Min(tokens, MaxFeedForwardChunkRows), TensorSize.MaxElements / config.IntermediateSize));
            int chunk = TensorSize.ForInput("intermediate", "[rows, intermediate_size]", Advice, FeedForwardChunkRows, config.IntermediateSize);
            Intermediate = chunk <= attention.Length ? attention.Slice(0, chunk) : Rent(chunk);
            FeedForwardOutput = Rent(TensorSize.ForInput("feed_forward_output", "[rows, hidden_size]", Advice, FeedForwardChunkRows, hidden));
            AdditiveMask = Rent(maskLength);
            BlockMask = Rent(tokens);
            First = Rent(batch * hidden);
            Pooled = Rent(batch * hidden);
            if (encoderLength > 0)
            {
                int encoderActivations = TensorSize.ForInput("encoder_hidden_states", "[batch, encoder_seq, hidden_size]", Advice,
                                                             batch, encoderLength, hidden);
                EncoderHidden = Rent(encoderActivations);
                EncoderAdditiveMask = Rent(batch * encoderLength);
                CrossKeyLayer = Rent(encoderActivations);
                CrossValueLayer = Rent(encoderActivations);
                EncoderScratch = Rent(encoderActivations);
            }
            InputIds = new int[tokens];
            TokenTypeIds = new int[tokens];
            PositionIds = new int[tokens];
            AttentionMask = new int[maskLength];
            MaskStage = new float[maskLength];
            EncoderMaskStage = new float[batch * encoderLength];
        }
        catch
        {
            // a size refused part-way: the buffers rented so far go back to the pool
            Dispose();
            throw;
        }
    }

    private const string Advice = "run fewer rows per call or a shorter input.";

    private DeviceSpan Rent(int length)
    {
        var buffer = Backend.Workspace.Rent(length);
        _rented.Add(buffer);
        return buffer.Slice(0, length);
    }

    /// <summary>Gives every buffer back to the backend's pool.</summary>
    public void Dispose()
    {
        foreach (var buffer in _rented) Backend.Workspace.Return(buffer);
        _rented.Clear();
    }
}
