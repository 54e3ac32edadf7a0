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
internal sealed class TorchCheckpointReader : ITensorReader
{
    /// <summary>Largest <c>data.pkl</c> accepted, in bytes.</summary>
    public const long MaxPickleBytes = 64L * 1024 * 1024;

    // Deflate cannot expand data by more than about 1032:1; a larger claimed size is a lie.
    private const long MaxDeflateRatio = 1032;

    /// <summary>
    /// Most bytes of other tensors' data held back from one inflation pass over a deflated storage, for the reads that
    /// will ask for them. A deflated storage can only be read from its start, so one pass serves every view it can;
    /// views past this budget cost another pass when read, and the memory never exceeds it, whatever the file claims.
    /// </summary>
    internal const long DefaultRetainBudgetBytes = 256L * 1024 * 1024;

    private readonly string _path;
    private readonly FileStream _stream;
    private readonly ZipArchive _zip;
    private readonly Dictionary<string, TensorRecord> _tensors;
    private readonly string[] _names;
    private readonly Lock _gate = new();
    private readonly long _retainBudget;
    private long _retained;
    private long _inflated;
    private bool _disposed;

    /// <summary>One storage record (zip entry <c>data/KEY</c>) and the tensors that view it.</summary>
    private sealed class StorageRecord(TorchStorage storage, ZipArchiveEntry entry, int elementSize)
    {
        public TorchStorage Storage { get; } = storage;
        public ZipArchiveEntry Entry { get; } = entry;
        public int ElementSize { get; } = elementSize;
        public List<TensorRecord> Views { get; } = [];

        /// <summary>The entry is deflated: a few stored bytes can claim gigabytes, and it can only be read from its start.</summary>
        public bool Compressed => Entry.Length > Entry.CompressedLength;
    }

    /// <summary>One tensor: its metadata, its view geometry, the storage it views, and the bytes of it that it spans.</summary>
    private sealed class TensorRecord(TensorInfo info, TorchTensor tensor, StorageRecord storage, long count, long endElement)
    {
        public TensorInfo Info { get; } = info;
        public TorchTensor Tensor { get; } = tensor;
        public StorageRecord Storage { get; } = storage;
        public long Count { get; } = count;

        /// <summary>First byte of the storage the view reads.</summary>
        public long StartByte => Tensor.StorageOffset * Storage.ElementSize;

        /// <summary>Bytes from <see cref="StartByte"/> to one past the last element the view reaches (0 when empty).</summary>
        public long SpanBytes { get; } = count == 0 ? 0 : (endElement - tensor.StorageOffset) * storage.ElementSize;

        public bool Read { get; set; }

        /// <summary>This view's <see cref="SpanBytes"/>, kept from a pass over its deflated storage made for another view.</summary>
        public byte[]? Retained { get; set; }
    }

    private TorchCheckpointReader(string path, FileStream stream, ZipArchive zip,
        Dictionary<string, TensorRecord> tensors, string[] names, long retainBudget)
    {
        _retainBudget = retainBudget;
        _path = path;
        _stream = stream;
        _zip = zip;
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
    public static TorchCheckpointReader Open(string filePath) => Open(filePath, DefaultRetainBudgetBytes);

    /// <summary><see cref="Open(string)"/> with another budget for the views one inflation pass keeps (tests use small ones).</summary>
    internal static TorchCheckpointReader Open(string filePath, long retainBudgetBytes)
    {
        ArgumentNullException.ThrowIfNull(filePath);
        FileStream stream = RegularFile.OpenRead(filePath, "torch checkpoint");

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
            return new TorchCheckpointReader(filePath, stream, zip, tensors, names, retainBudgetBytes);
        }
        catch (Exception e)
        {
            zip?.Dispose();
            stream.Dispose();
            if (e is IOException or UnauthorizedAccessException)
                throw new CheckpointFormatException(filePath, $"cannot read the torch checkpoint: {e.Message}", e);
            if (e is InvalidDataException) // the central directory is read lazily, on the first look at the entries
                throw new CheckpointFormatException(filePath, $"not a readable zip archive: {e.Message}", e);
            throw;
        }
    }

