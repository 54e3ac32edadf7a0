using BigBirdSharp.Backends;
using BigBirdSharp.Kernels;

namespace BigBirdSharp.Tests.Backends;

// Memory: allocation, upload and download, views, the work-space pool, ownership and disposal.
public abstract partial class BackendConformanceTests
{
    [Fact]
    public void Allocate_gives_zero_filled_buffers_of_the_length_asked()
    {
        foreach (int length in Lengths)
        {
            // dirty a buffer of the same length first, so a backend that recycles memory must clear it
            using (var dirty = Filled(length, float.NaN)) { }
            using var buffer = Backend.Allocate(length);
            Assert.Equal(length, buffer.Length);
            Assert.Same(Backend, buffer.Backend);
            Assert.False(buffer.IsDisposed);
            AssertBitwise(new float[length], Download(buffer), $"Allocate({length})");
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => Backend.Allocate(-1));
    }

    [Fact]
    public void Upload_and_download_round_trip_through_offset_views()
    {
        using var buffer = Backend.Allocate(300);
        foreach (int length in Lengths)
        {
            int offset = (length * 7 + 5) % (300 - length);
            float[] values = Normal(length, length);
            Backend.Upload(buffer.Slice(offset, length), values);
            AssertBitwise(values, Download(buffer.Slice(offset, length)), $"view [{offset}, +{length})");
            var all = Download(buffer);
            AssertBitwise(values, all.AsSpan(offset, length), "the viewed part of the buffer");
            // nothing outside the view changed: clear the view again and the whole buffer is zero
            Backend.Upload(buffer.Slice(offset, length), new float[length]);
            AssertBitwise(new float[300], Download(buffer), $"buffer after clearing view [{offset}, +{length})");
        }
        // a view of a view adds the offsets
        var inner = buffer.Slice(100, 50).Slice(7, 3);
        Assert.Equal(107, inner.Offset);
        Backend.Upload(inner, [1f, 2f, 3f]);
        AssertBitwise([0f, 1f, 2f, 3f, 0f], Download(buffer.Slice(106, 5)), "nested view");
    }

    [Fact]
    public void Upload_and_download_reject_a_length_mismatch_without_touching_the_buffer()
    {
        using var buffer = Writable([1f, 2f, 3f, 4f]);
        Assert.ThrowsAny<ArgumentException>(() => Backend.Upload(buffer.Slice(0, 3), new float[4]));
        Assert.ThrowsAny<ArgumentException>(() => Backend.Upload(buffer.All, new float[3]));
        Assert.ThrowsAny<ArgumentException>(() => Backend.Download(buffer.Slice(1, 2), new float[3]));
        Assert.ThrowsAny<ArgumentException>(() => Backend.Download(buffer.All, new float[5]));
        AssertBitwise([1f, 2f, 3f, 4f], Download(buffer), "buffer after the refused copies");
    }

