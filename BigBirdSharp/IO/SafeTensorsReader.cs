using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Text;
using System.Text.Json;

namespace BigBirdSharp.IO;

/// <summary>
/// Reads one <c>.safetensors</c> file: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
/// describing every tensor, then the raw little-endian data buffer.
/// The whole header is validated when the reader is constructed, with the same rules as the reference
/// (Rust) implementation, and the file is memory-mapped; F32 tensors are handed out without copying.
/// </summary>
/// <remarks>
/// F32 views returned by <see cref="ReadFloat32"/> point into the mapping and are valid only while this
/// reader is not disposed. They may be unaligned (nothing in the format requires the header to pad the
/// data to 4 bytes); unaligned float access is legal on x64 and arm64.
/// This type is safe for concurrent reads.
/// </remarks>
internal sealed unsafe class SafeTensorsReader : ITensorReader
{
    /// <summary>Largest header the reader accepts, in bytes (the reference implementation's cap).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>Most dimensions a tensor may have; no model weight comes near it, and a hostile shape list cannot balloon.</summary>
    public const int MaxRank = 64;


    private readonly string _path;
    private readonly Dictionary<string, Entry> _entries;
    private readonly Dictionary<string, string> _unsupported = new(StringComparer.Ordinal);
    private readonly string[] _names;
    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private readonly Microsoft.Win32.SafeHandles.SafeFileHandle _handle;
    private readonly byte* _base;
    private readonly long _dataStart;
    private int _disposed;

    private readonly record struct Entry(TensorInfo Info, long Begin, long End);

    private readonly record struct RawEntry(string Name, string DType, long[] Shape, long Begin, long End);