    /// <summary>The file this reader reads.</summary>
    public string FilePath => _path;

    /// <summary>Bytes pulled out of deflated storage entries so far (what inflation cost), for tests.</summary>
    internal long BytesInflated
    {
        get { lock (_gate) return _inflated; }
    }

    /// <summary>Bytes of views currently kept from an inflation pass for later reads, for tests.</summary>
    internal long BytesRetained
    {
        get { lock (_gate) return _retained; }
    }

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
    /// gathering strided or offset views from their storage. Only the bytes of the storage up to the view's end are
    /// read; a deflated storage that several tensors view is inflated once and shared until all of them are read.
    /// </summary>
    /// <exception cref="KeyNotFoundException">No tensor has this name.</exception>
    /// <exception cref="CheckpointFormatException">The tensor's dtype is not F32, F16 or BF16, it has more than
    /// <see cref="int.MaxValue"/> elements or spans more bytes than one buffer can hold, or its storage entry cannot
    /// be read.</exception>
    /// <exception cref="ObjectDisposedException">The reader was disposed.</exception>
    public ReadOnlyMemory<float> ReadFloat32(string name)
    {
        if (!_tensors.TryGetValue(name, out var record))
            throw new KeyNotFoundException($"{_path}: no tensor named '{name}'");
        var info = record.Info;
        var tensor = record.Tensor;
        if (!FloatConversion.IsReadableAsFloat(info.DType))
            throw new CheckpointFormatException(_path, $"tensor '{name}' (shape {info.ShapeText}) has dtype {info.DType}, which cannot be read as float32; only F32, F16 and BF16 can");
        long count = info.ElementCount;
        if (count > int.MaxValue)
            throw new CheckpointFormatException(_path, $"tensor '{name}' (shape {info.ShapeText}) has {count} elements, more than one buffer can hold");

        var storage = record.Storage;
        int size = storage.ElementSize;
        long spanBytes = record.SpanBytes;
        bool contiguous = IsContiguous(tensor.Size, tensor.Stride);
        if (spanBytes > Array.MaxLength || count * sizeof(float) > Array.MaxLength)
            throw new CheckpointFormatException(_path, $"tensor '{name}' (shape {info.ShapeText}, stride [{string.Join(", ", tensor.Stride)}]) spans {spanBytes} bytes of storage '{storage.Storage.Key}', more than one buffer can hold");
        var result = new float[count];
        byte[] bytes;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            record.Read = true;
            if (count == 0) return result;
            if (record.Retained is { } retained)
            {
                bytes = retained;
                record.Retained = null;
                _retained -= retained.Length;
            }
            else if (storage.Compressed && storage.Views.Exists(v => v != record && !v.Read && v.Retained is null && v.SpanBytes > 0))
            {
                bytes = InflationPass(record);
            }
            else if (contiguous && info.DType == TensorDType.F32 && BitConverter.IsLittleEndian)
            {
                // the bytes are the result: read them straight into it, with no copy in between
                ReadRange(storage.Entry, record.StartByte, System.Runtime.InteropServices.MemoryMarshal.AsBytes(result.AsSpan()));
                return result;
            }
            else
            {
                bytes = new byte[spanBytes];
                ReadRange(storage.Entry, record.StartByte, bytes);
            }
        }

        ReadOnlySpan<byte> data = bytes;
        if (contiguous)
        {
            FloatConversion.ToSingle(info.DType, data[..((int)count * size)], result);
            return result;
        }

