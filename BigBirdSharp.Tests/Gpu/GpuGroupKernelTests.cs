using BigBirdSharp.Backends;
using BigBirdSharp.Gpu;
using BigBirdSharp.Kernels;
using BigBirdSharp.RandomAttention;
using BigBirdSharp.Tests.Kernels;

namespace BigBirdSharp.Tests.Gpu;

/// <summary>
/// The group-parallel paths of the kernels, which CUDA runs and the conformance suite's one-thread-per-group CPU
/// accelerator does not: 2×2-thread GEMM tiles (several tiles per output, ragged edges), and row kernels in groups of
/// four threads (every thread holds part of a row; the max and sum trees combine them; the probabilities are written by
/// several threads in HF's order). Each result is checked against the CPU backend, the reference, on the same inputs.
/// Tolerance 1e-4 + 1e-4·|cpu|: both are fp32 with different summation orders (a few ulp of the sums); a tile or
/// reduction that drops or repeats a term is off by O(1).
/// </summary>
public sealed class GpuGroupKernelTests : IDisposable
{
    private readonly GpuBackend _gpu = GpuBackend.CreateIlgpuCpu(4, 2);
    private readonly CpuBackend _cpu = CpuBackend.Instance;

    public void Dispose() => _gpu.Dispose();

    private static float[] Run(IComputeBackend backend, int outputLength, Action<IComputeBackend, Func<float[], DeviceSpan>, DeviceSpan> op)
    {
        var owned = new List<DeviceBuffer>();
        DeviceSpan Put(float[] host)
        {
            var buffer = backend.Allocate(host.Length);
            backend.Upload(buffer.All, host);
            owned.Add(buffer);
            return buffer.All;
        }
        using var output = backend.Allocate(outputLength);
        op(backend, Put, output.All);
        var result = new float[outputLength];
        backend.Download(output.All, result);
        foreach (var buffer in owned) buffer.Dispose();
        return result;
    }

    private void AssertSameAsCpu(int outputLength, Action<IComputeBackend, Func<float[], DeviceSpan>, DeviceSpan> op, string what)
    {
        Assert.Equal(4, _gpu.GroupSize);
        Assert.Equal(2, _gpu.Tile);
        var expected = Run(_cpu, outputLength, op);
        var actual = Run(_gpu, outputLength, op);
        Assert.Contains(expected, v => v != 0f); // the case computes something
        for (int i = 0; i < expected.Length; i++)
            KernelTestData.AssertClose(expected[i], actual[i], 1e-4, 1e-4, $"{what}[{i}]");
    }