    /// <summary>
    /// Opens, validates and memory-maps a safetensors file.
    /// </summary>
    /// <param name="filePath">Path of the <c>.safetensors</c> file.</param>
    /// <exception cref="CheckpointFormatException">
    /// The file is missing, truncated, has a header that is too long, not UTF-8, not a JSON object, or
    /// has duplicate keys; a tensor has an unknown dtype, a bad shape, or offsets that overlap, leave
    /// gaps, disagree with its shape, or do not cover the data buffer exactly.
    /// </exception>
    public SafeTensorsReader(string filePath)
    {
        ArgumentNullException.ThrowIfNull(filePath);
        _path = filePath;
        if (!BitConverter.IsLittleEndian)
            throw new CheckpointFormatException(filePath, "safetensors data is little-endian; this reader needs a little-endian machine");

        FileStream stream = RegularFile.OpenRead(filePath, "safetensors file");

        try
        {
            long fileLength = stream.Length;
            long headerLength = ReadHeaderLength(stream, fileLength);
            byte[] header = new byte[headerLength]; // bounded by MaxHeaderBytes and by the real file length
            stream.ReadExactly(header);
            var raw = ParseHeader(header);
            long dataLength = fileLength - 8 - headerLength;
            _entries = Validate(raw, dataLength, out _names);
            _dataStart = 8 + headerLength;
            _handle = stream.SafeFileHandle; // kept open by the mapping; positional reads for the copies

            _file = MemoryMappedFile.CreateFromFile(stream, mapName: null, capacity: 0,
                MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
        }
        catch (CheckpointFormatException)
        {
            stream.Dispose();
            throw;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stream.Dispose();
            throw new CheckpointFormatException(filePath, $"cannot read the safetensors file: {e.Message}", e);
        }

        try
        {
            _view = _file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            _base = pointer + _view.PointerOffset;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _view?.Dispose();
            _file.Dispose();
            throw new CheckpointFormatException(filePath, $"cannot memory-map the safetensors file: {e.Message}", e);
        }
    }

    /// <summary>The file this reader maps.</summary>
    public string FilePath => _path;

    /// <summary>The free-form <c>__metadata__</c> string map of the header (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; private set; } = new Dictionary<string, string>();

    /// <summary>
    /// Tensors whose dtype is valid safetensors but has no <see cref="TensorDType"/> (U16, U32, U64, F8 kinds),
    /// mapped to the dtype text. They are validated, not listed in <see cref="Names"/>, and
    /// <see cref="ReadFloat32"/> on them throws <see cref="CheckpointFormatException"/>.
    /// </summary>
    public IReadOnlyDictionary<string, string> UnsupportedTensors => _unsupported;

    /// <summary>Every readable tensor name, in data-offset order.</summary>
    public IReadOnlyCollection<string> Names => _names;

    /// <summary>Looks up a tensor's dtype and shape; false when the name is absent.</summary>
    public bool TryGetInfo(string name, out TensorInfo info)
    {
        if (_entries.TryGetValue(name, out var entry))
        {
            info = entry.Info;
            return true;
        }
        info = null!;
        return false;
    }

    /// <summary>
    /// Returns the tensor as float32 in row-major order: F32 as a zero-copy view of the mapping,
    /// F16 and BF16 widened exactly into a new array.
    /// </summary>
    /// <exception cref="KeyNotFoundException">No tensor has this name.</exception>
    /// <exception cref="CheckpointFormatException">The tensor's dtype is not F32, F16 or BF16, or it has more than
    /// <see cref="int.MaxValue"/> elements.</exception>
    /// <exception cref="ObjectDisposedException">The reader was disposed.</exception>
    public ReadOnlyMemory<float> ReadFloat32(string name)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (!_entries.TryGetValue(name, out var entry))
        {
            if (_unsupported.TryGetValue(name, out var dtypeText))
                throw new CheckpointFormatException(_path, $"tensor '{name}' has dtype {dtypeText}, which cannot be read as float32");
            throw new KeyNotFoundException($"{_path}: no tensor named '{name}'");
        }

        var info = entry.Info;
        if (!FloatConversion.IsReadableAsFloat(info.DType))
            throw new CheckpointFormatException(_path, $"tensor '{name}' (shape {info.ShapeText}) has dtype {info.DType}, which cannot be read as float32; only F32, F16 and BF16 can");
        long count = info.ElementCount;
        if (count > int.MaxValue)
            throw new CheckpointFormatException(_path, $"tensor '{name}' (shape {info.ShapeText}) has {count} elements, more than one buffer can hold");

        if (info.DType == TensorDType.F32)
            return new MappedFloatMemory(_base + _dataStart + entry.Begin, (int)count, _view.SafeMemoryMappedViewHandle).Memory;
        return ReadConverted(entry, (int)count);
    }

