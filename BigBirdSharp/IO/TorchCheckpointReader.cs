using System.IO.Compression;

namespace BigBirdSharp.IO;

/// <summary>
/// Reads a <c>pytorch_model.bin</c> written by <c>torch.save</c> in the zip format (torch 1.6 and later):
/// <c>ARCHIVE/data.pkl</c> holds a pickled state dict and <c>ARCHIVE/data/KEY</c> holds each raw storage.
/// The pickle is interpreted by a restricted reader that imports and calls nothing: only torch's tensor
/// rebuild functions, torch storage types and <c>collections.OrderedDict</c> are recognised, as data.
/// Every tensor's storage, offset, sizes and strides are checked against the real zip entries when the
/// file is opened; strided tensors are copied into contiguous row-major order on read.
/// Legacy (pre-1.6, non-zip) torch files are refused.
/// </summary>
/// <remarks>This type is safe for concurrent reads.</remarks>
public sealed class TorchCheckpointReader : ITensorReader
{
    /// <summary>Largest <c>data.pkl</c> accepted, in bytes.</summary>
    public const long MaxPickleBytes = 64L * 1024 * 1024;

    // Deflate cannot expand data by more than about 1032:1; a larger claimed size is a lie.
    private const long MaxDeflateRatio = 1032;

    private readonly string _path;
    private readonly FileStream _stream;
    private readonly ZipArchive _zip;
    private readonly string _prefix;
    private readonly Dictionary<string, (TensorInfo Info, TorchTensor Tensor)> _tensors;
    private readonly string[] _names;
    private readonly Lock _gate = new();
    private bool _disposed;

    private TorchCheckpointReader(string path, FileStream stream, ZipArchive zip, string prefix,
        Dictionary<string, (TensorInfo, TorchTensor)> tensors, string[] names)
    {
        _path = path;
        _stream = stream;
        _zip = zip;
        _prefix = prefix;
        _tensors = tensors;
        _names = names;
    }

    /// <summary>
    /// Opens a torch zip checkpoint, interprets its pickle without executing anything, and validates every tensor.
    /// </summary>
    /// <param name="filePath">Path of the <c>.bin</c> / <c>.pt</c> file.</param>
    /// <exception cref="CheckpointFormatException">The file is missing, is a legacy (non-zip) torch file, is not a
    /// valid zip, lacks <c>data.pkl</c>, is big-endian, its pickle names a global outside the allowlist or uses an
    /// unsupported opcode, its top level is not a dict of tensors, a storage entry is missing or its size disagrees
    /// with the pickle, or a tensor's offset, sizes or strides are negative or reach outside its storage.</exception>
    public static TorchCheckpointReader Open(string filePath)
    {
        ArgumentNullException.ThrowIfNull(filePath);
        FileStream stream;
        try
        {
            stream = new FileStream(filePath, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointFormatException(filePath, $"cannot open the torch checkpoint: {e.Message}", e);
        }

        ZipArchive? zip = null;
        try
        {
            CheckMagic(filePath, stream);
            try
            {
                zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true);
            }
            catch (InvalidDataException e)
            {
                throw new CheckpointFormatException(filePath, $"not a readable zip archive: {e.Message}", e);
            }

            string prefix = FindPrefix(filePath, zip);
            var byteOrder = zip.GetEntry(prefix + "byteorder");
            if (byteOrder is not null)
            {
                string order = System.Text.Encoding.ASCII.GetString(ReadEntry(filePath, stream.Length, byteOrder, 16)).Trim();
                if (order != "little")
                    throw new CheckpointFormatException(filePath, $"storages are stored '{order}'-endian; only little-endian checkpoints are supported");
            }

            var pickleEntry = zip.GetEntry(prefix + "data.pkl")!;
            byte[] pickle = ReadEntry(filePath, stream.Length, pickleEntry, MaxPickleBytes);
            object root = TorchPickleReader.Load(filePath, pickle);
            var (tensors, names) = CollectTensors(filePath, stream.Length, zip, prefix, root);
            return new TorchCheckpointReader(filePath, stream, zip, prefix, tensors, names);
        }
        catch (Exception e)
        {
            zip?.Dispose();
            stream.Dispose();
            if (e is IOException or UnauthorizedAccessException)
                throw new CheckpointFormatException(filePath, $"cannot read the torch checkpoint: {e.Message}", e);
            throw;
        }
    }