    [Fact]
    public void An_uploaded_host_array_reads_back_and_is_read_only()
    {
        float[] host = Normal(1, 64);
        float[] original = (float[])host.Clone();
        using var input = Backend.Upload(host);
        Assert.Equal(64, input.Length);
        Assert.Same(Backend, input.Backend);
        AssertBitwise(original, Download(input), "uploaded host memory");
        AssertBitwise(original.AsSpan(5, 9), Download(input.Slice(5, 9)), "a view of uploaded host memory");

        using var writable = Writable(Normal(2, 64));
        using var linear = Backend.Allocate(64);
        var weight = Backend.BindLinear(Normal(3, 64), ReadOnlyMemory<float>.Empty, 8, 8);
        using var gamma = Writable(Normal(4, 8));
        using var beta = Writable(Normal(5, 8));
        using var mask = Writable(new float[16]);
        using var oneMask = Filled(16, 1f);
        // every operation that writes refuses the read-only input as its output
        Assert.ThrowsAny<ArgumentException>(() => Backend.Activate(input.All, ActivationKind.Relu));
        Assert.ThrowsAny<ArgumentException>(() => Backend.Linear(input.All, writable.All, weight, 8));
        Assert.ThrowsAny<ArgumentException>(() => Backend.LayerNorm(input.All, writable.All, DeviceSpan.Empty, gamma.All, beta.All, 8, 8, 1e-12f));
        Assert.ThrowsAny<ArgumentException>(() => Backend.Copy(input.All, 8, writable.All, 8, 8, 8));
        Assert.ThrowsAny<ArgumentException>(() => Backend.SplitHeads(input.All, writable.All, 1, 8, 2, 4));
        Assert.ThrowsAny<ArgumentException>(() => Backend.MergeHeads(input.All, writable.All, 1, 8, 2, 4));
        Assert.ThrowsAny<ArgumentException>(() => Backend.EmbeddingSum(input.Slice(0, 8), 8, writable.All, [0], DeviceSpan.Empty, 1f,
                                                                       writable.All, [0], writable.All, [0]));
        var full = new FullAttentionArgs { Batch = 1, Heads = 2, Seq = 8, HeadDim = 4, Keys = 8, KeyStride = 8, Mask = mask.Slice(0, 8), CausalOffset = -1 };
        Assert.ThrowsAny<ArgumentException>(() => Backend.FullAttention(input.All, writable.All, writable.All, writable.All, full));
        var sparse = new BlockSparseAttentionArgs
        {
            Batch = 1, Heads = 1, Seq = 16, HeadDim = 4, Plan = AttentionPlan.BlockSparse(4, 0, []), Mask = oneMask.All,
        };
        Assert.ThrowsAny<ArgumentException>(() => Backend.BlockSparseAttention(input.All, writable.All, writable.All, writable.All, sparse));
        AssertBitwise(original, host, "host memory behind the read-only input");
        AssertBitwise(original, Download(input), "the read-only input");
    }

    [Fact]
    public void Views_of_another_backends_buffer_are_refused()
    {
        var foreign = ForeignBackend.Instance;
        using var other = foreign.Allocate(64);
        using var mine = Writable(Normal(1, 64));
        using var out64 = Backend.Allocate(64);
        using var gamma = Writable(Normal(4, 8));
        using var beta = Writable(Normal(5, 8));
        using var mask = Writable(new float[8]);
        using var oneMask = Filled(16, 1f);
        Assert.Same(foreign, other.Backend);
        var weight = Backend.BindLinear(Normal(3, 64), ReadOnlyMemory<float>.Empty, 8, 8);

        Assert.ThrowsAny<ArgumentException>(() => Backend.Upload(other.All, new float[64]));
        Assert.ThrowsAny<ArgumentException>(() => Backend.Download(other.All, new float[64]));
        Assert.ThrowsAny<ArgumentException>(() => Backend.Activate(other.All, ActivationKind.Relu));
        Assert.ThrowsAny<ArgumentException>(() => Backend.Linear(out64.All, other.All, weight, 8));
        Assert.ThrowsAny<ArgumentException>(() => Backend.Linear(other.All, mine.All, weight, 8));
        // a Linear bound to another backend
        var foreignWeight = foreign.BindLinear(new float[64], ReadOnlyMemory<float>.Empty, 8, 8);
        Assert.ThrowsAny<ArgumentException>(() => Backend.Linear(out64.All, mine.All, foreignWeight, 8));
        Assert.ThrowsAny<ArgumentException>(() => Backend.LayerNorm(out64.All, mine.All, other.All, gamma.All, beta.All, 8, 8, 1e-12f));
        Assert.ThrowsAny<ArgumentException>(() => Backend.LayerNorm(out64.All, mine.All, DeviceSpan.Empty, other.Slice(0, 8), beta.All, 8, 8, 1e-12f));
        Assert.ThrowsAny<ArgumentException>(() => Backend.Copy(out64.All, 8, other.All, 8, 8, 8));
        Assert.ThrowsAny<ArgumentException>(() => Backend.SplitHeads(out64.All, other.All, 1, 8, 2, 4));
        Assert.ThrowsAny<ArgumentException>(() => Backend.EmbeddingSum(out64.Slice(0, 8), 8, other.All, [0], DeviceSpan.Empty, 1f,
                                                                       mine.All, [0], mine.All, [0]));
        var full = new FullAttentionArgs { Batch = 1, Heads = 2, Seq = 8, HeadDim = 4, Keys = 8, KeyStride = 8, Mask = mask.All, CausalOffset = -1 };
        Assert.ThrowsAny<ArgumentException>(() => Backend.FullAttention(out64.All, mine.All, other.All, mine.All, full));
        Assert.ThrowsAny<ArgumentException>(() => Backend.FullAttention(out64.All, mine.All, mine.All, mine.All, full with { Mask = other.Slice(0, 8) }));
        var sparse = new BlockSparseAttentionArgs
        {
            Batch = 1, Heads = 1, Seq = 16, HeadDim = 4, Plan = AttentionPlan.BlockSparse(4, 0, []), Mask = other.Slice(0, 16),
        };
        Assert.ThrowsAny<ArgumentException>(() => Backend.BlockSparseAttention(out64.All, mine.All, mine.All, mine.All, sparse));
        AssertBitwise(new float[64], Download(out64), "outputs after the refused calls");
    }