    /// <summary>
    /// The tensor as a new float32 array, read with positional file reads instead of through the mapping, so the mapped
    /// pages stay out of the process (F16 and BF16 are widened from the bytes read).
    /// </summary>
    /// <exception cref="KeyNotFoundException">No tensor has this name.</exception>
    /// <exception cref="CheckpointFormatException">The dtype cannot be read as float32, or the file cannot be read.</exception>
    /// <exception cref="ObjectDisposedException">The reader was disposed.</exception>
    public float[] ReadFloat32Copy(string name)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var tensor = ReadFloat32(name); // validates the name, the dtype and the size
        if (!_entries.TryGetValue(name, out var entry) || entry.Info.DType != TensorDType.F32)
            return System.Runtime.InteropServices.MemoryMarshal.TryGetArray(tensor, out var segment) ? segment.Array! : tensor.ToArray();
        var result = new float[tensor.Length];
        ReadAt(entry.Begin, System.Runtime.InteropServices.MemoryMarshal.AsBytes(result.AsSpan()));
        return result;
    }

    private float[] ReadConverted(Entry entry, int count)
    {
        var result = new float[count];
        var bytes = new byte[checked((int)(entry.End - entry.Begin))];
        ReadAt(entry.Begin, bytes);
        FloatConversion.ToSingle(entry.Info.DType, bytes, result);
        return result;
    }

    /// <summary>Fills <paramref name="destination"/> from the data buffer at <paramref name="begin"/> (already validated against the file).</summary>
    private void ReadAt(long begin, Span<byte> destination)
    {
        try
        {
            long offset = _dataStart + begin;
            while (!destination.IsEmpty)
            {
                int read = RandomAccess.Read(_handle, destination, offset);
                if (read <= 0) throw new EndOfStreamException($"the file ended {destination.Length} bytes early");
                destination = destination[read..];
                offset += read;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointFormatException(_path, $"cannot read the safetensors file: {e.Message}", e);
        }
    }

    /// <summary>Unmaps the file. Memory returned for F32 tensors must not be used afterwards.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
    }

    private long ReadHeaderLength(FileStream stream, long fileLength)
    {
        if (fileLength < 8)
            throw new CheckpointFormatException(_path, $"file is {fileLength} bytes, too short to hold the 8-byte header length");
        Span<byte> prefix = stackalloc byte[8];
        stream.ReadExactly(prefix);
        ulong claimed = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (claimed > MaxHeaderBytes)
            throw new CheckpointFormatException(_path, $"header length {claimed} bytes is larger than the {MaxHeaderBytes}-byte limit; the file is corrupt or not safetensors");
        if ((long)claimed > fileLength - 8)
            throw new CheckpointFormatException(_path, $"header length {claimed} bytes runs past the end of the file ({fileLength} bytes); the file is truncated or not safetensors");
        return (long)claimed;
    }

    /// <summary>
    /// Parses the header with a forward-only reader: a 100 MB header of a million tiny entries costs its entries and
    /// nothing more (a JSON document would add a token table several times the header's size, and be slow to build).
    /// </summary>
    private List<RawEntry> ParseHeader(byte[] header)
    {
        if (!System.Text.Unicode.Utf8.IsValid(header))
            throw new CheckpointFormatException(_path, "header is not valid UTF-8");

        var options = new JsonReaderOptions { MaxDepth = 16 };
        try
        {
            // syntax first, so malformed JSON is reported as such wherever its fault lies; this pass allocates nothing
            var syntax = new Utf8JsonReader(header, options);
            while (syntax.Read()) { }
            long bad = JsonStrings.FirstUndecodable(header, options);
            if (bad >= 0) throw new CheckpointFormatException(_path, JsonStrings.Describe(bad));
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException(_path, $"header is not valid JSON: {e.Message}", e);
        }

        var reader = new Utf8JsonReader(header, options);
        try
        {
            Next(ref reader);
            if (reader.TokenType != JsonTokenType.StartObject)
                throw new CheckpointFormatException(_path, $"header must be a JSON object, found {JsonStrings.Kind(reader.TokenType)}");

            var seen = new HashSet<string>(StringComparer.Ordinal);
            var entries = new List<RawEntry>();
            while (Next(ref reader) == JsonTokenType.PropertyName)
            {
                string name = reader.GetString()!;
                if (!seen.Add(name))
                    throw new CheckpointFormatException(_path, $"header has the key '{name}' twice");
                Next(ref reader);
                if (name == "__metadata__")
                    Metadata = ParseMetadata(ref reader);
                else
                    entries.Add(ParseTensor(name, ref reader));
            }
            if (reader.Read()) // content after the object: the reader throws for it, this is a backstop
                throw new CheckpointFormatException(_path, "header has content after its JSON object");
            return entries;
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException(_path, $"header is not valid JSON: {e.Message}", e);
        }
    }

    /// <summary>Advances to the next token; running out of tokens inside the header is malformed JSON.</summary>
    private static JsonTokenType Next(ref Utf8JsonReader reader)
    {
        if (!reader.Read()) throw new JsonException("the header ends before its JSON value is complete");
        return reader.TokenType;
    }


    private Dictionary<string, string> ParseMetadata(ref Utf8JsonReader reader)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (reader.TokenType == JsonTokenType.Null) return result;
        if (reader.TokenType != JsonTokenType.StartObject)
            throw new CheckpointFormatException(_path, $"__metadata__ must be an object of strings, found {JsonStrings.Kind(reader.TokenType)}");
        while (Next(ref reader) == JsonTokenType.PropertyName)
        {
            string key = reader.GetString()!;
            if (Next(ref reader) != JsonTokenType.String)
                throw new CheckpointFormatException(_path, $"__metadata__ value for '{key}' must be a string, found {JsonStrings.Kind(reader.TokenType)}");
            if (!result.TryAdd(key, reader.GetString()!))
                throw new CheckpointFormatException(_path, $"__metadata__ has the key '{key}' twice");
        }
        return result;
    }

    private RawEntry ParseTensor(string name, ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
            throw new CheckpointFormatException(_path, $"tensor '{name}': entry must be an object with dtype, shape and data_offsets, found {JsonStrings.Kind(reader.TokenType)}");

        string? dtype = null;
        long[]? dims = null;
        long[]? offsets = null;
        bool badOffsets = false, badShape = false, badDType = false;
        int known = 0; // dtype, shape, data_offsets seen, as bits; other keys are rare and go in a set
        HashSet<string>? others = null;
        while (Next(ref reader) == JsonTokenType.PropertyName)
        {
            string field = reader.GetString()!;
            int bit = field switch { "dtype" => 1, "shape" => 2, "data_offsets" => 4, _ => 0 };
            if (bit != 0 ? (known & bit) != 0 : !(others ??= new HashSet<string>(StringComparer.Ordinal)).Add(field))
                throw new CheckpointFormatException(_path, $"tensor '{name}': key '{field}' appears twice");
            known |= bit;
            Next(ref reader);
            switch (field)
            {
                case "dtype":
                    if (reader.TokenType == JsonTokenType.String) dtype = reader.GetString();
                    else badDType = true;
                    break;
                case "shape":
                    if (reader.TokenType == JsonTokenType.StartArray) dims = ReadIntegers(ref reader, name, "shape entry", MaxRank, "shape");
                    else badShape = true;
                    break;
                case "data_offsets":
                    if (reader.TokenType == JsonTokenType.StartArray) offsets = ReadIntegers(ref reader, name, "data_offsets entry", 3, "data_offsets");
                    else badOffsets = true;
                    break;
                default:
                    reader.Skip(); // unknown keys are ignored, as the reference does
                    break;
            }
        }

        if (badDType || dtype is null)
            throw new CheckpointFormatException(_path, $"tensor '{name}': missing or non-string \"dtype\"");
        if (badShape || dims is null)
            throw new CheckpointFormatException(_path, $"tensor '{name}': missing or non-array \"shape\"");
        if (badOffsets || offsets is not { Length: 2 })
            throw new CheckpointFormatException(_path, $"tensor '{name}': \"data_offsets\" must be an array of two integers [begin, end]");
        return new RawEntry(name, dtype, dims, offsets[0], offsets[1]);
    }

    /// <summary>Reads an array of non-negative integers the reader is at the start of; more than <paramref name="max"/> is refused.</summary>
    private long[] ReadIntegers(ref Utf8JsonReader reader, string tensor, string what, int max, string arrayName)
    {
        var values = new List<long>();
        while (Next(ref reader) != JsonTokenType.EndArray)
        {
            if (values.Count == max)
            {
                if (arrayName == "shape")
                    throw new CheckpointFormatException(_path, $"tensor '{tensor}': shape has more than the {MaxRank} dimensions accepted");
                throw new CheckpointFormatException(_path, $"tensor '{tensor}': \"data_offsets\" must be an array of two integers [begin, end]");
            }
            string label = arrayName == "data_offsets" ? (values.Count == 0 ? "data_offsets begin" : "data_offsets end") : what;
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetUInt64(out ulong value))
            {
                string text = reader.TokenType is JsonTokenType.StartArray or JsonTokenType.StartObject
                    ? JsonStrings.Kind(reader.TokenType)
                    : Encoding.UTF8.GetString(reader.ValueSpan); // the header is one buffer, so never a value sequence
                throw new CheckpointFormatException(_path, $"tensor '{tensor}': {label} {text} is not a non-negative integer");
            }
            if (value > long.MaxValue)
                throw new CheckpointFormatException(_path, $"tensor '{tensor}': {label} {value} is too large");
            values.Add((long)value);
        }
        return values.ToArray();
    }

    /// <summary>Maps a safetensors dtype string to its byte size and (when BigBirdSharp has one) its enum value.</summary>
    private static bool TryParseDType(string text, out int size, out TensorDType? dtype)
    {
        (size, dtype) = text switch
        {
            "F32" => (4, TensorDType.F32),
            "F16" => (2, TensorDType.F16),
            "BF16" => (2, TensorDType.BF16),
            "F64" => (8, TensorDType.F64),
            "I64" => (8, TensorDType.I64),
            "I32" => (4, TensorDType.I32),
            "I16" => (2, TensorDType.I16),
            "I8" => (1, TensorDType.I8),
            "U8" => (1, TensorDType.U8),
            "BOOL" => (1, TensorDType.Bool),
            "U64" => (8, (TensorDType?)null),
            "U32" => (4, null),
            "U16" => (2, null),
            "F8_E5M2" or "F8_E4M3" or "F8_E8M0" => (1, null),
            _ => (0, null),
        };
        return size != 0;
    }

    private Dictionary<string, Entry> Validate(List<RawEntry> raw, long dataLength, out string[] names)
    {
        // Order by offsets, as the reference does, so any permutation of keys is accepted.
        raw.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));

        var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
        var order = new List<string>(raw.Count);
        long expectedBegin = 0;
        foreach (var t in raw)
        {
            string shapeText() => "[" + string.Join(", ", t.Shape) + "]"; // only for messages: a million entries should not pay for it
            if (!TryParseDType(t.DType, out int size, out var dtype))
                throw new CheckpointFormatException(_path, $"tensor '{t.Name}' has unknown dtype \"{t.DType}\"");
            if (t.Begin > t.End)
                throw new CheckpointFormatException(_path, $"tensor '{t.Name}': data_offsets begin {t.Begin} is after end {t.End}");
            if (t.Begin != expectedBegin)
            {
                string problem = t.Begin < expectedBegin ? "overlaps the previous tensor" : "leaves a gap after the previous tensor";
                throw new CheckpointFormatException(_path, $"tensor '{t.Name}': data_offsets [{t.Begin}, {t.End}] {problem}; tensors must be packed contiguously from offset 0 (expected begin {expectedBegin})");
            }

            long bytes;
            try
            {
                long count = 1;
                foreach (var dim in t.Shape) count = checked(count * dim);
                bytes = checked(count * size);
            }
            catch (OverflowException)
            {
                throw new CheckpointFormatException(_path, $"tensor '{t.Name}': shape {shapeText()} times {size}-byte {t.DType} overflows a 64-bit size");
            }
            if (t.End - t.Begin != bytes)
                throw new CheckpointFormatException(_path, $"tensor '{t.Name}': shape {shapeText()} of {t.DType} needs {bytes} bytes but data_offsets [{t.Begin}, {t.End}] span {t.End - t.Begin}");
            if (t.End > dataLength)
                throw new CheckpointFormatException(_path, $"tensor '{t.Name}': data_offsets end {t.End} is past the end of the {dataLength}-byte data buffer; the file is truncated");
            expectedBegin = t.End;

            if (dtype is { } known)
            {
                entries.Add(t.Name, new Entry(new TensorInfo(t.Name, known, t.Shape, _path), t.Begin, t.End));
                order.Add(t.Name);
            }
            else
            {
                _unsupported.Add(t.Name, t.DType);
            }
        }

        if (expectedBegin != dataLength)
            throw new CheckpointFormatException(_path, $"tensors cover {expectedBegin} bytes but the data buffer is {dataLength} bytes; the data offsets must cover the buffer exactly (trailing or missing bytes)");

        names = order.ToArray();
        return entries;
    }
}
