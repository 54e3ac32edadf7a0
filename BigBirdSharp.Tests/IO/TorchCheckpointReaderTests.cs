using System.Text;
using System.Text.Json;
using BigBirdSharp.IO;
using FsCheck;
using FsCheck.Xunit;

namespace BigBirdSharp.Tests.IO;

public sealed class TorchCheckpointReaderTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static float[] Arange(int n, Func<int, float> f) => Enumerable.Range(0, n).Select(f).ToArray();

    [Fact]
    public void Reads_every_tensor_of_a_real_torch_save_file()
    {
        using var reader = TorchCheckpointReader.Open(TestData.Path("small_model.bin"));
        Assert.Equal(["f32", "f16", "bf16", "transposed", "view", "tied.a", "tied.b", "ints"], reader.Names);

        void Check(string name, TensorDType dtype, long[] shape, float[] expected)
        {
            Assert.True(reader.TryGetInfo(name, out var info), name);
            Assert.Equal(dtype, info.DType);
            Assert.Equal(shape, info.Shape);
            Assert.Equal(expected, reader.ReadFloat32(name).ToArray());
        }

        Check("f32", TensorDType.F32, [3, 4], Arange(12, i => i / 4f - 1));
        Check("f16", TensorDType.F16, [2, 3], Arange(6, i => i * 0.5f - 1.25f));
        Check("bf16", TensorDType.BF16, [3, 2], Arange(6, i => i * 0.5f - 1.25f));
        // transpose of [[0,1,2],[3,4,5]], copied into row-major order
        Check("transposed", TensorDType.F32, [3, 2], [0, 3, 1, 4, 2, 5]);
        // elements 5..8 of arange(10) + 100 (storage offset 5)
        Check("view", TensorDType.F32, [4], [105, 106, 107, 108]);
        Check("tied.a", TensorDType.F32, [4], [0, -2, -4, -6]);
        Check("tied.b", TensorDType.F32, [4], [0, -2, -4, -6]);

        Assert.True(reader.TryGetInfo("ints", out var ints));
        Assert.Equal(TensorDType.I64, ints.DType);
        var e = Assert.Throws<CheckpointFormatException>(() => reader.ReadFloat32("ints"));
        Assert.Contains("ints", e.Message);
        Assert.Contains("I64", e.Message);
        Assert.Throws<KeyNotFoundException>(() => reader.ReadFloat32("absent"));
    }

    [Fact]
    public void Values_match_the_json_torch_wrote_alongside()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(TestData.Path("expected.json")));
        var readers = new Dictionary<string, TorchCheckpointReader>
        {
            [""] = TorchCheckpointReader.Open(TestData.Path("small_model.bin")),
            ["param"] = TorchCheckpointReader.Open(TestData.Path("parameter_model.bin")),
            ["linear."] = TorchCheckpointReader.Open(TestData.Path("linear_state.bin")),
        };
        try
        {
            int checkedCount = 0;
            foreach (var item in doc.RootElement.EnumerateObject())
            {
                string name = item.Name;
                var reader = name.StartsWith("linear.", StringComparison.Ordinal) ? readers["linear."]
                    : name == "weight" ? readers["param"] : readers[""];
                string key = name.StartsWith("linear.", StringComparison.Ordinal) ? name["linear.".Length..] : name;
                Assert.True(reader.TryGetInfo(key, out var info), key);
                Assert.Equal(item.Value.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()), info.Shape);
                if (info.DType == TensorDType.I64) continue;
                var expected = item.Value.GetProperty("values").EnumerateArray().Select(x => (float)x.GetDouble()).ToArray();
                Assert.Equal(expected, reader.ReadFloat32(key).ToArray());
                checkedCount++;
            }
            Assert.Equal(10, checkedCount);
        }
        finally
        {
            foreach (var r in readers.Values) r.Dispose();
        }
    }

    [Fact]
    public void Parameters_and_module_state_dicts_with_metadata_are_read()
    {
        using (var p = TorchCheckpointReader.Open(TestData.Path("parameter_model.bin")))
            Assert.Equal([0.5f, 1.5f, 2.5f, 3.5f], p.ReadFloat32("weight").ToArray());
        using var lin = TorchCheckpointReader.Open(TestData.Path("linear_state.bin"));
        Assert.Equal(["weight", "bias"], lin.Names);
        Assert.Equal(Arange(6, i => i / 8f), lin.ReadFloat32("weight").ToArray());
        Assert.Equal([-1f, 1f], lin.ReadFloat32("bias").ToArray());
    }

    // ---- hostile and malformed pickles ----

    private CheckpointFormatException Rejects(byte[] file, params string[] fragments)
    {
        string path = _dir.Write("pytorch_model.bin", file);
        var e = Assert.Throws<CheckpointFormatException>(() => TorchCheckpointReader.Open(path).Dispose());
        foreach (var f in fragments) Assert.Contains(f, e.Message, StringComparison.OrdinalIgnoreCase);
        return e;
    }

    private static byte[] Storage(int floats) => SafeTensorsWriter.F32(Arange(floats, i => i));

    [Fact]
    public void A_hand_built_valid_file_is_accepted()
    {
        // Proves the builder makes files the reader accepts, so the rejections below are about the one defect.
        var pickle = PickleBuilder.StateDict("w", "0", 6, 1, [2, 2], [1, 2]);
        string path = _dir.Write("ok.bin", TorchZip.Build(pickle, new Dictionary<string, byte[]> { ["0"] = Storage(6) }));
        using var reader = TorchCheckpointReader.Open(path);
        // element [i, j] = storage[1 + i + 2j]
        Assert.Equal([1f, 3f, 2f, 4f], reader.ReadFloat32("w").ToArray());
    }

    [Theory]
    [InlineData("os", "system")]
    [InlineData("posix", "system")]
    [InlineData("subprocess", "Popen")]
    public void Global_os_system_is_refused_and_nothing_runs(string module, string function)
    {
        string marker = _dir.File("pwned");
        var pickle = new PickleBuilder().Proto().Global(module, function)
            .Mark().Str($"touch '{marker}'").Tuple().Reduce().Stop().ToArray();
        Rejects(TorchZip.Build(pickle), $"{module}.{function}", "refusing global");
        Assert.False(File.Exists(marker));
    }

    [Theory]
    [InlineData("builtins", "eval")]
    [InlineData("__builtin__", "exec")]
    [InlineData("builtins", "getattr")]
    [InlineData("torch", "load")]
    [InlineData("torch._utils", "_rebuild_from_type_v2")]
    public void Other_dangerous_globals_are_refused(string module, string function)
    {
        var pickle = new PickleBuilder().Proto().Global(module, function)
            .Mark().Str("print(1)").Tuple().Reduce().Stop().ToArray();
        Rejects(TorchZip.Build(pickle), $"{module}.{function}");
    }

    [Fact]
    public void Stack_global_is_checked_against_the_allowlist_too()
    {
        string marker = _dir.File("pwned2");
        var pickle = new PickleBuilder().Proto(4);
        pickle.Op(0x8c).Op(2).Op((byte)'o').Op((byte)'s');                      // SHORT_BINUNICODE "os"
        pickle.Op(0x8c).Op(6); foreach (var c in "system") pickle.Op((byte)c);   // SHORT_BINUNICODE "system"
        pickle.Op(0x93).Mark().Str($"touch '{marker}'").Tuple().Reduce().Stop();
        Rejects(TorchZip.Build(pickle.ToArray()), "os.system");
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public void Object_building_opcodes_are_refused()
    {
        // NEWOBJ on an allowed class token is still refused: only REDUCE on the rebuild functions is interpreted.
        var pickle = new PickleBuilder().Proto().Global("collections", "OrderedDict").EmptyTuple().Op(0x81).Stop().ToArray();
        Rejects(TorchZip.Build(pickle), "unsupported pickle opcode 0x81");
    }

    [Fact]
    public void Persistent_id_pointing_at_a_missing_entry()
    {
        var pickle = PickleBuilder.StateDict("w", "7", 4, 0, [4], [1]);
        Rejects(TorchZip.Build(pickle, new Dictionary<string, byte[]> { ["0"] = Storage(4) }), "'w'", "storage '7'", "no entry");
    }

    [Fact]
    public void Storage_numel_larger_than_its_entry()
    {
        var pickle = PickleBuilder.StateDict("w", "0", 1000, 0, [1000], [1]);
        Rejects(TorchZip.Build(pickle, new Dictionary<string, byte[]> { ["0"] = Storage(4) }), "'w'", "1000", "holds 16 bytes");
    }

    [Fact]
    public void Huge_claimed_storage_is_refused_without_allocating()
    {
        var pickle = PickleBuilder.StateDict("w", "0", 1L << 62, 0, [1L << 31, 1L << 31], [1L << 31, 1]);
        var before = GC.GetTotalAllocatedBytes(precise: true);
        Rejects(TorchZip.Build(pickle, new Dictionary<string, byte[]> { ["0"] = Storage(4) }), "'w'", "4611686018427387904");
        Assert.True(GC.GetTotalAllocatedBytes(precise: true) - before < 64L * 1024 * 1024);
    }

    [Fact]
    public void View_reaching_past_its_storage()
    {
        var pickle = PickleBuilder.StateDict("w", "0", 4, 2, [3], [1]);
        Rejects(TorchZip.Build(pickle, new Dictionary<string, byte[]> { ["0"] = Storage(4) }), "'w'", "outside its 4-element storage");
    }

    [Fact]
    public void Negative_stride_is_refused()
    {
        var pickle = PickleBuilder.StateDict("w", "0", 4, 3, [4], [-1]);
        Rejects(TorchZip.Build(pickle, new Dictionary<string, byte[]> { ["0"] = Storage(4) }), "'w'", "negative");
    }

    [Fact]
    public void Negative_storage_offset_is_refused()
    {
        var pickle = PickleBuilder.StateDict("w", "0", 4, -1, [2], [1]);
        Rejects(TorchZip.Build(pickle, new Dictionary<string, byte[]> { ["0"] = Storage(4) }), "'w'", "negative storage offset");
    }

    [Fact]
    public void Stride_and_shape_ranks_must_agree()
    {
        var pickle = PickleBuilder.StateDict("w", "0", 4, 0, [2, 2], [1]);
        Rejects(TorchZip.Build(pickle, new Dictionary<string, byte[]> { ["0"] = Storage(4) }), "'w'", "different ranks");
    }

    [Fact]
    public void Deeply_nested_persistent_id_fails_cleanly_without_stack_overflow()
    {
        var pickle = new PickleBuilder().Proto().Int(0);
        for (int i = 0; i < 1_000_000; i++) pickle.Op(0x85); // TUPLE1, a million levels deep
        pickle.Op((byte)'Q').Stop();
        Rejects(TorchZip.Build(pickle.ToArray()), "persistent id", "tuple of 1");
    }

    [Fact]
    public void Truncated_pickle() =>
        Rejects(TorchZip.Build(PickleBuilder.StateDict("w", "0", 4, 0, [4], [1])[..^5], new Dictionary<string, byte[]> { ["0"] = Storage(4) }), "data.pkl");

    [Fact]
    public void Top_level_that_is_not_a_dict() =>
        Rejects(TorchZip.Build(new PickleBuilder().Proto().Int(5).Stop().ToArray()), "not a state dict");

    [Fact]
    public void Zip_without_data_pkl()
    {
        var ms = new MemoryStream();
        using (var zip = new System.IO.Compression.ZipArchive(ms, System.IO.Compression.ZipArchiveMode.Create, true))
            zip.CreateEntry("something/else.txt");
        Rejects(ms.ToArray(), "no ARCHIVE/data.pkl");
    }

    [Fact]
    public void Legacy_non_zip_torch_file_gets_a_clear_message()
    {
        // Legacy torch.save output starts with a protocol-2 pickle of a magic number.
        byte[] legacy = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e];
        Rejects(legacy, "legacy", "torch >= 1.6", "safetensors");
    }

    [Fact]
    public void Random_bytes_are_not_a_checkpoint() => Rejects(Encoding.ASCII.GetBytes("hello world, not a model"), "no zip signature");

    [Fact]
    public void Big_endian_byteorder_record_is_refused()
    {
        var pickle = PickleBuilder.StateDict("w", "0", 4, 0, [4], [1]);
        var storages = new Dictionary<string, byte[]> { ["0"] = Storage(4) };
        var ms = new MemoryStream();
        ms.Write(TorchZip.Build(pickle, storages));
        using (var zip = new System.IO.Compression.ZipArchive(ms, System.IO.Compression.ZipArchiveMode.Update, true))
        {
            using var s = zip.CreateEntry("archive/byteorder").Open();
            s.Write(Encoding.ASCII.GetBytes("big"));
        }
        Rejects(ms.ToArray(), "big", "little-endian");
    }

    [Property(MaxTest = 300)]
    public void Truncated_or_bit_flipped_torch_files_only_raise_CheckpointFormatException(NonNegativeInt position, byte mask, bool truncate)
    {
        var bytes = File.ReadAllBytes(TestData.Path("small_model.bin"));
        int at = position.Get % bytes.Length;
        if (truncate) bytes = bytes[..at];
        else bytes[at] ^= mask == 0 ? (byte)0x10 : mask;

        using var dir = new TempDir();
        string path = dir.Write("m.bin", bytes);
        try
        {
            using var reader = TorchCheckpointReader.Open(path);
            foreach (var name in reader.Names)
            {
                try { _ = reader.ReadFloat32(name).ToArray(); }
                catch (CheckpointFormatException) { }
            }
        }
        catch (CheckpointFormatException)
        {
        }
    }
}
