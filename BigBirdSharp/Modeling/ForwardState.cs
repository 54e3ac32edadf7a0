using BigBirdSharp.Configuration;
using BigBirdSharp.Kernels;

namespace BigBirdSharp.Modeling;

/// <summary>
/// The run state of one forward call (llama2.c's RunState): every buffer the layer loop needs,
/// sized once for (batch, sequence length) and reused by every layer, plus one attention scratch per
/// worker. A model call owns its state, which is what makes a loaded model safe to share between threads.
/// </summary>
internal sealed class ForwardState
{
    public readonly int Batch;
    /// <summary>Sequence length the encoder runs at (padded to block_size under block_sparse).</summary>
    public readonly int SeqLength;

    /// <summary>[batch, seq, hidden] the running hidden states.</summary>
    public readonly float[] Hidden;
    /// <summary>[batch, seq, hidden] attention output (after BigBirdSelfOutput).</summary>
    public readonly float[] AttentionOutput;
    /// <summary>[batch, seq, hidden] scratch for projections and merged heads.</summary>
    public readonly float[] Scratch;
    /// <summary>[batch, seq, hidden] output of cross-attention (decoder with add_cross_attention); empty otherwise.</summary>
    public readonly float[] CrossAttentionOutput;
    /// <summary>[batch, heads, seq, head_dim]</summary>
    public readonly float[] QueryLayer;
    /// <summary>[batch, heads, seq, head_dim]</summary>
    public readonly float[] KeyLayer;
    /// <summary>[batch, heads, seq, head_dim]</summary>
    public readonly float[] ValueLayer;
    /// <summary>[batch, heads, seq, head_dim]</summary>
    public readonly float[] ContextLayer;
    /// <summary>[batch, seq, intermediate]</summary>
    public readonly float[] Intermediate;
    /// <summary>Tokens already in the key/value cache (HF's past_key_values_length); 0 without a cache.</summary>
    public readonly int PastLength;
    /// <summary>encoder_seq of cross-attention; 0 without it.</summary>
    public readonly int EncoderLength;
    /// <summary>[batch, past + seq] additive mask of full attention: 0 where attended, float.MinValue where not.</summary>
    public readonly float[] AdditiveMask;
    /// <summary>[batch, encoder_seq] additive mask of cross-attention (HF's invert_attention_mask); empty without it.</summary>
    public readonly float[] EncoderAdditiveMask;
    /// <summary>[batch, heads, encoder_seq, head_dim] keys/values projected from encoder_hidden_states; empty without them.</summary>
    public readonly float[] CrossKeyLayer, CrossValueLayer;
    /// <summary>[batch, encoder_seq, hidden] projection scratch for cross-attention keys/values; empty without it.</summary>
    public readonly float[] EncoderScratch;
    /// <summary>[batch, seq] 0/1 attention mask of block-sparse attention (from_mask = to_mask).</summary>
    public readonly float[] BlockMask;

    private readonly AttentionScratch[] _workers;

    /// <summary>Receives intermediate tensors by HF module path (<see cref="BigBirdForwardOptions.Trace"/>), or null.</summary>
    public Action<string, FloatTensor>? Trace;

    /// <summary>Hands a copy of <paramref name="data"/> to <see cref="Trace"/> under <paramref name="name"/>; free when not tracing.</summary>
    public void Emit(string name, ReadOnlySpan<float> data, params int[] shape)
    {
        if (Trace is null) return;
        int n = 1;
        foreach (int d in shape) n *= d;
        Trace(name, new FloatTensor(data[..n].ToArray(), shape));
    }

    public ForwardState(BigBirdConfig config, int batch, int seqLength, int pastLength = 0, int encoderLength = 0)
    {
        Batch = batch;
        SeqLength = seqLength;
        PastLength = pastLength;
        EncoderLength = encoderLength;
        int tokens = batch * seqLength, hidden = config.HiddenSize;
        Hidden = new float[tokens * hidden];
        AttentionOutput = new float[tokens * hidden];
        Scratch = new float[tokens * hidden];
        CrossAttentionOutput = encoderLength > 0 ? new float[tokens * hidden] : [];
        QueryLayer = new float[tokens * hidden];
        KeyLayer = new float[tokens * hidden];
        ValueLayer = new float[tokens * hidden];
        ContextLayer = new float[tokens * hidden];
        Intermediate = new float[tokens * config.IntermediateSize];
        AdditiveMask = new float[batch * (pastLength + seqLength)];
        EncoderAdditiveMask = new float[batch * encoderLength];
        EncoderScratch = new float[batch * encoderLength * hidden];
        CrossKeyLayer = new float[batch * encoderLength * hidden];
        CrossValueLayer = new float[batch * encoderLength * hidden];
        BlockMask = new float[tokens];

        int workers = Math.Max(1, Math.Min(Environment.ProcessorCount, batch * config.NumAttentionHeads * Math.Max(1, seqLength / config.BlockSize)));
        int rows = Math.Max(config.BlockSize, BigBirdSelfAttention.QueryChunk);
        int gatheredKeys = BigBirdBlockSparseAttention.MaxGatheredBlocks(config) * config.BlockSize;
        _workers = new AttentionScratch[workers];
        for (int i = 0; i < workers; i++)
            _workers[i] = new AttentionScratch(rows, Math.Max(Math.Max(pastLength + seqLength, encoderLength), gatheredKeys), config.AttentionHeadSize,
                                               BigBirdBlockSparseAttention.MaxGatheredBlocks(config));
    }

    /// <summary>Runs <paramref name="body"/> for tasks 0..count-1, spread over the workers, each with its own scratch.</summary>
    public void ForEachWorker(int count, Action<AttentionScratch, int> body)
    {
        int workers = Math.Min(_workers.Length, count);
        if (workers <= 1)
        {
            for (int t = 0; t < count; t++) body(_workers[0], t);
            return;
        }
        // each worker's kernels run serially: the parallelism is already here
        Parallel.For(0, workers, w => KernelThreading.RunAsWorker(w, worker =>
        {
            var scratch = _workers[worker];
            for (int t = worker; t < count; t += workers) body(scratch, t);
        }));
    }

    /// <summary>[batch, seq, heads, d] → [batch, heads, seq, d] (transpose_for_scores).</summary>
    public static void SplitHeads(Span<float> dst, ReadOnlySpan<float> src, int batch, int seq, int heads, int d)
    {
        for (int b = 0; b < batch; b++)
            for (int s = 0; s < seq; s++)
                for (int h = 0; h < heads; h++)
                    src.Slice(((b * seq + s) * heads + h) * d, d).CopyTo(dst.Slice(((b * heads + h) * seq + s) * d, d));
    }

    /// <summary>[batch, heads, seq, d] → [batch, seq, heads·d] (the permute + view after attention).</summary>
    public static void MergeHeads(Span<float> dst, ReadOnlySpan<float> src, int batch, int seq, int heads, int d)
    {
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int s = 0; s < seq; s++)
                    src.Slice(((b * heads + h) * seq + s) * d, d).CopyTo(dst.Slice(((b * seq + s) * heads + h) * d, d));
    }
}