        // Odometer walk over the index space; every reachable index was bounds-checked at open time.
        int rank = tensor.Size.Length;
        var index = new long[rank];
        long source = 0;
        for (int i = 0; i < result.Length; i++)
        {
            FloatConversion.ToSingle(info.DType, data.Slice((int)(source * size), size), result.AsSpan(i, 1));
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

    /// <summary>
    /// Inflates a deflated storage once, from its start to the furthest byte needed, and returns the bytes of
    /// <paramref name="record"/>'s view. On the way it keeps the bytes of other unread views of the same storage, smallest
    /// first, within the retention budget (<see cref="DefaultRetainBudgetBytes"/>, less what is already kept), so that their reads need no pass of their
    /// own; a view that would not fit is left for a later pass. Called under the lock.
    /// </summary>
    private byte[] InflationPass(TensorRecord record)
    {
        var chosen = new List<TensorRecord> { record };
        long budget = _retainBudget - _retained;
        var others = record.Storage.Views.FindAll(v => v != record && !v.Read && v.Retained is null && v.SpanBytes > 0);
        others.Sort((a, b) => a.SpanBytes.CompareTo(b.SpanBytes));
        foreach (var view in others)
        {
            if (view.SpanBytes > budget) break;
            budget -= view.SpanBytes;
            chosen.Add(view);
        }
        chosen.Sort((a, b) => a.StartByte.CompareTo(b.StartByte));

        var buffers = new Dictionary<TensorRecord, byte[]>(chosen.Count);
        long end = 0;
        foreach (var view in chosen)
        {
            buffers.Add(view, new byte[view.SpanBytes]);
            end = Math.Max(end, view.StartByte + view.SpanBytes);
        }

        var entry = record.Storage.Entry;
        CheckEntrySize(_path, _stream.Length, entry);
        var scratch = System.Buffers.ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            using var stream = entry.Open();
            var active = new List<TensorRecord>();
            int next = 0;
            for (long position = 0; position < end;)
            {
                int read = stream.Read(scratch, 0, (int)Math.Min(scratch.Length, end - position));
                if (read <= 0) throw new EndOfStreamException($"the entry ended at byte {position}, before byte {end}");
                long chunkEnd = position + read;
                while (next < chosen.Count && chosen[next].StartByte < chunkEnd) active.Add(chosen[next++]);
                for (int i = active.Count - 1; i >= 0; i--)
                {
                    var view = active[i];
                    long viewEnd = view.StartByte + view.SpanBytes;
                    long from = Math.Max(position, view.StartByte), to = Math.Min(chunkEnd, viewEnd);
                    if (to > from)
                        scratch.AsSpan((int)(from - position), (int)(to - from)).CopyTo(buffers[view].AsSpan((int)(from - view.StartByte)));
                    if (viewEnd <= chunkEnd) active.RemoveAt(i);
                }
                position = chunkEnd;
            }
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException)
        {
            throw new CheckpointFormatException(_path, $"zip entry '{entry.FullName}' cannot be read: {e.Message}", e);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(scratch);
        }

        _inflated += end;
        foreach (var (view, buffer) in buffers)
        {
            if (view == record) continue;
            view.Retained = buffer;
            _retained += buffer.Length;
        }
        return buffers[record];
    }

