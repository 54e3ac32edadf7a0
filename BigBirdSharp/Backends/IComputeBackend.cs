using BigBirdSharp.Kernels;

namespace BigBirdSharp.Backends;

/// <summary>
/// The seam between the model and the arithmetic, drawn as ggml-backend draws it. Tensors belong to the backend
/// (<see cref="DeviceBuffer"/>): weights are bound once at load (<see cref="BindLinear"/>, <see cref="Upload(ReadOnlyMemory{float})"/>),
/// each call's work space comes from the backend's <see cref="Workspace"/>, and data crosses to and from the host
/// only through <see cref="Upload(DeviceSpan, ReadOnlySpan{float})"/> and <see cref="Download"/>. The operations are coarse
/// (a whole Linear with bias and activation, residual + LayerNorm, a layer's whole attention), each stated in PyTorch
/// terms, with shapes passed explicitly and validated. The model's modules only describe; the backend computes.
/// Implementations are thread-safe: many model calls may run on one backend at once.
/// </summary>
public interface IComputeBackend
{
    /// <summary>A short name for logs and benchmarks, such as <c>cpu</c>.</summary>
    string Name { get; }

    /// <summary>Whether this backend implements <paramref name="op"/>; a model checks every op it uses at load.</summary>
    bool Supports(BackendOp op);

    /// <summary>The pool each call's work space is rented from.</summary>
    WorkspacePool Workspace { get; }

    /// <summary>A new zero-filled buffer of <paramref name="length"/> floats.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The length is negative.</exception>
    DeviceBuffer Allocate(int length);

    /// <summary>
    /// A read-only buffer holding <paramref name="host"/> (weights, inputs). The CPU backend keeps a view of the host
    /// memory without copying (memory-mapped weights stay mapped), so the caller must not change it while the buffer lives;
    /// never pass such a buffer as an operation's output.
    /// </summary>
    DeviceBuffer Upload(ReadOnlyMemory<float> host);

    /// <summary>Copies <paramref name="src"/> into <paramref name="dst"/> (equal lengths).</summary>
    /// <exception cref="ArgumentException">The lengths differ, or the view belongs to another backend.</exception>
    void Upload(DeviceSpan dst, ReadOnlySpan<float> src);

    /// <summary>Copies <paramref name="src"/> to the host (equal lengths), after every operation queued before it.</summary>
    /// <exception cref="ArgumentException">The lengths differ, or the view belongs to another backend.</exception>
    void Download(DeviceSpan src, Span<float> dst);

    /// <summary>Waits for every queued operation (the CPU backend runs each operation to completion, so it returns at once).</summary>
    void Synchronize();

    /// <summary>
    /// Binds an nn.Linear at load: <paramref name="weight"/> [outFeatures, inFeatures] and <paramref name="bias"/>
    /// [outFeatures] (empty for none). The CPU backend packs the weight into its GEMM panel layout here.
    /// </summary>
    /// <exception cref="ArgumentException">A length does not match the shape.</exception>
    BoundLinear BindLinear(ReadOnlyMemory<float> weight, ReadOnlyMemory<float> bias, int inFeatures, int outFeatures);

    /// <summary>
    /// PyTorch <c>act(nn.Linear(x))</c>: y[rows, out] = act(x[rows, in] · weightᵀ + bias), the bias and the activation
    /// fused where the backend can.
    /// </summary>
    /// <exception cref="ArgumentException">A view's length does not match rows and the weight's shape.</exception>
    void Linear(DeviceSpan y, DeviceSpan x, BoundLinear weight, int rows, ActivationKind activation = ActivationKind.Linear);

    /// <summary>
    /// PyTorch <c>nn.LayerNorm(x + residual)</c> over rows of <paramref name="cols"/>: biased variance, then
    /// ·gamma + beta. An empty <paramref name="residual"/> means none. <paramref name="y"/> may be <paramref name="x"/> or
    /// <paramref name="residual"/> (the model updates its hidden states in place).
    /// </summary>
    /// <exception cref="ArgumentException">A view's length does not match rows and cols.</exception>
    void LayerNorm(DeviceSpan y, DeviceSpan x, DeviceSpan residual, DeviceSpan gamma, DeviceSpan beta, int rows, int cols, float eps);

    /// <summary>
    /// BigBirdEmbeddings before its LayerNorm: y[i] = word[i]·wordScale + token_type_table[type_ids[i]] + position_table[position_ids[i]],
    /// where word[i] is word_table[input_ids[i]], or row i of <paramref name="inputsEmbeds"/> when <paramref name="inputIds"/> is empty.
    /// Ids are host values, checked against their tables.
    /// </summary>
    /// <exception cref="ArgumentException">A length does not match, or an id is outside its table.</exception>
    void EmbeddingSum(DeviceSpan y, int hidden, DeviceSpan wordTable, ReadOnlySpan<int> inputIds, DeviceSpan inputsEmbeds, float wordScale,
                      DeviceSpan tokenTypeTable, ReadOnlySpan<int> tokenTypeIds, DeviceSpan positionTable, ReadOnlySpan<int> positionIds);

    /// <summary>PyTorch <c>a + b</c>, elementwise: y[i] = a[i] + b[i] (equal lengths; y may be a or b).</summary>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    void Add(DeviceSpan y, DeviceSpan a, DeviceSpan b);

    /// <summary>In-place elementwise activation (HF's ACT2FN).</summary>
    void Activate(DeviceSpan x, ActivationKind kind);

    /// <summary>
    /// Strided row copy: for r &lt; rows, dst[r·dstStride .. +rowLength] = src[r·srcStride .. +rowLength] (srcStride 0 repeats
    /// one row). Un-padding, the pooler's first token, padding rows and the key/value cache use it.
    /// </summary>
    /// <exception cref="ArgumentException">A row falls outside its view.</exception>
    void Copy(DeviceSpan dst, int dstStride, DeviceSpan src, int srcStride, int rows, int rowLength);

    /// <summary>transpose_for_scores: [batch, seq, heads·d] → [batch, heads, seq, d].</summary>
    void SplitHeads(DeviceSpan dst, DeviceSpan src, int batch, int seq, int heads, int headDim);

    /// <summary>The inverse permute: [batch, heads, seq, d] → [batch, seq, heads·d].</summary>
    void MergeHeads(DeviceSpan dst, DeviceSpan src, int batch, int seq, int heads, int headDim);

    /// <summary>
    /// <c>BigBirdSelfAttention</c>'s core: context = softmax(q·kᵀ/√d + mask [+ causal]) (· head_mask) · v, for every
    /// (batch, head); <paramref name="context"/> is [batch, heads, seq, d].
    /// </summary>
    void FullAttention(DeviceSpan context, DeviceSpan query, DeviceSpan key, DeviceSpan value, in FullAttentionArgs args);

    /// <summary>
    /// <c>bigbird_block_sparse_attention</c> for one layer, every (batch, head) at once: global first/last query blocks,
    /// sliding band, global keys and random keys, with HF's −10000 penalties and <c>context_layer *= from_mask</c>. The
    /// optional probabilities are HF's dense rebuild: zero wherever a query attends nothing.
    /// </summary>
    void BlockSparseAttention(DeviceSpan context, DeviceSpan query, DeviceSpan key, DeviceSpan value, in BlockSparseAttentionArgs args);
}
