using System.Runtime.InteropServices;
using BigBirdSharp.Backends;
using BigBirdSharp.Kernels;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace BigBirdSharp.Gpu;

/// <summary>
/// A compute backend on an ILGPU accelerator: a CUDA GPU, or ILGPU's CPU accelerator (the same kernels on CPU threads,
/// for machines without a GPU and for CI). Every operation of <see cref="IComputeBackend"/> is a device kernel
/// (<see cref="GpuKernels"/>); weights are uploaded once at <see cref="BindLinear"/> and <see cref="Upload(ReadOnlyMemory{float})"/>,
/// each call's scratch comes from <see cref="Workspace"/>, and data reaches the host only through <see cref="Download"/>.
/// Operations are queued in order on the accelerator's default stream; a lock serialises the callers, so the backend is
/// thread-safe (concurrent model calls take turns on the device). Dispose it to free the accelerator.
/// </summary>
public sealed class GpuBackend : IComputeBackend, IDisposable
{
    /// <summary>Scratch floats one attention launch may use (64 MiB): longer inputs are split into several launches.</summary>
    private const int ScratchFloats = 16 << 20;

    private readonly Context _context;
    private readonly Accelerator _accelerator;
    private readonly AcceleratorStream _stream;
    private readonly Lock _gate = new();
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _dummy;
    private readonly int _groupSize, _tile;
    private int _disposed;

    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GpuKernels.LinearShape> _linear;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, int> _activate;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> _add;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, int, ArrayView<float>, int, int> _copy;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, GpuKernels.HeadsShape> _heads;
    private readonly Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                            ArrayView<int>, GpuKernels.EmbeddingShape> _embedding;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                            GpuKernels.LayerNormShape> _layerNorm;
    private readonly Action<KernelConfig, GpuKernels.AttentionViews, GpuKernels.FullShape> _full;
    private readonly Action<KernelConfig, GpuKernels.AttentionViews, ArrayView<int>, GpuKernels.SparseShape> _sparse;

    private GpuBackend(GpuDevice device, Context context, Accelerator accelerator, int groupSize, int tile)
    {
        Device = device;
        _context = context;
        _accelerator = accelerator;
        _stream = accelerator.DefaultStream;
        _groupSize = groupSize;
        _tile = tile;
        _dummy = accelerator.Allocate1D<float>(1);
        _linear = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GpuKernels.LinearShape>(GpuKernels.Linear);
        _activate = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, int>(GpuKernels.Activate);
        _add = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(GpuKernels.Add);
        _copy = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, int, ArrayView<float>, int, int>(GpuKernels.Copy);
        _heads = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, GpuKernels.HeadsShape>(GpuKernels.Heads);
        _embedding = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                                                       ArrayView<int>, GpuKernels.EmbeddingShape>(GpuKernels.EmbeddingSum);
        _layerNorm = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                                                  GpuKernels.LayerNormShape>(GpuKernels.LayerNorm);
        _full = accelerator.LoadStreamKernel<GpuKernels.AttentionViews, GpuKernels.FullShape>(GpuKernels.FullAttention);
        _sparse = accelerator.LoadStreamKernel<GpuKernels.AttentionViews, ArrayView<int>, GpuKernels.SparseShape>(GpuKernels.BlockSparseAttention);
        Workspace = new WorkspacePool(Allocate);
    }

