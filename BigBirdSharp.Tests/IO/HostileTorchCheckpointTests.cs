using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using BigBirdSharp.IO;

namespace BigBirdSharp.Tests.IO;

/// <summary>
/// pytorch_model.bin files built to cost time or memory: deflated storages that claim far more than they store and
/// are viewed by many tensors, pickles that build millions of values, and zip entries that lie about their sizes.
/// Each must either read correctly within bounded work or fail with <see cref="CheckpointFormatException"/>.
/// </summary>
public sealed class HostileTorchCheckpointTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>A torch zip whose storage records are deflated (torch.save stores them; a re-zipped file need not).</summary>
    internal static byte[] DeflatedZip(byte[] pickle, IDictionary<string, byte[]> storages)
    {
        var ms = new MemoryStream();
        using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
        {
            Add(zip, "archive/data.pkl", pickle, CompressionLevel.NoCompression);
            foreach (var (key, bytes) in storages)
                Add(zip, "archive/data/" + key, bytes, CompressionLevel.SmallestSize);
        }
        return ms.ToArray();
    }

    private static void Add(ZipArchive zip, string name, byte[] bytes, CompressionLevel level)
    {
        var entry = zip.CreateEntry(name, level);
        using var s = entry.Open();
        s.Write(bytes);
    }

    /// <summary>A state dict of several F32 views into storage '0' of <paramref name="numel"/> elements.</summary>
    private static byte[] Views(long numel, params (string Name, long Offset, long[] Size)[] views)
    {
        var p = new PickleBuilder().Proto().Op((byte)'}').Mark();
        foreach (var (name, offset, size) in views)
        {
            var stride = new long[size.Length];
            long acc = 1;
            for (int d = size.Length - 1; d >= 0; d--) { stride[d] = acc; acc *= size[d]; }
            p.Str(name).Tensor("0", numel, offset, size, stride);
        }
        return p.Op((byte)'u').Stop().ToArray();
    }

    private static byte[] Pattern(int floats)
    {
        var values = new float[floats];
        for (int i = 0; i < floats; i++) values[i] = i % 251;
        return SafeTensorsWriter.F32(values);
    }

    [Fact]
    public void A_deflated_storage_viewed_by_many_tensors_is_inflated_once_for_all_of_them()
    {
        const int numel = 1 << 20, views = 16, each = numel / views; // 4 MiB of storage, 16 views of 256 KiB
        var tiles = Enumerable.Range(0, views).Select(i => ($"w{i}", (long)i * each, new long[] { each })).ToArray();
        string path = _dir.Write("shared.bin", DeflatedZip(Views(numel, tiles), new Dictionary<string, byte[]> { ["0"] = Pattern(numel) }));

        using var reader = TorchCheckpointReader.Open(path);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = views - 1; i >= 0; i--) // last view first: the pass for it must serve all the others
        {
            var values = reader.ReadFloat32($"w{i}").Span;
            Assert.Equal(each, values.Length);
            for (int j = 0; j < each; j += 997) Assert.Equal((i * each + j) % 251, values[j]);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(4L * numel, reader.BytesInflated); // one pass over the storage, not one per view
        Assert.Equal(0, reader.BytesRetained);          // every kept view was handed out
        // the results (4 MiB) plus the kept views' bytes (4 MiB) and small change; inflating the storage once per view
        // would allocate 16 x 4 MiB
        Assert.True(allocated < 12L << 20, $"reading 16 views allocated {allocated} bytes");
    }

    [Fact]
    public void A_small_view_of_a_huge_deflated_storage_inflates_only_up_to_its_end()
    {
        const int numel = 16 << 20; // 64 MiB of zeros, about 64 KiB deflated
        string path = _dir.Write("bomb.bin", DeflatedZip(Views(numel, ("w", 8, [8])), new Dictionary<string, byte[]> { ["0"] = new byte[4L * numel] }));

        using var reader = TorchCheckpointReader.Open(path);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Equal(new float[8], reader.ReadFloat32("w").ToArray());
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(16 * 4, reader.BytesInflated);
        Assert.True(allocated < 4 << 20, $"reading 8 floats allocated {allocated} bytes");
    }

    [Fact]
    public void A_view_covering_a_whole_deflated_bomb_is_not_kept_when_a_small_view_is_read()
    {
        // The shape of a decompression bomb that looks legitimate: small tensors at the end of a storage of zeros, and a
        // junk tensor that covers all of it. Reading the small ones must not keep the junk one's bytes.
        const int numel = 4 << 20; // 16 MiB
        string path = _dir.Write("junk.bin", DeflatedZip(
            Views(numel, ("junk", 0, [numel]), ("a", numel - 8, [8]), ("b", numel - 16, [8]), ("c", numel - 24, [2, 4])),
            new Dictionary<string, byte[]> { ["0"] = new byte[4L * numel] }));

        using var reader = TorchCheckpointReader.Open(path, retainBudgetBytes: 1 << 20);
        Assert.Equal(new float[8], reader.ReadFloat32("a").ToArray());
        Assert.Equal(2 * 8 * 4, reader.BytesRetained); // b and c, not junk
        Assert.Equal(new float[8], reader.ReadFloat32("b").ToArray());
        Assert.Equal(new float[8], reader.ReadFloat32("c").ToArray());
        Assert.Equal(4L * numel, reader.BytesInflated); // one pass served all three
        Assert.Equal(0, reader.BytesRetained);
    }

    [Fact]
    public void Views_past_the_retention_budget_cost_another_pass_but_never_more_memory()
    {
        const int numel = 1 << 20, each = numel / 4; // four 1 MiB views of a 4 MiB storage, with a 1.5 MiB budget
        var tiles = Enumerable.Range(0, 4).Select(i => ($"w{i}", (long)i * each, new long[] { each })).ToArray();
        string path = _dir.Write("budget.bin", DeflatedZip(Views(numel, tiles), new Dictionary<string, byte[]> { ["0"] = Pattern(numel) }));

        using var reader = TorchCheckpointReader.Open(path, retainBudgetBytes: 3 << 19);
        long maxRetained = 0;
        foreach (int i in new[] { 3, 0, 1, 2 })
        {
            var values = reader.ReadFloat32($"w{i}").Span;
            for (int j = 0; j < each; j += 1009) Assert.Equal((i * each + j) % 251, values[j]);
            maxRetained = Math.Max(maxRetained, reader.BytesRetained);
        }
        Assert.True(maxRetained <= 3 << 19, $"kept {maxRetained} bytes");
        Assert.True(reader.BytesInflated > 4L * numel, "a second pass was needed for the views the budget left out");
        Assert.True(reader.BytesInflated <= 3 * 4L * numel, $"inflated {reader.BytesInflated} bytes");
    }

    [Fact]
    public void Strided_view_of_a_deflated_shared_storage_is_gathered_from_its_kept_bytes()
    {
        // w is the transpose of the 3x4 matrix at the start of the storage; v is the whole storage. Reading v first keeps
        // w's 48 bytes for it.
        var storage = SafeTensorsWriter.F32(Enumerable.Range(0, 1024).Select(i => (float)(i % 16)).ToArray());
        var pickle = new PickleBuilder().Proto().Op((byte)'}').Mark()
            .Str("v").Tensor("0", 1024, 0, [1024], [1])
            .Str("w").Tensor("0", 1024, 0, [4, 3], [1, 4])
            .Op((byte)'u').Stop().ToArray();
        string path = _dir.Write("t.bin", DeflatedZip(pickle, new Dictionary<string, byte[]> { ["0"] = storage }));
        using var reader = TorchCheckpointReader.Open(path);
        Assert.Equal(Enumerable.Range(0, 1024).Select(i => (float)(i % 16)), reader.ReadFloat32("v").ToArray());
        Assert.Equal(48, reader.BytesRetained);
        Assert.Equal(new float[] { 0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11 }, reader.ReadFloat32("w").ToArray());
        Assert.Equal(4096, reader.BytesInflated);
    }

    [Fact]
    public void A_pickle_of_millions_of_empty_dicts_is_refused_at_the_value_cap()
    {
        var pickle = new byte[2 + TorchPickleReader.MaxValues + 2];
        pickle[0] = 0x80;
        pickle[1] = 2;
        pickle.AsSpan(2, TorchPickleReader.MaxValues + 1).Fill((byte)'}');
        pickle[^1] = (byte)'.';
        string path = _dir.Write("dicts.bin", TorchZip.Build(pickle));

        var e = Assert.Throws<CheckpointFormatException>(() => TorchCheckpointReader.Open(path).Dispose());
        Assert.Equal(path, e.FilePath);
        Assert.Contains($"more than {TorchPickleReader.MaxValues} values", e.Message);
    }

    public static TheoryData<string, byte[]> Value_floods => new()
    {
        // EMPTY_DICT, EMPTY_LIST and EMPTY_TUPLE over and over
        { "dicts", Repeat("}", 200) },
        { "lists", Repeat("]", 200) },
        { "tuples", Repeat(")", 200) },
        // one list that grows by DUP + APPEND of itself: no new objects, but a reference per step
        { "self-append", [.. Encoding.ASCII.GetBytes("]"), .. Repeat("2a", 200)] },
        // one dict memoized under ever new indices
        { "memo", [.. Encoding.ASCII.GetBytes("}"), .. Enumerable.Range(0, 200).SelectMany(i => new byte[] { (byte)'r', (byte)i, 0, 0, 1 })] },
        // marks
        { "marks", Repeat("(", 200) },
        // one short string pushed again and again from the memo
        { "memo gets", [.. Encoding.ASCII.GetBytes("X\u0001\0\0\0aq\u0000"), .. Repeat("h\u0000", 200)] },
    };

    private static byte[] Repeat(string ops, int times) => Encoding.Latin1.GetBytes(string.Concat(Enumerable.Repeat(ops, times)));

    [Theory]
    [MemberData(nameof(Value_floods))]
    public void Pickles_that_flood_values_are_refused_at_the_cap(string kind, byte[] body)
    {
        byte[] pickle = [0x80, 2, .. body, (byte)'.'];
        var e = Assert.Throws<CheckpointFormatException>(() => TorchPickleReader.Load("x.bin", pickle, maxValues: 100));
        Assert.Equal("x.bin", e.FilePath);
        Assert.Contains("more than 100 values", e.Message);
        Assert.NotNull(kind);
    }

    [Fact]
    public void The_value_cap_admits_a_state_dict_that_needs_fewer_values()
    {
        var pickle = PickleBuilder.StateDict("w", "0", 4, 0, [4], [1]);
        Assert.IsType<PyDict>(TorchPickleReader.Load("x.bin", pickle, maxValues: 100));
        Assert.Throws<CheckpointFormatException>(() => TorchPickleReader.Load("x.bin", pickle, maxValues: 10));
    }

    [Fact]
    public void A_memo_index_near_four_billion_costs_nothing()
    {
        byte[] pickle = [0x80, 2, (byte)'}', (byte)'r', 0xff, 0xff, 0xff, 0xff, (byte)'.'];
        string path = _dir.Write("memo.bin", TorchZip.Build(pickle));
        using var reader = TorchCheckpointReader.Open(path);
        Assert.Empty(reader.Names);
    }

    [Fact]
    public void A_string_claiming_four_gigabytes_is_refused_without_allocating()
    {
        byte[] pickle = [0x80, 2, (byte)'X', 0xff, 0xff, 0xff, 0xff, (byte)'a', (byte)'.'];
        var e = Assert.Throws<CheckpointFormatException>(() => TorchPickleReader.Load("x.bin", pickle));
        Assert.Contains("runs past the end of the pickle", e.Message);
    }

    [Theory]
    [InlineData(new long[] { 1L << 40, 1L << 40 }, new long[] { 1, 1 })]   // element count overflows
    [InlineData(new long[] { 2, 2 }, new long[] { long.MaxValue, 1 })]      // reach overflows through a stride
    public void Shapes_and_strides_that_overflow_64_bits_are_refused(long[] size, long[] stride)
    {
        var pickle = PickleBuilder.StateDict("w", "0", 4, 0, size, stride);
        string path = _dir.Write("ovf.bin", TorchZip.Build(pickle, new Dictionary<string, byte[]> { ["0"] = new byte[16] }));
        var e = Assert.Throws<CheckpointFormatException>(() => TorchCheckpointReader.Open(path).Dispose());
        Assert.Contains("'w'", e.Message);
        Assert.Contains("overflow", e.Message);
    }

    [Fact]
    public void Storage_element_count_times_its_size_overflowing_is_refused()
    {
        var pickle = PickleBuilder.StateDict("w", "0", long.MaxValue / 2, 0, [1], [1]);
        string path = _dir.Write("numel.bin", TorchZip.Build(pickle, new Dictionary<string, byte[]> { ["0"] = new byte[4] }));
        var e = Assert.Throws<CheckpointFormatException>(() => TorchCheckpointReader.Open(path).Dispose());
        Assert.Contains("overflow", e.Message);
        Assert.Contains("storage '0'", e.Message);
    }

    /// <summary>Rewrites the uncompressed size an entry's local and central headers claim.</summary>
    private static void LieAboutSize(byte[] zip, string name, uint claimed)
    {
        var nameBytes = Encoding.ASCII.GetBytes(name);
        for (int i = 0; i + 46 < zip.Length; i++)
        {
            uint signature = BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(i));
            if (signature == 0x04034b50 && zip.AsSpan(i + 30, nameBytes.Length).SequenceEqual(nameBytes)
                && BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(i + 26)) == nameBytes.Length)
                BinaryPrimitives.WriteUInt32LittleEndian(zip.AsSpan(i + 22), claimed);
            if (signature == 0x02014b50 && zip.AsSpan(i + 46, nameBytes.Length).SequenceEqual(nameBytes)
                && BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(i + 28)) == nameBytes.Length)
                BinaryPrimitives.WriteUInt32LittleEndian(zip.AsSpan(i + 24), claimed);
        }
    }

    [Theory]
    [InlineData(60_000)]
    [InlineData(0)]
    public void An_end_record_that_lies_about_the_entry_count_is_refused(int claimed)
    {
        var zip = TorchZip.Build(PickleBuilder.StateDict("w", "0", 1, 0, [1], [1]), new Dictionary<string, byte[]> { ["0"] = new byte[4] });
        int end = zip.AsSpan().LastIndexOf(new byte[] { 0x50, 0x4b, 0x05, 0x06 });
        Assert.True(end >= 0);
        BinaryPrimitives.WriteUInt16LittleEndian(zip.AsSpan(end + 8), (ushort)claimed);  // entries on this disk
        BinaryPrimitives.WriteUInt16LittleEndian(zip.AsSpan(end + 10), (ushort)claimed); // entries in all
        string path = _dir.Write("count.bin", zip);
        var e = Assert.Throws<CheckpointFormatException>(() => TorchCheckpointReader.Open(path).Dispose());
        Assert.Equal(path, e.FilePath);
    }

    [Fact]
    public void A_deflated_entry_claiming_more_than_it_inflates_to_fails_when_read()
    {
        const int numel = 1024;
        var zip = DeflatedZip(Views(numel * 2, ("w", numel, [numel])), new Dictionary<string, byte[]> { ["0"] = Pattern(numel) });
        LieAboutSize(zip, "archive/data/0", numel * 2 * 4); // claims twice what the deflate stream holds
        string path = _dir.Write("liar.bin", zip);
        using var reader = TorchCheckpointReader.Open(path);
        var e = Assert.Throws<CheckpointFormatException>(() => reader.ReadFloat32("w"));
        Assert.Contains("archive/data/0", e.Message);
        Assert.Contains("cannot be read", e.Message);
    }

    [Fact]
    public void A_deflated_entry_claiming_more_than_deflate_can_expand_is_refused_at_open()
    {
        const int numel = 1024;
        var zip = DeflatedZip(Views(1 << 28, ("w", 0, [numel])), new Dictionary<string, byte[]> { ["0"] = new byte[numel * 4] });
        LieAboutSize(zip, "archive/data/0", 1u << 30); // 1 GiB from a few dozen bytes
        string path = _dir.Write("ratio.bin", zip);
        var e = Assert.Throws<CheckpointFormatException>(() => TorchCheckpointReader.Open(path).Dispose());
        Assert.Contains("archive/data/0", e.Message);
        Assert.Contains("corrupt", e.Message);
    }

    [Fact]
    public void A_deflated_pickle_claiming_more_than_deflate_can_expand_is_refused_before_allocating()
    {
        var ms = new MemoryStream();
        using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
            Add(zip, "archive/data.pkl", PickleBuilder.StateDict("w", "0", 1, 0, [1], [1]), CompressionLevel.SmallestSize);
        var bytes = ms.ToArray();
        LieAboutSize(bytes, "archive/data.pkl", 60u << 20);
        string path = _dir.Write("pkl.bin", bytes);
        var e = Assert.Throws<CheckpointFormatException>(() => TorchCheckpointReader.Open(path).Dispose());
        Assert.Contains("data.pkl", e.Message);
        Assert.Contains("corrupt", e.Message);
    }
}
