using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;

namespace BigBirdSharp.Modeling;

/// <summary>The stack of layers and its loop. Ports <c>BigBirdEncoder</c> (4.27.1 and main).</summary>
public sealed class BigBirdEncoder
{
    /// <summary>encoder.layer.0 … encoder.layer.(L−1)</summary>
    public IReadOnlyList<BigBirdLayer> Layer { get; }

    private readonly BigBirdConfig _config;

    internal BigBirdEncoder(WeightLoader w, BigBirdConfig config)
    {
        _config = config;
        // grown one layer at a time, not sized by num_hidden_layers up front: a config that claims more layers than the
        // checkpoint holds fails on the first missing tensor (TensorMismatchException), before allocating for the rest
        var layers = new List<BigBirdLayer>(Math.Min(config.NumHiddenLayers, 64));
        for (int i = 0; i < config.NumHiddenLayers; i++)
        {
            layers.Add(new BigBirdLayer(w, $"encoder.layer.{i}", config, i));
            w.Settle();
        }
        Layer = layers.AsReadOnly();
    }

    /// <summary>
    /// state.Hidden ← every layer in turn, each with its own attention plan. Collects all_hidden_states (each layer's
    /// input, then the last output) and the attention probabilities when asked, as HF's <c>BigBirdEncoder.forward</c>.
    /// </summary>
    internal void Forward(ForwardState state, in AttentionSchedule plans, float[]? head_mask, BigBirdKeyValueCache? past_key_values,
                          List<FloatTensor>? all_hidden_states, List<FloatTensor>? all_self_attentions, List<FloatTensor>? all_cross_attentions)
    {
        int batch = state.Batch, seq = state.SeqLength, hidden = _config.HiddenSize, heads = _config.NumAttentionHeads;
        int tokens = batch * seq;
        // self-attention keys: the encoder's when encoder_hidden_states is given (HF), else past + new tokens
        int keys = state.EncoderLength > 0 ? state.EncoderLength : state.PastLength + seq;
        var backend = state.Backend;
        for (int i = 0; i < Layer.Count; i++)
        {
            // between layers: a cancelled call stops here (the state goes back whole; a cache is not advanced)
            state.Cancellation.ThrowIfCancellationRequested();
            all_hidden_states?.Add(Download(backend, state.Hidden.Slice(0, tokens * hidden), batch, seq, hidden));
            var layer_head_mask = LayerHeadMask(head_mask, i);
            DeviceBuffer? probs = all_self_attentions is null ? null : backend.Allocate(
                TensorSize.ForInput("attentions", "[batch, heads, seq, keys]", ProbsAdvice, batch, heads, seq, keys));
            DeviceBuffer? crossProbs = all_cross_attentions is null || state.EncoderLength == 0
                ? null : backend.Allocate(TensorSize.ForInput("cross_attentions", "[batch, heads, seq, encoder_seq]", ProbsAdvice,
                                                              batch, heads, seq, state.EncoderLength));
            try
            {
                Layer[i].Forward(state, plans.ForLayer(i), layer_head_mask, probs?.All ?? default, crossProbs?.All ?? default, past_key_values);
                if (probs is not null) all_self_attentions!.Add(Download(backend, probs.All, batch, heads, seq, keys));
                if (crossProbs is not null) all_cross_attentions!.Add(Download(backend, crossProbs.All, batch, heads, seq, state.EncoderLength));
            }
            finally
            {
                probs?.Dispose();
                crossProbs?.Dispose();
            }
        }
        all_hidden_states?.Add(Download(backend, state.Hidden.Slice(0, tokens * hidden), batch, seq, hidden));
    }

    private const string ProbsAdvice = "run without output_attentions, or with fewer rows per call or a shorter input.";

    private ReadOnlyMemory<float> LayerHeadMask(float[]? head_mask, int layerIndex)
    {
        if (head_mask is null) return ReadOnlyMemory<float>.Empty;
        int heads = _config.NumAttentionHeads;
        return head_mask.Length == heads ? head_mask : head_mask.AsMemory(layerIndex * heads, heads);
    }

    private static FloatTensor Download(IComputeBackend backend, DeviceSpan data, params int[] shape)
    {
        var host = new float[data.Length];
        backend.Download(data, host);
        return new FloatTensor(host, shape);
    }
}

/// <summary>Which attention each layer of one call runs: the call's attention type and, under block_sparse, the model's cached random plans.</summary>
internal readonly struct AttentionSchedule(BigBirdModel model, AttentionType type, RandomAttention.RandomAttentionSemantics semantics, int seq)
{
    /// <summary>The plan of layer <paramref name="layer"/>.</summary>
    public AttentionPlan ForLayer(int layer) => type == AttentionType.BlockSparse
        ? AttentionPlan.BlockSparse(model.Config.BlockSize, model.Config.NumRandomBlocks, model.RandomPlan(semantics, layer, seq))
        : AttentionPlan.Full;
}