    /// <summary>
    /// A backend on <paramref name="device"/>. Each call starts its own ILGPU context and accelerator and compiles the
    /// kernels for it (under a second on CUDA); keep the backend for the process and dispose it at the end.
    /// </summary>
    /// <param name="device">CUDA, or ILGPU's CPU accelerator.</param>
    /// <returns>The backend.</returns>
    /// <exception cref="GpuDeviceUnavailableException">No CUDA device is visible (no NVIDIA GPU or driver), or the accelerator failed to start.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="device"/> is not a defined value.</exception>
    public static GpuBackend Create(GpuDevice device)
    {
        if (!Enum.IsDefined(device)) throw new ArgumentOutOfRangeException(nameof(device), device, "unknown GPU device kind.");
        Context? context = null;
        try
        {
            if (device == GpuDevice.Cuda)
            {
                context = Context.Create(builder => builder.Cuda().EnableAlgorithms().Math(MathMode.Default));
                var devices = context.GetCudaDevices();
                if (devices.Count == 0)
                    throw new GpuDeviceUnavailableException(device,
                        "no CUDA device: ILGPU found no NVIDIA GPU through the CUDA driver (libcuda). Install the NVIDIA driver on a machine " +
                        "with an NVIDIA GPU (no CUDA toolkit is needed), or use --backend cpu (the managed CPU backend) or --backend ilgpu-cpu.");
                var accelerator = devices[0].CreateAccelerator(context);
                // row kernels in groups of 256 threads (a power of two, for the reduction trees), GEMM tiles of 16×16
                int group = Math.Min(256, 1 << (int)Math.Log2(accelerator.MaxNumThreadsPerGroup));
                return new GpuBackend(device, context, accelerator, group, 1 << ((int)Math.Log2(group) / 2));
            }
            // one thread per group: the CPU accelerator runs a group's threads as OS threads that meet at every barrier,
            // which costs far more than the arithmetic on a CPU (see docs/gpu.md)
            return CreateIlgpuCpu(1, 1);
        }
        catch (GpuDeviceUnavailableException)
        {
            context?.Dispose();
            throw;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            context?.Dispose();
            throw new GpuDeviceUnavailableException(device,
                $"could not start ILGPU's {(device == GpuDevice.Cuda ? "CUDA" : "CPU")} accelerator: {e.Message}" +
                (device == GpuDevice.Cuda ? " Check the NVIDIA driver, or use --backend cpu or --backend ilgpu-cpu." : ""), e);
        }
    }