    /// <summary>The file this reader reads.</summary>
    public string FilePath => _path;

    /// <summary>Every tensor name of the state dict, in pickle order.</summary>
    public IReadOnlyCollection<string> Names => _names;

    /// <summary>Looks up a tensor's dtype and shape; false when the name is absent.</summary>
    public bool TryGetInfo(string name, out TensorInfo info)
    {
        if (_tensors.TryGetValue(name, out var entry))
        {
            info = entry.Info;
            return true;
        }
        info = null!;
        return false;
    }

    /// <summary>
    /// Reads a tensor into a new contiguous row-major float32 array, widening F16 and BF16 exactly and
    /// gathering strided or offset views from their storage.
    /// </summary>
    /// <exception cref="KeyNotFoundException">No tensor has this name.</exception>
    /// <exception cref="CheckpointFormatException">The tensor's dtype is not F32, F16 or BF16, it has more than
    /// <see cref="int.MaxValue"/> elements, or its storage entry cannot be read.</exception>
    /// <exception cref="ObjectDisposedException">The reader was disposed.</exception>
    public ReadOnlyMemory<float> ReadFloat32(string name)
    {
        if (!_tensors.TryGetValue(name, out var entry))
            throw new KeyNotFoundException($"{_path}: no tensor named '{name}'");
        var (info, tensor) = entry;
        if (!FloatConversion.IsReadableAsFloat(info.DType))
            throw new CheckpointFormatException(_path, $"tensor '{name}' (shape {info.ShapeText}) has dtype {info.DType}, which cannot be read as float32; only F32, F16 and BF16 can");
        long count = info.ElementCount;
        if (count > int.MaxValue)
            throw new CheckpointFormatException(_path, $"tensor '{name}' (shape {info.ShapeText}) has {count} elements, more than one buffer can hold");

        int size = FloatConversion.SizeOf(info.DType);
        var result = new float[count];
        byte[] storage;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var zipEntry = _zip.GetEntry(_prefix + "data/" + tensor.Storage.Key)
                ?? throw new CheckpointFormatException(_path, $"storage record 'data/{tensor.Storage.Key}' of tensor '{name}' disappeared");
            if (info.DType == TensorDType.F32 && BitConverter.IsLittleEndian && count > 0 && tensor.StorageOffset == 0
                && zipEntry.Length == count * sizeof(float) && IsContiguous(tensor.Size, tensor.Stride))
            {
                // the tensor is its whole F32 storage: read it straight into the result, with no byte copy in between
                ReadEntryInto(_path, _stream.Length, zipEntry, System.Runtime.InteropServices.MemoryMarshal.AsBytes(result.AsSpan()));
                return result;
            }
            storage = ReadEntry(_path, _stream.Length, zipEntry, zipEntry.Length);
        }

        if (count == 0) return result;
        if (IsContiguous(tensor.Size, tensor.Stride))
        {
            FloatConversion.ToSingle(info.DType, storage.AsSpan((int)(tensor.StorageOffset * size), (int)count * size), result);
            return result;
        }

