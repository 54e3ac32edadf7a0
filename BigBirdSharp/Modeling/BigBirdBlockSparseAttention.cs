using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;

namespace BigBirdSharp.Modeling;

/// <summary>
/// Block-sparse attention. Ports <c>BigBirdBlockSparseAttention</c> (transformers 4.27.1 and current main,
/// <c>modeling_big_bird.py</c>): the query/key/value projections, then <c>bigbird_block_sparse_attention</c> for every
/// (batch, head) as one backend operation (<see cref="IComputeBackend.BlockSparseAttention"/>).
/// <para>
/// The sequence is cut into blocks of <c>block_size</c>. Query blocks 0 and last attend to every key (global). Query
/// block 1 attends to key blocks [0, 1, 2, last] plus its random blocks; block n−2 to [0, n−3, n−2, n−1] plus its
/// random blocks; every middle block q to [0], the band [q−1, q, q+1], its random blocks, and [last]. Key positions are
/// penalised by −10000 where HF's to/band/random masks are 0.
/// </para>
/// </summary>
public sealed class BigBirdBlockSparseAttention
{
    /// <summary>HF's <c>query</c>: [all_head_size, hidden_size] + bias when use_bias.</summary>
    public Linear Query { get; }
    /// <summary>HF's <c>key</c>: [all_head_size, hidden_size] + bias when use_bias.</summary>
    public Linear Key { get; }
    /// <summary>HF's <c>value</c>: [all_head_size, hidden_size] + bias when use_bias.</summary>
    public Linear Value { get; }

    /// <summary>num_attention_heads.</summary>
    public int NumAttentionHeads { get; }
    /// <summary>hidden_size / num_attention_heads.</summary>
    public int AttentionHeadSize { get; }
    /// <summary>block_size.</summary>
    public int BlockSize { get; }
    /// <summary>num_random_blocks.</summary>
    public int NumRandomBlocks { get; }

    private readonly int _hidden;
    private readonly string _path;

    internal BigBirdBlockSparseAttention(Linear query, Linear key, Linear value, BigBirdConfig config, string path)
    {
        this.Query = query;
        this.Key = key;
        this.Value = value;
        NumAttentionHeads = config.NumAttentionHeads;
        AttentionHeadSize = config.AttentionHeadSize;
        BlockSize = config.BlockSize;
        NumRandomBlocks = config.NumRandomBlocks;
        _hidden = config.HiddenSize;
        _path = path;
    }

    /// <summary>
    /// context_layer [batch, seq, hidden] (into <c>state.MergedContext</c>) of <paramref name="hidden_states"/> under the
    /// layer's <paramref name="plan"/>; <c>state.BlockMask</c> is the padded 0/1 attention mask [batch, seq].
    /// </summary>
    internal void Forward(ForwardState state, DeviceSpan hidden_states, AttentionPlan plan, DeviceSpan attention_probs)
    {
        var backend = state.Backend;
        int batch = state.Batch, seq = state.SeqLength, rows = batch * seq, n_heads = NumAttentionHeads, d = AttentionHeadSize;
        if (seq % BlockSize != 0)
            throw new BigBirdInputException($"block-sparse attention needs a length that is a multiple of block_size {BlockSize}, got {seq}.");
        // query_layer / key_layer / value_layer = transpose_for_scores(linear(hidden_states))
        var projected = state.ContextLayer.Slice(0, rows * _hidden); // free until attention writes it
        Query.Forward(projected, hidden_states, rows);
        if (state.Tracing) state.Emit($"{_path}.query", projected, batch, seq, _hidden);
        backend.SplitHeads(state.QueryLayer, projected, batch, seq, n_heads, d);
        Key.Forward(projected, hidden_states, rows);
        if (state.Tracing) state.Emit($"{_path}.key", projected, batch, seq, _hidden);
        backend.SplitHeads(state.KeyLayer, projected, batch, seq, n_heads, d);
        Value.Forward(projected, hidden_states, rows);
        if (state.Tracing) state.Emit($"{_path}.value", projected, batch, seq, _hidden);
        backend.SplitHeads(state.ValueLayer, projected, batch, seq, n_heads, d);

        // context_layer = bigbird_block_sparse_attention(...) · from_mask
        backend.BlockSparseAttention(state.ContextLayer, state.QueryLayer, state.KeyLayer, state.ValueLayer, new BlockSparseAttentionArgs
        {
            Batch = batch, Heads = n_heads, Seq = seq, HeadDim = d, Plan = plan, Mask = state.BlockMask, Probs = attention_probs,
        });
        backend.MergeHeads(state.MergedContext, state.ContextLayer, batch, seq, n_heads, d);
    }
}
