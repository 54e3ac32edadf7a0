using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using BigBirdSharp.IO;
using FsCheck;
using FsCheck.Xunit;
using static BigBirdSharp.Tests.IO.SafeTensorsWriter;

namespace BigBirdSharp.Tests.IO;

public sealed class SafeTensorsReaderTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private SafeTensorsReader OpenBytes(byte[] bytes) => new(_dir.Write("t.safetensors", bytes));

    private CheckpointFormatException Rejects(byte[] bytes, params string[] fragments)
    {
        var e = Assert.Throws<CheckpointFormatException>(() => OpenBytes(bytes).Dispose());
        foreach (var f in fragments) Assert.Contains(f, e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(_dir.File("t.safetensors"), e.FilePath);
        return e;
    }

    private static string Header(string body) => "{" + body + "}";

    [Fact]
    public void F32_round_trips_exactly_and_is_a_zero_copy_view()
    {
        float[] values = [0f, -1.5f, 3.25f, float.MaxValue, float.Epsilon, -0f, float.PositiveInfinity, 1e-30f];
        var bytes = Build([new StTensor("w", "F32", [2, 4], F32(values)), new StTensor("b", "F32", [3], F32(7f, 8f, 9f))],
            new Dictionary<string, string> { ["format"] = "pt" });
        using var reader = OpenBytes(bytes);

        Assert.Equal(["w", "b"], reader.Names);
        Assert.True(reader.TryGetInfo("w", out var info));
        Assert.Equal(TensorDType.F32, info.DType);
        Assert.Equal([2L, 4L], info.Shape);
        Assert.Equal("pt", reader.Metadata["format"]);

        var w = reader.ReadFloat32("w");
        Assert.Equal(values.Select(BitConverter.SingleToInt32Bits), w.ToArray().Select(BitConverter.SingleToInt32Bits));
        Assert.True(MemoryMarshal.TryGetMemoryManager<float, MemoryManager<float>>(w, out _), "F32 data should be served from the mapping, not copied");
        Assert.Equal([7f, 8f, 9f], reader.ReadFloat32("b").ToArray());
        Assert.False(reader.TryGetInfo("missing", out _));
        Assert.Throws<KeyNotFoundException>(() => reader.ReadFloat32("missing"));
    }

    [Property(MaxTest = 100)]
    public bool Random_F32_tensors_round_trip_bit_exactly(float[][] tensors)
    {
        var list = tensors.Where(t => t is not null).Select((t, i) => new StTensor("t" + i, "F32", [t.Length], F32(t))).ToList();
        using var dir = new TempDir();
        using var reader = new SafeTensorsReader(dir.Write("r.safetensors", Build(list)));
        for (int i = 0; i < list.Count; i++)
        {
            var expected = tensors.Where(t => t is not null).ElementAt(i);
            var got = reader.ReadFloat32("t" + i).Span;
            if (got.Length != expected.Length) return false;
            for (int j = 0; j < got.Length; j++)
                if (BitConverter.SingleToInt32Bits(got[j]) != BitConverter.SingleToInt32Bits(expected[j])) return false;
        }
        return reader.Names.Count == list.Count;
    }

    [Fact]
    public void Unaligned_F32_data_is_read_correctly()
    {
        // No padding and an odd-length header: the data starts at an address that is not a multiple of 4.
        var bytes = Raw("{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", F32(1f, -2f, 0.5f), pad: false);
        Assert.NotEqual(0, (bytes.Length - 12) % 4);
        using var reader = OpenBytes(bytes);
        Assert.Equal([1f, -2f, 0.5f], reader.ReadFloat32("x").ToArray());
    }

    [Fact]
    public void F16_is_widened_to_the_exact_float()
    {
        // Bit patterns and their exact binary16 values, worked out by hand.
        ushort[] bits = [0x3C00, 0xC000, 0x7BFF, 0x0001, 0x3555, 0x8000, 0x7C00, 0x0400];
        float[] expected = [1f, -2f, 65504f, 5.9604645e-8f, 0.333251953125f, -0f, float.PositiveInfinity, 6.1035156e-5f];
        using var reader = OpenBytes(Build([new StTensor("h", "F16", [8], U16(bits))]));
        Assert.True(reader.TryGetInfo("h", out var info));
        Assert.Equal(TensorDType.F16, info.DType);
        var got = reader.ReadFloat32("h").ToArray();
        Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), got.Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public void BF16_is_widened_to_the_exact_float()
    {
        ushort[] bits = [0x3F80, 0x4049, 0xC2F7, 0x0001, 0x7F80, 0x8000];
        float[] expected = [1f, 3.140625f, -123.5f, 9.18355e-41f, float.PositiveInfinity, -0f];
        using var reader = OpenBytes(Build([new StTensor("b", "BF16", [2, 3], U16(bits))]));
        var got = reader.ReadFloat32("b").ToArray();
        Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), got.Select(BitConverter.SingleToInt32Bits));
    }

    [Property(MaxTest = 200)]
    public bool F16_matches_System_Half_for_any_bit_pattern(ushort a, ushort b)
    {
        using var dir = new TempDir();
        using var reader = new SafeTensorsReader(dir.Write("h.safetensors", Build([new StTensor("h", "F16", [2], U16(a, b))])));
        var got = reader.ReadFloat32("h").ToArray();
        float ra = (float)BitConverter.UInt16BitsToHalf(a), rb = (float)BitConverter.UInt16BitsToHalf(b);
        return (float.IsNaN(ra) ? float.IsNaN(got[0]) : BitConverter.SingleToInt32Bits(got[0]) == BitConverter.SingleToInt32Bits(ra))
            && (float.IsNaN(rb) ? float.IsNaN(got[1]) : BitConverter.SingleToInt32Bits(got[1]) == BitConverter.SingleToInt32Bits(rb));
    }

    [Property(MaxTest = 200)]
    public bool BF16_equals_float_truncated_to_its_upper_16_bits(float value)
    {
        int full = BitConverter.SingleToInt32Bits(value);
        ushort top = (ushort)((uint)full >> 16);
        using var dir = new TempDir();
        using var reader = new SafeTensorsReader(dir.Write("b.safetensors", Build([new StTensor("b", "BF16", [1], U16(top))])));
        int got = BitConverter.SingleToInt32Bits(reader.ReadFloat32("b").Span[0]);
        return got == (int)(full & 0xFFFF0000);
    }

    [Fact]
    public void Non_float_dtypes_are_listed_but_not_readable_as_float()
    {
        var bytes = Build([
            new StTensor("ids", "I64", [2], new byte[16]),
            new StTensor("mask", "BOOL", [3], new byte[3]),
            new StTensor("u", "U32", [1], new byte[4]),
        ]);
        using var reader = OpenBytes(bytes);
        Assert.True(reader.TryGetInfo("ids", out var info));
        Assert.Equal(TensorDType.I64, info.DType);
        Assert.True(reader.TryGetInfo("mask", out var mask));
        Assert.Equal(TensorDType.Bool, mask.DType);
        var e = Assert.Throws<CheckpointFormatException>(() => reader.ReadFloat32("ids"));
        Assert.Contains("ids", e.Message);
        Assert.Contains("I64", e.Message);
        Assert.Equal("U32", reader.UnsupportedTensors["u"]);
        Assert.DoesNotContain("u", reader.Names);
        var u = Assert.Throws<CheckpointFormatException>(() => reader.ReadFloat32("u"));
        Assert.Contains("U32", u.Message);
    }

    [Fact]
    public void Empty_header_and_empty_tensors_are_valid()
    {
        using (var reader = OpenBytes(Raw("{}", [])))
            Assert.Empty(reader.Names);
        using (var reader = OpenBytes(Build([new StTensor("z", "F32", [0, 5], []), new StTensor("s", "F32", [], F32(4f))])))
        {
            Assert.Equal(0, reader.ReadFloat32("z").Length);
            Assert.Equal([4f], reader.ReadFloat32("s").ToArray());
        }
    }

    [Fact]
    public void Keys_out_of_offset_order_are_accepted()
    {
        var header = Header("\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}");
        using var reader = OpenBytes(Raw(header, F32(1f, 2f)));
        Assert.Equal([1f], reader.ReadFloat32("a").ToArray());
        Assert.Equal([2f], reader.ReadFloat32("b").ToArray());
    }

    [Fact]
    public void Reading_after_dispose_throws_ObjectDisposed()
    {
        var reader = OpenBytes(Build([new StTensor("a", "F32", [1], F32(1f))]));
        reader.Dispose();
        Assert.Throws<ObjectDisposedException>(() => reader.ReadFloat32("a"));
    }

    // ---- one test per malformed-file rule ----

    [Fact]
    public void Missing_file() =>
        Assert.Throws<CheckpointFormatException>(() => new SafeTensorsReader(_dir.File("nope.safetensors")));

    [Fact]
    public void File_shorter_than_the_length_prefix() => Rejects([1, 2, 3], "too short");

    [Fact]
    public void Header_longer_than_the_file()
    {
        var bytes = new byte[8 + 10];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 1000);
        Rejects(bytes, "header length 1000", "past the end");
    }

    [Fact]
    public void Header_claiming_2_pow_62_bytes()
    {
        var bytes = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 1UL << 62);
        Rejects(bytes, "limit");
    }

    [Fact]
    public void Header_over_the_100MB_cap_is_refused_even_if_the_file_were_large()
    {
        var bytes = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 100_000_001);
        Rejects(bytes, "100000000");
    }

    [Fact]
    public void Header_not_UTF8() => Rejects(Raw([(byte)'{', 0xFF, 0xFE, (byte)'}'], []), "UTF-8");

    [Fact]
    public void Header_not_JSON() => Rejects(Raw("{\"a\": [1, 2", []), "not valid JSON");

    [Fact]
    public void Header_not_an_object() => Rejects(Raw("[1, 2, 3]", []), "object");

    [Fact]
    public void Unknown_dtype() =>
        Rejects(Raw(Header("\"w\":{\"dtype\":\"F24\",\"shape\":[1],\"data_offsets\":[0,3]}"), new byte[3]), "unknown dtype", "F24", "'w'");

    [Fact]
    public void Negative_shape_entry() =>
        Rejects(Raw(Header("\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}"), new byte[4]), "shape entry -1", "'w'");

    [Fact]
    public void Fractional_shape_entry() =>
        Rejects(Raw(Header("\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}"), new byte[4]), "shape entry 1.5");

    [Fact]
    public void Missing_data_offsets() =>
        Rejects(Raw(Header("\"w\":{\"dtype\":\"F32\",\"shape\":[1]}"), new byte[4]), "data_offsets");

    [Fact]
    public void Shape_disagrees_with_offsets() =>
        Rejects(Raw(Header("\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}"), new byte[20]), "'w'", "[2, 3]", "24 bytes", "span 20");

    [Fact]
    public void Shape_product_overflows() =>
        Rejects(Raw(Header("\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}"), []), "overflow", "'w'");

    [Fact]
    public void Element_count_times_dtype_size_overflows() =>
        Rejects(Raw(Header("\"w\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]}"), []), "overflow");

    [Fact]
    public void Overlapping_offsets() =>
        Rejects(Raw(Header(
            "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}," +
            "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}"), new byte[12]), "'b'", "overlaps");

    [Fact]
    public void Gap_between_tensors() =>
        Rejects(Raw(Header(
            "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}," +
            "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}"), new byte[12]), "'b'", "gap");

    [Fact]
    public void Offsets_not_starting_at_zero() =>
        Rejects(Raw(Header("\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}"), new byte[8]), "'a'", "gap", "expected begin 0");

    [Fact]
    public void Begin_after_end() =>
        Rejects(Raw(Header("\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}"), new byte[8]), "'a'", "after end");

    [Fact]
    public void Trailing_bytes_after_the_last_tensor()
    {
        var good = Build([new StTensor("a", "F32", [1], F32(1f))]);
        Rejects([.. good, 0, 0, 0, 0], "cover 4 bytes", "buffer is 8 bytes");
    }

    [Fact]
    public void Data_missing_at_the_end_of_the_file()
    {
        var good = Build([new StTensor("a", "F32", [2], F32(1f, 2f))]);
        Rejects(good[..^3], "'a'", "past the end", "truncated");
    }

    [Fact]
    public void Duplicate_tensor_key() =>
        Rejects(Raw(Header(
            "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}," +
            "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}"), new byte[8]), "'a' twice");

    [Fact]
    public void Metadata_with_non_string_value() =>
        Rejects(Raw("{\"__metadata__\":{\"n\":1}}", []), "__metadata__", "'n'");

    // ---- robustness ----

    private static readonly byte[] FuzzSeed = Build([
        new StTensor("a", "F32", [2, 2], F32(1f, 2f, 3f, 4f)),
        new StTensor("b", "F16", [3], U16(0x3C00, 0x4000, 0x4200)),
        new StTensor("c", "BF16", [1], U16(0x3F80)),
        new StTensor("d", "I64", [1], new byte[8]),
    ], new Dictionary<string, string> { ["format"] = "pt" });

    [Property(MaxTest = 400)]
    public void Truncated_or_bit_flipped_files_only_ever_raise_CheckpointFormatException(NonNegativeInt position, byte mask, bool truncate)
    {
        var bytes = (byte[])FuzzSeed.Clone();
        int at = position.Get % bytes.Length;
        if (truncate) bytes = bytes[..at];
        else bytes[at] ^= mask == 0 ? (byte)1 : mask;

        using var dir = new TempDir();
        string path = dir.Write("f.safetensors", bytes);
        try
        {
            using var reader = new SafeTensorsReader(path);
            foreach (var name in reader.Names)
            {
                try
                {
                    _ = reader.ReadFloat32(name).ToArray();
                }
                catch (CheckpointFormatException)
                {
                    // a flipped dtype may make a tensor unreadable as float; that is the typed error
                }
            }
        }
        catch (CheckpointFormatException)
        {
        }
    }

    [Fact]
    public void Valid_fuzz_seed_reads_back()
    {
        using var reader = OpenBytes(FuzzSeed);
        Assert.Equal([1f, 2f, 3f], reader.ReadFloat32("b").ToArray());
        Assert.Equal(Encoding.ASCII.GetBytes("pt"), Encoding.ASCII.GetBytes(reader.Metadata["format"]));
    }
}
