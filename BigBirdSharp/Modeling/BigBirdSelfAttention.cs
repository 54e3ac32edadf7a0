using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;

namespace BigBirdSharp.Modeling;

/// <summary>
/// Full (dense) self-attention. Ports <c>BigBirdSelfAttention</c> (transformers 4.27.1 and current main,
/// <c>modeling_big_bird.py</c>) for the encoder and for decoder self-attention without a cache.
/// Queries are processed in chunks of <see cref="QueryChunk"/> rows, so no [seq, seq] matrix is ever
/// held unless the caller asked for the attention maps.
/// </summary>
public sealed class BigBirdSelfAttention
{
    /// <summary>Query rows scored at once per (batch, head).</summary>
    internal const int QueryChunk = 64;

    /// <summary>[all_head_size, hidden_size] + bias when use_bias.</summary>
    public Linear query { get; }
    /// <summary>[all_head_size, hidden_size] + bias when use_bias.</summary>
    public Linear key { get; }
    /// <summary>[all_head_size, hidden_size] + bias when use_bias.</summary>
    public Linear value { get; }

    /// <summary>num_attention_heads.</summary>
    public int NumAttentionHeads { get; }
    /// <summary>hidden_size / num_attention_heads.</summary>
    public int AttentionHeadSize { get; }
    /// <summary>Whether <c>config.is_decoder</c> makes the mask causal.</summary>
    public bool IsDecoder { get; }

    internal BigBirdSelfAttention(Linear query, Linear key, Linear value, BigBirdConfig config)
    {
        this.query = query;
        this.key = key;
        this.value = value;
        NumAttentionHeads = config.NumAttentionHeads;
        AttentionHeadSize = config.AttentionHeadSize;
        IsDecoder = config.IsDecoder;
    }

    /// <summary>
    /// context[b, s, h·d] = softmax(q·kᵀ/√d + mask)·v for every head. Queries are state.QueryLayer
    /// ([batch, heads, seq, head_dim]); keys and values come from <paramref name="kv"/>: the same call's tokens,
    /// the cache (past + new tokens) or the encoder (cross-attention).
    /// </summary>
    /// <param name="backend">The arithmetic.</param>
    /// <param name="state">This forward call's buffers.</param>
    /// <param name="kv">Where the keys, values and additive mask live.</param>
    /// <param name="headMask">[heads] multipliers for this layer's probabilities, or empty.</param>
    /// <param name="attentionProbs">[batch, heads, seq, kv.Length] output maps, or null when not requested.</param>
    internal void Attend(IComputeBackend backend, ForwardState state, AttentionKeys kv, ReadOnlyMemory<float> headMask, float[]? attentionProbs)
    {
        int batch = state.Batch, seq = state.SeqLength, heads = NumAttentionHeads, d = AttentionHeadSize;
        int keys = kv.Length;
        float sqrtD = MathF.Sqrt(d);
        float[] q = state.QueryLayer, ctx = state.ContextLayer;

        state.ForEachWorker(batch * heads, (scratch, bh) =>
        {
            int b = bh / heads, h = bh % heads;
            int headOffset = bh * seq * d;
            ReadOnlySpan<float> key_layer = kv.Keys.AsSpan(bh * kv.Stride * d, keys * d);
            ReadOnlySpan<float> value_layer = kv.Values.AsSpan(bh * kv.Stride * d, keys * d);
            ReadOnlySpan<float> maskRow = kv.Mask.AsSpan(b * keys, keys); // 0 or float.MinValue: HF's (1 - m) · finfo.min
            float headScale = headMask.IsEmpty ? 1f : headMask.Span[h];

            for (int q0 = 0; q0 < seq; q0 += QueryChunk)
            {
                int rows = Math.Min(QueryChunk, seq - q0);
                Span<float> attention_scores = scratch.Scores.AsSpan(0, rows * keys);
                // attention_scores = query_layer @ key_layerᵀ / √d + attention_mask
                backend.MatMul(attention_scores, q.AsSpan(headOffset + q0 * d, rows * d), key_layer, rows, keys, d, transposeB: true);
                for (int r = 0; r < rows; r++)
                {
                    var row = attention_scores.Slice(r * keys, keys);
                    // the decoder's causal mask: query at absolute position past + q0 + r sees keys up to itself
                    int lastVisible = kv.CausalOffset < 0 ? keys - 1 : kv.CausalOffset + q0 + r;
                    for (int j = 0; j < keys; j++)
                    {
                        float additive = j > lastVisible ? float.MinValue : maskRow[j]; // causal · padding, both 0/1 before (1 - m)·min
                        row[j] = row[j] / sqrtD + additive;
                    }
                }
                // attention_probs = softmax(attention_scores) (· head_mask)
                backend.SoftmaxRows(attention_scores, rows, keys);
                if (headScale != 1f)
                    System.Numerics.Tensors.TensorPrimitives.Multiply(attention_scores, headScale, attention_scores);
                if (attentionProbs is not null)
                    attention_scores.CopyTo(attentionProbs.AsSpan((bh * seq + q0) * keys, rows * keys));
                // context_layer = attention_probs @ value_layer
                backend.MatMul(ctx.AsSpan(headOffset + q0 * d, rows * d), attention_scores, value_layer, rows, d, keys, transposeB: false);
            }
        });
    }
}

/// <summary>
/// Where full attention finds its keys and values: [batch, heads, Stride, head_dim] buffers of which the first
/// <see cref="Length"/> rows per head are used, an additive mask [batch, Length], and the causal offset
/// (tokens before the queries; −1 for no causal mask).
/// </summary>
internal readonly record struct AttentionKeys(float[] Keys, float[] Values, int Stride, int Length, float[] Mask, int CausalOffset);