    /// <summary>
    /// ILGPU's CPU accelerator with row kernels in groups of <paramref name="groupSize"/> threads and GEMM tiles of
    /// <paramref name="tile"/>² threads (both powers of two, at most 4 threads a group): the tests run the group-parallel
    /// paths (the reduction trees, the shared-memory tiles) this way, as CUDA runs them, on a CPU.
    /// </summary>
    internal static GpuBackend CreateIlgpuCpu(int groupSize, int tile)
    {
        if (groupSize < 1 || groupSize > 4 || (groupSize & (groupSize - 1)) != 0 || tile < 1 || tile * tile > 4 || (tile & (tile - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(groupSize), $"group {groupSize} and tile {tile}: powers of two, at most 4 threads a group.");
        // two simulated multiprocessors (the work is spread over two OS threads), groups of up to one warp of four
        var cpu = new CPUDevice(4, 1, 2);
        var context = Context.Create(builder => builder.CPU(cpu).EnableAlgorithms());
        try
        {
            return new GpuBackend(GpuDevice.IlgpuCpu, context, cpu.CreateCPUAccelerator(context, CPUAcceleratorMode.Parallel), groupSize, tile);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>The accelerator kind this backend runs on.</summary>
    public GpuDevice Device { get; }

    /// <summary>The accelerator's own name (the GPU model, or ILGPU's CPU accelerator).</summary>
    public string DeviceName => _accelerator.Name;

    /// <inheritdoc />
    public string Name => Device == GpuDevice.Cuda ? "cuda" : "ilgpu-cpu";

    /// <inheritdoc />
    public WorkspacePool Workspace { get; }

    /// <summary>Threads per group of the row kernels (LayerNorm, attention).</summary>
    internal int GroupSize => _groupSize;

    /// <summary>GEMM tile edge in threads (a group is Tile × Tile).</summary>
    internal int Tile => _tile;

    /// <summary>A one-float view passed where an optional tensor is absent.</summary>
    internal ArrayView<float> Dummy => _dummy.View;

    /// <inheritdoc />
    public bool Supports(BackendOp op) => Enum.IsDefined(op);

    /// <inheritdoc />
    public DeviceBuffer Allocate(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        lock (_gate)
        {
            var memory = length == 0 ? null : _accelerator.Allocate1D<float>(length);
            memory?.View.MemSetToZero(_stream);
            return new GpuBuffer(this, memory, length, readOnly: false);
        }
    }

    /// <inheritdoc />
    /// <remarks>The floats are copied to the device now; the host memory may change afterwards.</remarks>
    public DeviceBuffer Upload(ReadOnlyMemory<float> host)
    {
        lock (_gate)
        {
            var memory = host.IsEmpty ? null : _accelerator.Allocate1D<float>(host.Length);
            memory?.View.CopyFromCPU(_stream, host.Span);
            return new GpuBuffer(this, memory, host.Length, readOnly: true);
        }
    }

    /// <inheritdoc />
    public void Upload(DeviceSpan dst, ReadOnlySpan<float> src)
    {
        lock (_gate)
        {
            var d = Writable(dst, nameof(dst));
            if (src.Length != dst.Length)
                throw new ArgumentException($"Upload of {src.Length} floats into a view of {dst.Length}.", nameof(src));
            if (src.Length > 0) d.CopyFromCPU(_stream, src);
        }
    }

    /// <inheritdoc />
    public void Download(DeviceSpan src, Span<float> dst)
    {
        lock (_gate)
        {
            var s = Read(src, nameof(src));
            if (src.Length != dst.Length)
                throw new ArgumentException($"Download of a view of {src.Length} floats into {dst.Length}.", nameof(dst));
            if (dst.Length > 0) s.CopyToCPU(_stream, dst);
            _stream.Synchronize();
        }
    }

    /// <inheritdoc />
    public void Synchronize()
    {
        lock (_gate) _stream.Synchronize();
    }

    /// <inheritdoc />
    public BoundLinear BindLinear(ReadOnlyMemory<float> weight, ReadOnlyMemory<float> bias, int inFeatures, int outFeatures)
    {
        if (inFeatures < 0 || outFeatures < 0 || weight.Length != (long)inFeatures * outFeatures)
            throw new ArgumentException($"Linear weight has {weight.Length} elements but [{outFeatures}, {inFeatures}] needs {(long)inFeatures * outFeatures}.", nameof(weight));
        if (!bias.IsEmpty && bias.Length != outFeatures)
            throw new ArgumentException($"Linear bias has {bias.Length} elements but out_features={outFeatures} (pass an empty bias for none).", nameof(bias));
        return new GpuLinear(this, (GpuBuffer)Upload(weight), (GpuBuffer)Upload(bias), inFeatures, outFeatures, !bias.IsEmpty);
    }

    /// <inheritdoc />
    public void Linear(DeviceSpan y, DeviceSpan x, BoundLinear weight, int rows, ActivationKind activation = ActivationKind.Linear)
    {
        if (weight is not GpuLinear linear || !ReferenceEquals(weight.Backend, this))
            throw new ArgumentException($"a Linear bound to backend '{weight.Backend.Name}' cannot run on '{Name}'; bind it to this backend at load.", nameof(weight));
        if (!Enum.IsDefined(activation)) throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown activation kind.");
        if (rows < 0 || x.Length != (long)rows * linear.InFeatures || y.Length != (long)rows * linear.OutFeatures)
            throw new ArgumentException($"Linear [{linear.OutFeatures}, {linear.InFeatures}] over {rows} rows needs x of {(long)rows * linear.InFeatures} " +
                                        $"and y of {(long)rows * linear.OutFeatures} floats, got {x.Length} and {y.Length}.");
        lock (_gate)
        {
            var output = Writable(y, nameof(y));
            var input = Read(x, nameof(x));
            if (rows == 0 || linear.OutFeatures == 0) return;
            int t = _tile;
            var config = new KernelConfig(new Index2D((linear.OutFeatures + t - 1) / t, (rows + t - 1) / t), new Index2D(t, t),
                                          SharedMemoryConfig.RequestDynamic<float>(2 * t * t));
            _linear(config, output, input, linear.Weight.View(0, linear.Weight.Length), linear.Bias.View(0, linear.Bias.Length),
                    new GpuKernels.LinearShape { Rows = rows, In = linear.InFeatures, Out = linear.OutFeatures, HasBias = linear.HasBias ? 1 : 0, Activation = (int)activation });
        }
    }

    /// <inheritdoc />
    public void LayerNorm(DeviceSpan y, DeviceSpan x, DeviceSpan residual, DeviceSpan gamma, DeviceSpan beta, int rows, int cols, float eps)
    {
        long n = (long)rows * cols;
        if (rows < 0 || cols <= 0 || x.Length != n || y.Length != n || (!residual.IsEmpty && residual.Length != n) || gamma.Length != cols || beta.Length != cols)
            throw new ArgumentException($"LayerNorm over {rows} rows of {cols}: views of x {x.Length}, y {y.Length}, residual {residual.Length}, " +
                                        $"gamma {gamma.Length} and beta {beta.Length} floats do not fit.");
        lock (_gate)
        {
            var output = Writable(y, nameof(y));
            var input = Read(x, nameof(x));
            var res = Read(residual, nameof(residual));
            var g = Read(gamma, nameof(gamma));
            var b = Read(beta, nameof(beta));
            if (rows == 0) return;
            var config = new KernelConfig(new Index1D(rows), new Index1D(_groupSize), SharedMemoryConfig.RequestDynamic<double>(_groupSize));
            _layerNorm(config, output, input, res, g, b,
                       new GpuKernels.LayerNormShape { Cols = cols, HasResidual = residual.IsEmpty ? 0 : 1, Eps = eps });
        }
    }

    /// <inheritdoc />
    public void EmbeddingSum(DeviceSpan y, int hidden, DeviceSpan wordTable, ReadOnlySpan<int> inputIds, DeviceSpan inputsEmbeds, float wordScale,
                             DeviceSpan tokenTypeTable, ReadOnlySpan<int> tokenTypeIds, DeviceSpan positionTable, ReadOnlySpan<int> positionIds)
    {
        int rows = tokenTypeIds.Length;
        if (hidden <= 0) throw new ArgumentOutOfRangeException(nameof(hidden), hidden, "EmbeddingSum needs a positive hidden size.");
        if (positionIds.Length != rows || (inputIds.IsEmpty ? inputsEmbeds.Length != (long)rows * hidden : inputIds.Length != rows)
            || y.Length != (long)rows * hidden)
            throw new ArgumentException($"EmbeddingSum: {rows} token types, {positionIds.Length} positions, {inputIds.Length} ids / " +
                                        $"{inputsEmbeds.Length} embedding floats and {y.Length} output floats do not agree for hidden {hidden}.");
        bool byIds = !inputIds.IsEmpty;
        CheckIds(inputIds, wordTable.Length / hidden, "input_ids");
        CheckIds(tokenTypeIds, tokenTypeTable.Length / hidden, "token_type_ids");
        CheckIds(positionIds, positionTable.Length / hidden, "position_ids");
        lock (_gate)
        {
            var output = Writable(y, nameof(y));
            var words = byIds ? Read(wordTable, nameof(wordTable)) : Dummy;
            var embeds = byIds ? Dummy : Read(inputsEmbeds, nameof(inputsEmbeds));
            var types = Read(tokenTypeTable, nameof(tokenTypeTable));
            var positions = Read(positionTable, nameof(positionTable));
            if (rows == 0) return;
            // the ids travel as the bits of floats in a work-space buffer: [input_ids | token_type_ids | position_ids]
            var ids = Workspace.Rent(3 * rows);
            try
            {
                Span<int> host = rows <= 1024 ? stackalloc int[3 * rows] : new int[3 * rows];
                if (byIds) inputIds.CopyTo(host);
                tokenTypeIds.CopyTo(host[rows..]);
                positionIds.CopyTo(host[(2 * rows)..]);
                var idView = ((GpuBuffer)ids).View(0, 3 * rows);
                idView.CopyFromCPU(_stream, MemoryMarshal.Cast<int, float>(host));
                _embedding(_stream, rows * hidden, output, words, embeds, types, positions, idView.Cast<int>(),
                           new GpuKernels.EmbeddingShape { Hidden = hidden, ByIds = byIds ? 1 : 0, WordScale = wordScale });
            }
            finally
            {
                Workspace.Return(ids);
            }
        }
    }

    private static void CheckIds(ReadOnlySpan<int> ids, int tableRows, string name)
    {
        foreach (int id in ids)
            if ((uint)id >= (uint)tableRows)
                throw new ArgumentOutOfRangeException(name, id, $"{name} value {id} is outside a table of {tableRows} rows.");
    }

    /// <inheritdoc />
    public void Add(DeviceSpan y, DeviceSpan a, DeviceSpan b)
    {
        lock (_gate)
        {
            var output = Writable(y, nameof(y));
            var left = Read(a, nameof(a));
            var right = Read(b, nameof(b));
            if (a.Length != y.Length || b.Length != y.Length)
                throw new ArgumentException($"Add of views of {a.Length} and {b.Length} floats into {y.Length}.");
            if (y.Length == 0) return;
            _add(_stream, y.Length, output, left, right);
        }
    }

    /// <inheritdoc />
    public void Activate(DeviceSpan x, ActivationKind kind)
    {
        if (!Enum.IsDefined(kind)) throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown activation kind.");
        lock (_gate)
        {
            var view = Writable(x, nameof(x));
            if (x.Length == 0 || kind == ActivationKind.Linear) return;
            _activate(_stream, x.Length, view, (int)kind);
        }
    }

    /// <inheritdoc />
    public void Copy(DeviceSpan dst, int dstStride, DeviceSpan src, int srcStride, int rows, int rowLength)
    {
        lock (_gate)
        {
            var d = Writable(dst, nameof(dst));
            var s = Read(src, nameof(src));
            if (rows < 0 || rowLength < 0 || dstStride < rowLength || (srcStride < rowLength && srcStride != 0))
                throw new ArgumentException($"Copy of {rows} rows of {rowLength} with strides {dstStride} and {srcStride}.");
            if (rows == 0 || rowLength == 0) return;
            if ((long)(rows - 1) * dstStride + rowLength > dst.Length || (long)(rows - 1) * srcStride + rowLength > src.Length)
                throw new ArgumentException($"Copy of {rows} rows of {rowLength} (strides {dstStride}, {srcStride}) overruns views of {dst.Length} and {src.Length} floats.");
            long srcSpan = (long)(rows - 1) * srcStride + rowLength;
            bool overlap = ReferenceEquals(dst.Buffer, src.Buffer) && dst.Offset < src.Offset + srcSpan && src.Offset < dst.Offset + (rows - 1) * dstStride + rowLength;
            if (!overlap)
            {
                _copy(_stream, rows * rowLength, d, dstStride, s, srcStride, rowLength);
                return;
            }
            // source and destination share memory: as the CPU backend does, row after row, each row moved as a memmove
            // (staged whole, then written), so a row reads what the rows before it wrote
            var staged = Workspace.Rent(rowLength);
            try
            {
                var stage = ((GpuBuffer)staged).View(0, rowLength);
                for (int r = 0; r < rows; r++)
                {
                    _copy(_stream, rowLength, stage, rowLength, s.SubView((long)r * srcStride, rowLength), rowLength, rowLength);
                    _copy(_stream, rowLength, d.SubView((long)r * dstStride, rowLength), rowLength, stage, rowLength, rowLength);
                }
            }
            finally
            {
                Workspace.Return(staged);
            }
        }
    }

    /// <inheritdoc />
    public void SplitHeads(DeviceSpan dst, DeviceSpan src, int batch, int seq, int heads, int headDim) => Heads(dst, src, batch, seq, heads, headDim, split: true);

    /// <inheritdoc />
    public void MergeHeads(DeviceSpan dst, DeviceSpan src, int batch, int seq, int heads, int headDim) => Heads(dst, src, batch, seq, heads, headDim, split: false);

    private void Heads(DeviceSpan dst, DeviceSpan src, int batch, int seq, int heads, int headDim, bool split)
    {
        long n = (long)batch * seq * heads * headDim;
        if (batch < 0 || seq < 0 || heads < 0 || headDim < 0 || dst.Length != n || src.Length != n)
            throw new ArgumentException($"head permute of [{batch}, {seq}, {heads}, {headDim}] needs {n} floats, got views of {src.Length} and {dst.Length}.");
        lock (_gate)
        {
            var d = Writable(dst, nameof(dst));
            var s = Read(src, nameof(src));
            if (n == 0) return;
            _heads(_stream, (int)n, d, s, new GpuKernels.HeadsShape { Batch = batch, Seq = seq, Heads = heads, HeadDim = headDim, Split = split ? 1 : 0 });
        }
    }

    /// <inheritdoc />
    public void FullAttention(DeviceSpan context, DeviceSpan query, DeviceSpan key, DeviceSpan value, in FullAttentionArgs args)
    {
        args.Validate(context, query, key, value);
        lock (_gate)
        {
            var views = new GpuKernels.AttentionViews
            {
                Context = Writable(context, nameof(context)), Query = Read(query, nameof(query)), Key = Read(key, nameof(key)),
                Value = Read(value, nameof(value)), Mask = Read(args.Mask, "mask"), Probs = args.Probs.IsEmpty ? Dummy : Writable(args.Probs, "probs"),
                HeadMask = Dummy,
            };
            int totalRows = args.Batch * args.Heads * args.Seq;
            if (totalRows == 0) return;
            DeviceBuffer? headMask = null;
            int rowsPerLaunch = Math.Clamp(ScratchFloats / args.Keys, 1, totalRows);
            var scratch = Workspace.Rent(rowsPerLaunch * args.Keys);
            try
            {
                if (!args.HeadMask.IsEmpty)
                {
                    headMask = Workspace.Rent(args.Heads);
                    views.HeadMask = ((GpuBuffer)headMask).View(0, args.Heads);
                    views.HeadMask.CopyFromCPU(_stream, args.HeadMask.Span);
                }
                views.Scratch = ((GpuBuffer)scratch).View(0, scratch.Length);
                var shape = new GpuKernels.FullShape
                {
                    Heads = args.Heads, Seq = args.Seq, HeadDim = args.HeadDim, Keys = args.Keys, KeyStride = args.KeyStride,
                    CausalOffset = args.CausalOffset, HasHeadMask = args.HeadMask.IsEmpty ? 0 : 1, HasProbs = args.Probs.IsEmpty ? 0 : 1,
                };
                for (int start = 0; start < totalRows; start += rowsPerLaunch)
                {
                    int count = Math.Min(rowsPerLaunch, totalRows - start);
                    var config = new KernelConfig(new Index1D(count), new Index1D(_groupSize), SharedMemoryConfig.RequestDynamic<float>(_groupSize));
                    _full(config, views, shape with { RowStart = start });
                }
            }
            finally
            {
                Workspace.Return(scratch);
                if (headMask is not null) Workspace.Return(headMask);
            }
        }
    }

    /// <inheritdoc />
    public void BlockSparseAttention(DeviceSpan context, DeviceSpan query, DeviceSpan key, DeviceSpan value, in BlockSparseAttentionArgs args)
    {
        args.Validate(context, query, key, value);
        var plan = args.Plan;
        int[] randAttn = plan.RandAttn!; // Validate refused a plan without it
        lock (_gate)
        {
            var views = new GpuKernels.AttentionViews
            {
                Context = Writable(context, nameof(context)), Query = Read(query, nameof(query)), Key = Read(key, nameof(key)),
                Value = Read(value, nameof(value)), Mask = Read(args.Mask, "mask"), Probs = args.Probs.IsEmpty ? Dummy : Writable(args.Probs, "probs"),
                HeadMask = Dummy,
            };
            int block = plan.BlockSize, r = plan.NumRandomBlocks;
            int width = Math.Max(args.Seq, (5 + r) * block);
            int totalRows = args.Batch * args.Heads * args.Seq;
            int rowsPerLaunch = Math.Clamp(ScratchFloats / width, 1, totalRows);
            var scratch = Workspace.Rent(rowsPerLaunch * width);
            // rand_attn travels as the bits of floats in a work-space buffer
            var rand = Workspace.Rent(Math.Max(1, randAttn.Length));
            try
            {
                var randView = ((GpuBuffer)rand).View(0, rand.Length);
                if (randAttn.Length > 0) randView.SubView(0, randAttn.Length).CopyFromCPU(_stream, MemoryMarshal.Cast<int, float>(randAttn.AsSpan()));
                views.Scratch = ((GpuBuffer)scratch).View(0, scratch.Length);
                // HF's dense map is zero wherever the plan attends nothing; the kernel writes only what each row attends
                if (!args.Probs.IsEmpty) views.Probs.MemSetToZero(_stream);
                var shape = new GpuKernels.SparseShape
                {
                    Heads = args.Heads, Seq = args.Seq, HeadDim = args.HeadDim, Block = block, RandomBlocks = r,
                    HasProbs = args.Probs.IsEmpty ? 0 : 1, Width = width,
                };
                for (int start = 0; start < totalRows; start += rowsPerLaunch)
                {
                    int count = Math.Min(rowsPerLaunch, totalRows - start);
                    var config = new KernelConfig(new Index1D(count), new Index1D(_groupSize), SharedMemoryConfig.RequestDynamic<float>(_groupSize));
                    _sparse(config, views, randView.Cast<int>(), shape with { RowStart = start });
                }
            }
            finally
            {
                Workspace.Return(scratch);
                Workspace.Return(rand);
            }
        }
    }

    /// <summary>Frees device memory once every queued operation is done (<see cref="GpuBuffer"/>'s release).</summary>
    internal void Free(MemoryBuffer1D<float, Stride1D.Dense>? memory)
    {
        if (memory is null) return;
        lock (_gate)
        {
            if (Volatile.Read(ref _disposed) != 0) return; // the accelerator already freed everything
            _stream.Synchronize();
            memory.Dispose();
        }
    }

    /// <summary>Waits for the device, then frees the pool, every buffer and the accelerator. Buffers and bound weights of this backend are unusable afterwards.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            _stream.Synchronize();
        }
        _accelerator.Dispose();
        _context.Dispose();
    }

    private GpuBuffer Own(DeviceSpan view, string name)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (view.Buffer is null) throw new ArgumentException($"{name} is an empty view.", name);
        if (view.Buffer is not GpuBuffer buffer || !ReferenceEquals(buffer.Backend, this))
            throw new ArgumentException($"{name} belongs to backend '{view.Buffer.Backend.Name}', not '{Name}'.", name);
        return buffer;
    }

    private ArrayView<float> Read(DeviceSpan view, string name) => view.IsEmpty ? Dummy : Own(view, name).View(view.Offset, view.Length);

    private ArrayView<float> Writable(DeviceSpan view, string name)
    {
        if (view.IsEmpty) return Dummy;
        var buffer = Own(view, name);
        if (buffer.ReadOnly) throw new ArgumentException($"{name} is an uploaded read-only view (weights or inputs); write into an allocated buffer.", name);
        return buffer.View(view.Offset, view.Length);
    }
}