    private static float[] Normal(int seed, int n) => KernelTestData.Normal(new Random(seed), n, 0, 1);

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(5, 17, 9)]
    [InlineData(65, 129, 257)]
    public void Tiled_linear_with_bias_and_gelu_matches_the_cpu_backend(int rows, int inF, int outF)
    {
        float[] x = Normal(1, rows * inF), w = Normal(2, outF * inF), bias = Normal(3, outF);
        AssertSameAsCpu(rows * outF, (backend, put, y) =>
            backend.Linear(y, put(x), backend.BindLinear(w, bias, inF, outF), rows, ActivationKind.Gelu), $"Linear {rows}×{inF}→{outF}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(257)]
    public void Group_layer_norm_with_residual_matches_the_cpu_backend(int cols)
    {
        const int rows = 3;
        float[] x = Normal(4, rows * cols), residual = Normal(5, rows * cols), gamma = Normal(6, cols), beta = Normal(7, cols);
        AssertSameAsCpu(rows * cols, (backend, put, y) =>
        {
            backend.Copy(y, cols, put(residual), cols, rows, cols);
            backend.LayerNorm(y, put(x), y, put(gamma), put(beta), rows, cols, 1e-12f); // into its residual, as the layers do
        }, $"LayerNorm cols={cols}");
    }

    [Theory]
    [InlineData(-1, false)]
    [InlineData(0, true)]
    [InlineData(5, false)]
    public void Group_full_attention_matches_the_cpu_backend(int causalOffset, bool headMask)
    {
        const int batch = 2, heads = 3, d = 8;
        int seq = causalOffset > 0 ? 4 : 37, keys = causalOffset > 0 ? causalOffset + seq : 37, stride = keys + 2;
        float[] q = Normal(8, batch * heads * seq * d), k = Normal(9, batch * heads * stride * d), v = Normal(10, batch * heads * stride * d);
        var mask = new float[batch * keys];
        for (int i = 0; i < mask.Length; i++) mask[i] = i % 5 == 3 ? float.MinValue : 0f;
        int n = batch * heads * seq * d, probs = batch * heads * seq * keys;
        // context and probabilities in one output: [context | probs]
        AssertSameAsCpu(n + probs, (backend, put, output) =>
            backend.FullAttention(output.Slice(0, n), put(q), put(k), put(v), new FullAttentionArgs
            {
                Batch = batch, Heads = heads, Seq = seq, HeadDim = d, Keys = keys, KeyStride = stride, Mask = put(mask),
                CausalOffset = causalOffset, HeadMask = headMask ? new float[] { 0.5f, 1f, 2f } : ReadOnlyMemory<float>.Empty,
                Probs = output.Slice(n, probs),
            }), $"FullAttention causal={causalOffset}");
    }

    [Theory]
    [InlineData(RandomAttentionSemantics.Seeded, 3, 12, 2)]
    [InlineData(RandomAttentionSemantics.Deterministic, 2, 10, 3)]
    [InlineData(RandomAttentionSemantics.Seeded, 5, 9, 1)]
    public void Group_block_sparse_attention_matches_the_cpu_backend(RandomAttentionSemantics semantics, int block, int numBlocks, int r)
    {
        const int batch = 2, heads = 2, d = 6;
        int seq = numBlocks * block, n = batch * heads * seq * d, probs = batch * heads * seq * seq;
        int[] randAttn = BigBirdRandomAttention.GetRandAttn(semantics, 1, seq, seq, block, block, r, heads, Math.Max(seq, 64));
        float[] q = Normal(11, n), k = Normal(12, n), v = Normal(13, n);
        var mask = new float[batch * seq];
        for (int i = 0; i < mask.Length; i++) mask[i] = i % seq == 0 || i % 7 != 2 ? 1f : 0f; // padded rows and keys in both batch rows
        AssertSameAsCpu(n + probs, (backend, put, output) =>
            backend.BlockSparseAttention(output.Slice(0, n), put(q), put(k), put(v), new BlockSparseAttentionArgs
            {
                Batch = batch, Heads = heads, Seq = seq, HeadDim = d, Plan = AttentionPlan.BlockSparse(block, r, randAttn), Mask = put(mask),
                Probs = output.Slice(n, probs),
            }), $"BlockSparse {semantics} {numBlocks}×{block} r={r}");
    }

    [Theory]
    [InlineData(0, 2, 5, 5, 4, 5)]  // rows shifted forward over themselves: each row reads what the row before it wrote
    [InlineData(7, 0, 5, 5, 4, 5)]  // shifted backward
    [InlineData(3, 1, 6, 4, 3, 4)]  // different strides, partly overlapping
    [InlineData(0, 1, 0, 3, 5, 3)]  // one row broadcast over a destination that covers it
    public void Copy_within_one_buffer_moves_row_after_row_like_the_cpu_backend(int srcOffset, int dstOffset, int srcStride, int dstStride,
                                                                                int rows, int rowLength)
    {
        float[] initial = Enumerable.Range(1, 40).Select(i => (float)i).ToArray();
        AssertSameAsCpu(40, (backend, put, output) =>
        {
            backend.Upload(output, initial);
            backend.Copy(output.Slice(dstOffset), dstStride, output.Slice(srcOffset), srcStride, rows, rowLength);
        }, $"Copy src+{srcOffset}/{srcStride} dst+{dstOffset}/{dstStride} {rows}×{rowLength}");
    }

    [Fact]
    public void Only_small_power_of_two_groups_are_accepted_on_the_cpu_accelerator()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => GpuBackend.CreateIlgpuCpu(3, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => GpuBackend.CreateIlgpuCpu(8, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => GpuBackend.CreateIlgpuCpu(1, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => GpuBackend.CreateIlgpuCpu(0, 1));
    }
}