    [Fact]
    public void Device_spans_check_their_bounds()
    {
        using var buffer = Backend.Allocate(10);
        Assert.Throws<ArgumentOutOfRangeException>(() => new DeviceSpan(buffer, -1, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DeviceSpan(buffer, 5, 6));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DeviceSpan(buffer, 0, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DeviceSpan(buffer, int.MaxValue, 1));
        Assert.Throws<ArgumentNullException>(() => new DeviceSpan(null!, 0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => buffer.Slice(8, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => buffer.All.Slice(11));
        Assert.Throws<ArgumentOutOfRangeException>(() => buffer.Slice(2, 5).Slice(3, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => buffer.Slice(2, 5).Slice(-1, 1));

        var view = buffer.Slice(2, 5).Slice(3);
        Assert.Same(buffer, view.Buffer);
        Assert.Equal((5, 2), (view.Offset, view.Length));
        Assert.True(buffer.Slice(10, 0).IsEmpty);
        Assert.Equal(10, buffer.All.Length);

        var empty = DeviceSpan.Empty;
        Assert.True(empty.IsEmpty);
        Assert.Null(empty.Buffer);
        Assert.True(empty.Slice(0, 0).IsEmpty);
        Assert.Throws<ArgumentOutOfRangeException>(() => empty.Slice(0, 1));
    }

    [Fact]
    public void The_workspace_pool_gives_back_the_same_buffer_for_the_same_length()
    {
        // A pool of its own over the backend's allocator: the backend's shared pool may be full of other tests'
        // buffers (it is bounded), and then it frees a returned buffer instead of keeping it.
        Assert.NotNull(Backend.Workspace);
        var pool = new WorkspacePool(Backend.Allocate);
        const int length = 100_003, other = 100_019; // primes: no model shape rents them
        var first = pool.Rent(length);
        var second = pool.Rent(length);
        Assert.NotSame(first, second);
        Assert.Equal(length, first.Length);
        Assert.Same(Backend, first.Backend);
        Backend.Upload(first.Slice(0, 3), [1f, 2f, 3f]);
        pool.Return(first);
        var again = pool.Rent(length);
        Assert.Same(first, again);
        var different = pool.Rent(other);
        Assert.NotSame(first, different);
        Assert.Equal(other, different.Length);
        // a disposed buffer is not pooled again
        second.Dispose();
        pool.Return(second);
        var fresh = pool.Rent(length);
        Assert.NotSame(second, fresh);
        Assert.False(fresh.IsDisposed);
        foreach (var b in new[] { again, different, fresh }) pool.Return(b);
    }

    [Fact]
    public void A_disposed_buffer_cannot_be_used()
    {
        var buffer = Writable(Normal(1, 16));
        var view = buffer.Slice(4, 8);
        using var live = Backend.Allocate(16);
        buffer.Dispose();
        Assert.True(buffer.IsDisposed);
        buffer.Dispose(); // a second dispose does nothing
        Assert.Throws<ObjectDisposedException>(() => Backend.Upload(buffer.All, new float[16]));
        Assert.Throws<ObjectDisposedException>(() => Backend.Download(view, new float[8]));
        Assert.Throws<ObjectDisposedException>(() => Backend.Activate(view, ActivationKind.Tanh));
        Assert.Throws<ObjectDisposedException>(() => Backend.Copy(live.All, 16, buffer.All, 16, 1, 16));
        Assert.Throws<ObjectDisposedException>(() => Backend.Copy(buffer.All, 16, live.All, 16, 1, 16));
    }
}
