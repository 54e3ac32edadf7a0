using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace BigBirdSharp.Tests.IO;

/// <summary>FIFOs for the tests that prove a reader refuses one instead of blocking in open().</summary>
internal static class Fifos
{
    /// <summary>Makes a FIFO at <paramref name="path"/> with <c>mkfifo</c>.</summary>
    public static string Make(string path)
    {
        using var mkfifo = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("mkfifo", [path]) { UseShellExecute = false })!;
        mkfifo.WaitForExit();
        Assert.Equal(0, mkfifo.ExitCode);
        return path;
    }

    /// <summary>
    /// Runs <paramref name="open"/> on a worker and expects a <typeparamref name="TException"/> from it. Should the call
    /// block in open() on a FIFO, the FIFOs are opened for writing (and closed) to release it, and the test fails.
    /// </summary>
    public static TException RefusedWithoutBlocking<TException>(Action open, params string[] fifos) where TException : Exception
    {
        var task = Task.Run(open);
        if (!((IAsyncResult)task).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(30)))
        {
            foreach (var fifo in fifos)
                using (new FileStream(fifo, FileMode.Open, FileAccess.Write)) { }
            Assert.Fail("opening blocked on a FIFO instead of refusing it");
        }
        Assert.True(task.IsFaulted, "opening a path that is not a regular file succeeded");
        return Assert.IsType<TException>(Assert.Single(task.Exception!.InnerExceptions));
    }
}

/// <summary>A temporary folder deleted on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "bbs-io-" + Guid.NewGuid().ToString("N"));

    public TempDir() => Directory.CreateDirectory(Path);

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string Write(string name, byte[] bytes)
    {
        string path = File(name);
        System.IO.File.WriteAllBytes(path, bytes);
        return path;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>One tensor for the test-side safetensors writer.</summary>
internal sealed record StTensor(string Name, string DType, long[] Shape, byte[] Data);

/// <summary>A minimal, independent safetensors writer used only to build test files.</summary>
internal static class SafeTensorsWriter
{
    public static byte[] Build(IEnumerable<StTensor> tensors, IDictionary<string, string>? metadata = null, bool pad = true)
    {
        var header = new StringBuilder("{");
        var data = new MemoryStream();
        bool first = true;
        if (metadata is not null)
        {
            header.Append("\"__metadata__\":{");
            header.Append(string.Join(",", metadata.Select(kv => $"\"{kv.Key}\":\"{kv.Value}\"")));
            header.Append('}');
            first = false;
        }
        foreach (var t in tensors)
        {
            if (!first) header.Append(',');
            first = false;
            long begin = data.Length;
            data.Write(t.Data);
            header.Append($"\"{t.Name}\":{{\"dtype\":\"{t.DType}\",\"shape\":[{string.Join(",", t.Shape)}],\"data_offsets\":[{begin},{data.Length}]}}");
        }
        header.Append('}');
        return Raw(header.ToString(), data.ToArray(), pad);
    }

    /// <summary>Assembles a file from a literal header (spaces appended to a multiple of 8 when asked) and data.</summary>
    public static byte[] Raw(string header, byte[] data, bool pad = true)
    {
        var headerBytes = Encoding.UTF8.GetBytes(header);
        return Raw(headerBytes, data, pad);
    }

    public static byte[] Raw(byte[] headerBytes, byte[] data, bool pad = true)
    {
        int padding = pad ? (8 - headerBytes.Length % 8) % 8 : 0;
        var result = new byte[8 + headerBytes.Length + padding + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)(headerBytes.Length + padding));
        headerBytes.CopyTo(result, 8);
        result.AsSpan(8 + headerBytes.Length, padding).Fill((byte)' ');
        data.CopyTo(result, 8 + headerBytes.Length + padding);
        return result;
    }

    public static byte[] F32(params float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        return bytes;
    }

    public static byte[] U16(params ushort[] values)
    {
        var bytes = new byte[values.Length * 2];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(i * 2), values[i]);
        return bytes;
    }
}

/// <summary>Emits pickle opcodes by hand, to build hostile or unusual data.pkl programs.</summary>
internal sealed class PickleBuilder
{
    private readonly MemoryStream _out = new();

    public PickleBuilder Op(byte op) { _out.WriteByte(op); return this; }
    public PickleBuilder Proto(byte p = 2) => Op(0x80).Op(p);
    public PickleBuilder Global(string module, string name) { Op((byte)'c'); _out.Write(Encoding.ASCII.GetBytes(module + "\n" + name + "\n")); return this; }
    public PickleBuilder Str(string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        Op((byte)'X');
        Span<byte> len = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(len, b.Length);
        _out.Write(len);
        _out.Write(b);
        return this;
    }
    public PickleBuilder Int(long v)
    {
        if (v is >= 0 and < 256) return Op((byte)'K').Op((byte)v);
        Op(0x8a).Op(8);
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(b, v);
        _out.Write(b);
        return this;
    }
    public PickleBuilder Mark() => Op((byte)'(');
    public PickleBuilder Tuple() => Op((byte)'t');
    public PickleBuilder EmptyTuple() => Op((byte)')');
    public PickleBuilder Reduce() => Op((byte)'R');
    public PickleBuilder False() => Op(0x89);
    public PickleBuilder Stop() => Op((byte)'.');

    /// <summary>Pushes a rebuilt tensor: storage ('storage', torch.FloatStorage, key, 'cpu', numel) with the given geometry.</summary>
    public PickleBuilder Tensor(string key, long numel, long offset, long[] size, long[] stride, string storageType = "FloatStorage")
    {
        Global("torch._utils", "_rebuild_tensor_v2");
        Mark();
        Mark().Str("storage").Global("torch", storageType).Str(key).Str("cpu").Int(numel).Tuple().Op((byte)'Q');
        Int(offset);
        Mark(); foreach (var s in size) Int(s); Tuple();
        Mark(); foreach (var s in stride) Int(s); Tuple();
        False();
        Global("collections", "OrderedDict").EmptyTuple().Reduce();
        Tuple();
        return Reduce();
    }

    /// <summary>A whole state dict {name: tensor} with one tensor.</summary>
    public static byte[] StateDict(string name, string key, long numel, long offset, long[] size, long[] stride) =>
        new PickleBuilder().Proto().Op((byte)'}').Mark().Str(name).Tensor(key, numel, offset, size, stride).Op((byte)'u').Stop().ToArray();

    public byte[] ToArray() => _out.ToArray();
}

/// <summary>Builds torch-style zip checkpoints from a pickle and raw storage records.</summary>
internal static class TorchZip
{
    public static byte[] Build(byte[] pickle, IDictionary<string, byte[]>? storages = null, string archive = "archive")
    {
        var ms = new MemoryStream();
        using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
        {
            Add(zip, archive + "/data.pkl", pickle);
            foreach (var (key, bytes) in storages ?? new Dictionary<string, byte[]>())
                Add(zip, archive + "/data/" + key, bytes);
            Add(zip, archive + "/version", Encoding.ASCII.GetBytes("3\n"));
        }
        return ms.ToArray();
    }

    private static void Add(ZipArchive zip, string name, byte[] bytes)
    {
        var entry = zip.CreateEntry(name, CompressionLevel.NoCompression);
        using var s = entry.Open();
        s.Write(bytes);
    }
}

/// <summary>Locates the committed fixtures copied next to the test assembly.</summary>
internal static class TestData
{
    public static string Path(string name)
    {
        string path = System.IO.Path.Combine(AppContext.BaseDirectory, "IO", "Data", name);
        Assert.True(System.IO.File.Exists(path), $"test fixture {name} was not copied to the output folder");
        return path;
    }
}