    /// <summary>Closes the file.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var record in _tensors.Values) record.Retained = null;
            _retained = 0;
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
        if (length < 0 || length > limit || length > Array.MaxLength)
            throw new CheckpointFormatException(path, $"zip entry '{entry.FullName}' claims {length} bytes, more than the {Math.Min(limit, Array.MaxLength)} allowed here");
        CheckEntrySize(path, fileLength, entry);
        var buffer = new byte[length];
        ReadEntryInto(path, fileLength, entry, buffer);
        return buffer;
    }

    /// <summary>Reads a zip entry of exactly <paramref name="destination"/>'s length into it, with <see cref="ReadEntry"/>'s checks.</summary>
    private static void ReadEntryInto(string path, long fileLength, ZipArchiveEntry entry, Span<byte> destination)
    {
        if (entry.Length != destination.Length)
            throw new CheckpointFormatException(path, $"zip entry '{entry.FullName}' holds {entry.Length} bytes, expected {destination.Length}");
        ReadRange(path, fileLength, entry, 0, destination);
    }

    /// <summary>
    /// Reads bytes [<paramref name="start"/>, start + destination length) of a zip entry, inflating (and discarding)
    /// only what comes before them and nothing after.
    /// </summary>
    private void ReadRange(ZipArchiveEntry entry, long start, Span<byte> destination)
    {
        ReadRange(_path, _stream.Length, entry, start, destination);
        if (entry.Length > entry.CompressedLength) _inflated += start + destination.Length;
    }

    /// <summary>Refuses an entry whose claimed size no deflate stream of its stored size could produce.</summary>
    private static void CheckEntrySize(string path, long fileLength, ZipArchiveEntry entry)
    {
        long length = entry.Length, compressed = entry.CompressedLength;
        if (length < 0 || compressed < 0 || compressed > fileLength || length > compressed * MaxDeflateRatio + 1024)
            throw new CheckpointFormatException(path, $"zip entry '{entry.FullName}' claims {length} bytes from {compressed} stored bytes in a {fileLength}-byte file; the archive is corrupt");
    }

    private static void ReadRange(string path, long fileLength, ZipArchiveEntry entry, long start, Span<byte> destination)
    {
        CheckEntrySize(path, fileLength, entry);
        long length = entry.Length;
        if (start < 0 || start > length - destination.Length)
            throw new CheckpointFormatException(path, $"bytes [{start}, {start + destination.Length}) are outside zip entry '{entry.FullName}' of {length} bytes");
        byte[]? scratch = null;
        try
        {
            using var s = entry.Open();
            if (start > 0)
            {
                scratch = System.Buffers.ArrayPool<byte>.Shared.Rent(64 * 1024);
                for (long left = start; left > 0;)
                {
                    int read = s.Read(scratch, 0, (int)Math.Min(left, scratch.Length));
                    if (read <= 0) throw new EndOfStreamException($"the entry ended {left} bytes before offset {start}");
                    left -= read;
                }
            }
            s.ReadExactly(destination);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException)
        {
            throw new CheckpointFormatException(path, $"zip entry '{entry.FullName}' cannot be read: {e.Message}", e);
        }
        finally
        {
            if (scratch is not null) System.Buffers.ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    private static (Dictionary<string, TensorRecord>, string[]) CollectTensors(
        string path, long fileLength, ZipArchive zip, string prefix, object root)
    {
        if (root is not PyDict dict)
            throw new CheckpointFormatException(path, $"the pickled object is a {root.GetType().Name}, not a state dict (a dict of name -> tensor)");
        var tensors = new Dictionary<string, TensorRecord>(StringComparer.Ordinal);
        var names = new List<string>();
        var storages = new Dictionary<string, StorageRecord>(StringComparer.Ordinal);
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
            if (!storages.TryGetValue(storage.Key, out var record))
            {
                var entry = zip.GetEntry(prefix + "data/" + storage.Key)
                    ?? throw new CheckpointFormatException(path, $"tensor '{name}' uses storage '{storage.Key}', but the zip has no entry '{prefix}data/{storage.Key}'");
                long needed = storage.Numel > long.MaxValue / elementSize ? -1 : storage.Numel * elementSize;
                if (needed != entry.Length)
                    throw new CheckpointFormatException(path, $"tensor '{name}': storage '{storage.Key}' claims {storage.Numel} {storage.TypeName} elements ({(needed < 0 ? "overflow" : needed + " bytes")}) but its zip entry holds {entry.Length} bytes");
                CheckEntrySize(path, fileLength, entry);
                record = new StorageRecord(storage, entry, elementSize);
                storages.Add(storage.Key, record);
            }

            var (count, end) = CheckGeometry(path, name, tensor);
            var view = new TensorRecord(new TensorInfo(name, storage.DType, (long[])tensor.Size.Clone(), path), tensor, record, count, end);
            record.Views.Add(view);
            tensors.Add(name, view);
            names.Add(name);
        }
        return (tensors, names.ToArray());
    }

    /// <summary>Checks a view against its storage; returns its element count and one past the last element it reaches.</summary>
    private static (long Count, long End) CheckGeometry(string path, string name, TorchTensor t)
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
            if (count == 0) return (0, t.StorageOffset); // an empty view reads nothing, wherever it points (as in torch)
            long last = t.StorageOffset;
            for (int d = 0; d < t.Size.Length; d++) last = checked(last + (t.Size[d] - 1) * t.Stride[d]);
            if (last >= t.Storage.Numel)
                throw new CheckpointFormatException(path, $"tensor '{name}': shape {shape}, stride {stride} and offset {t.StorageOffset} reach element {last}, outside its {t.Storage.Numel}-element storage '{t.Storage.Key}'");
            return (count, last + 1);
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