        // Odometer walk over the index space; every reachable index was bounds-checked at open time.
        int rank = tensor.Size.Length;
        var index = new long[rank];
        long source = tensor.StorageOffset;
        for (int i = 0; i < result.Length; i++)
        {
            FloatConversion.ToSingle(info.DType, storage.AsSpan((int)(source * size), size), result.AsSpan(i, 1));
            for (int d = rank - 1; d >= 0; d--)
            {
                if (++index[d] < tensor.Size[d])
                {
                    source += tensor.Stride[d];
                    break;
                }
                source -= (index[d] - 1) * tensor.Stride[d];
                index[d] = 0;
            }
        }
        return result;
    }

    /// <summary>Closes the file.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _zip.Dispose();
            _stream.Dispose();
        }
    }

    private static void CheckMagic(string path, FileStream stream)
    {
        Span<byte> head = stackalloc byte[4];
        int read = stream.ReadAtLeast(head, 4, throwOnEndOfStream: false);
        stream.Position = 0;
        if (read == 4 && head[0] == (byte)'P' && head[1] == (byte)'K' && head[2] is 3 or 5 && head[3] is 4 or 6)
            return;
        if (read >= 1 && head[0] == 0x80)
            throw new CheckpointFormatException(path, "this is a legacy (pre-1.6, non-zip) torch checkpoint, which is not supported; re-save it with torch >= 1.6 (torch.save with the default zip format) or convert it to safetensors with save_pretrained(..., safe_serialization=True)");
        throw new CheckpointFormatException(path, "not a torch zip checkpoint (no zip signature); expected a file written by torch.save with torch >= 1.6, or convert the model to safetensors");
    }

    private static string FindPrefix(string path, ZipArchive zip)
    {
        string? prefix = null;
        foreach (var entry in zip.Entries)
        {
            string name = entry.FullName;
            if (!name.EndsWith("/data.pkl", StringComparison.Ordinal)) continue;
            string candidate = name[..^"data.pkl".Length];
            if (candidate.IndexOf('/') != candidate.Length - 1) continue; // only ARCHIVE/data.pkl at depth one
            if (prefix is not null && prefix != candidate)
                throw new CheckpointFormatException(path, $"zip holds more than one data.pkl ('{prefix}data.pkl' and '{name}')");
            prefix = candidate;
        }
        return prefix ?? throw new CheckpointFormatException(path, "zip has no ARCHIVE/data.pkl entry; it is not a torch.save checkpoint");
    }

    /// <summary>
    /// Reads a whole zip entry after checking its claimed size against <paramref name="limit"/> and against what
    /// the file can really hold, so no allocation is made from an unchecked claim.
    /// </summary>
    private static byte[] ReadEntry(string path, long fileLength, ZipArchiveEntry entry, long limit)
    {
        long length = entry.Length;
        long compressed = entry.CompressedLength;
        if (length < 0 || length > limit || length > Array.MaxLength)
            throw new CheckpointFormatException(path, $"zip entry '{entry.FullName}' claims {length} bytes, more than the {Math.Min(limit, Array.MaxLength)} allowed here");
        if (compressed < 0 || compressed > fileLength || length > compressed * MaxDeflateRatio + 1024)
            throw new CheckpointFormatException(path, $"zip entry '{entry.FullName}' claims {length} bytes from {compressed} stored bytes in a {fileLength}-byte file; the archive is corrupt");
        var buffer = new byte[length];
        ReadEntryInto(path, fileLength, entry, buffer);
        return buffer;
    }

    /// <summary>Reads a zip entry of exactly <paramref name="destination"/>'s length into it, with <see cref="ReadEntry"/>'s checks.</summary>
    private static void ReadEntryInto(string path, long fileLength, ZipArchiveEntry entry, Span<byte> destination)
    {
        long length = entry.Length, compressed = entry.CompressedLength;
        if (length != destination.Length)
            throw new CheckpointFormatException(path, $"zip entry '{entry.FullName}' holds {length} bytes, expected {destination.Length}");
        if (compressed < 0 || compressed > fileLength || length > compressed * MaxDeflateRatio + 1024)
            throw new CheckpointFormatException(path, $"zip entry '{entry.FullName}' claims {length} bytes from {compressed} stored bytes in a {fileLength}-byte file; the archive is corrupt");
        try
        {
            using var s = entry.Open();
            s.ReadExactly(destination);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException)
        {
            throw new CheckpointFormatException(path, $"zip entry '{entry.FullName}' cannot be read: {e.Message}", e);
        }
    }

    private static (Dictionary<string, (TensorInfo, TorchTensor)>, string[]) CollectTensors(
        string path, long fileLength, ZipArchive zip, string prefix, object root)
    {
        if (root is not PyDict dict)
            throw new CheckpointFormatException(path, $"the pickled object is a {root.GetType().Name}, not a state dict (a dict of name -> tensor)");
        var tensors = new Dictionary<string, (TensorInfo, TorchTensor)>(StringComparer.Ordinal);
        var names = new List<string>();
        var storageLengths = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (keyObject, value) in dict.Items)
        {
            if (keyObject is not string name)
                throw new CheckpointFormatException(path, $"state dict key {TorchPickleReader.Describe(keyObject)} is not a string");
            if (value is not TorchTensor tensor)
                throw new CheckpointFormatException(path, $"state dict entry '{name}' is a {value.GetType().Name}, not a tensor");
            if (tensors.ContainsKey(name))
                throw new CheckpointFormatException(path, $"state dict has the key '{name}' twice");

            var storage = tensor.Storage;
            int elementSize = FloatConversion.SizeOf(storage.DType);
            if (!storageLengths.ContainsKey(storage.Key))
            {
                var entry = zip.GetEntry(prefix + "data/" + storage.Key)
                    ?? throw new CheckpointFormatException(path, $"tensor '{name}' uses storage '{storage.Key}', but the zip has no entry '{prefix}data/{storage.Key}'");
                long needed = storage.Numel > long.MaxValue / elementSize ? -1 : storage.Numel * elementSize;
                if (needed != entry.Length)
                    throw new CheckpointFormatException(path, $"tensor '{name}': storage '{storage.Key}' claims {storage.Numel} {storage.TypeName} elements ({(needed < 0 ? "overflow" : needed + " bytes")}) but its zip entry holds {entry.Length} bytes");
                if (entry.CompressedLength > fileLength)
                    throw new CheckpointFormatException(path, $"zip entry '{entry.FullName}' claims more stored bytes than the file has");
                storageLengths.Add(storage.Key, entry.Length);
            }

            CheckGeometry(path, name, tensor);
            tensors.Add(name, (new TensorInfo(name, storage.DType, (long[])tensor.Size.Clone(), path), tensor));
            names.Add(name);
        }
        return (tensors, names.ToArray());
    }

    private static void CheckGeometry(string path, string name, TorchTensor t)
    {
        string shape = "[" + string.Join(", ", t.Size) + "]";
        string stride = "[" + string.Join(", ", t.Stride) + "]";
        if (t.Size.Length != t.Stride.Length)
            throw new CheckpointFormatException(path, $"tensor '{name}': shape {shape} and stride {stride} have different ranks");
        if (t.StorageOffset < 0)
            throw new CheckpointFormatException(path, $"tensor '{name}': negative storage offset {t.StorageOffset}");
        foreach (var s in t.Size)
            if (s < 0) throw new CheckpointFormatException(path, $"tensor '{name}': shape {shape} has a negative size");
        foreach (var s in t.Stride)
            if (s < 0) throw new CheckpointFormatException(path, $"tensor '{name}': stride {stride} has a negative entry; negative strides are not supported");
        try
        {
            long count = 1;
            foreach (var s in t.Size) count = checked(count * s);
            if (count == 0) return;
            long last = t.StorageOffset;
            for (int d = 0; d < t.Size.Length; d++) last = checked(last + (t.Size[d] - 1) * t.Stride[d]);
            if (last >= t.Storage.Numel)
                throw new CheckpointFormatException(path, $"tensor '{name}': shape {shape}, stride {stride} and offset {t.StorageOffset} reach element {last}, outside its {t.Storage.Numel}-element storage '{t.Storage.Key}'");
        }
        catch (OverflowException)
        {
            throw new CheckpointFormatException(path, $"tensor '{name}': shape {shape}, stride {stride} and offset {t.StorageOffset} overflow a 64-bit index");
        }
    }

    private static bool IsContiguous(long[] size, long[] stride)
    {
        long expected = 1;
        for (int d = size.Length - 1; d >= 0; d--)
        {
            if (size[d] != 1 && stride[d] != expected) return false;
            expected *= size[d];
        }
        return true;
    }
}
