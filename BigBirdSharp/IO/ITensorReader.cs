namespace BigBirdSharp.IO;

/// <summary>Element type of a stored tensor.</summary>
internal enum TensorDType
{
    /// <summary>IEEE binary32.</summary>
    F32,
    /// <summary>IEEE binary16.</summary>
    F16,
    /// <summary>bfloat16.</summary>
    BF16,
    /// <summary>IEEE binary64.</summary>
    F64,
    /// <summary>Signed 64-bit integer.</summary>
    I64,
    /// <summary>Signed 32-bit integer.</summary>
    I32,
    /// <summary>Signed 16-bit integer.</summary>
    I16,
    /// <summary>Signed 8-bit integer.</summary>
    I8,
    /// <summary>Unsigned 8-bit integer.</summary>
    U8,
    /// <summary>Boolean, one byte each.</summary>
    Bool,
}

/// <summary>Name, element type and shape of one stored tensor.</summary>
/// <param name="Name">The tensor's name in the checkpoint.</param>
/// <param name="DType">Its element type on disk.</param>
/// <param name="Shape">Its shape, outermost first.</param>
/// <param name="FilePath">The file that holds it (for error messages).</param>
internal sealed record TensorInfo(string Name, TensorDType DType, long[] Shape, string FilePath)
{
    /// <summary>Number of elements (the product of <see cref="Shape"/>).</summary>
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Shape) n *= d;
            return n;
        }
    }

    /// <summary>The shape written as <c>[a, b, c]</c>.</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}

/// <summary>
/// Read access to the tensors of one checkpoint (one file, or a sharded set).
/// Implementations validate everything they read, never execute code from the file,
/// and never allocate a size a header merely claims before checking it against the file.
/// </summary>
internal interface ITensorReader : IDisposable
{
    /// <summary>Every tensor name the checkpoint holds.</summary>
    IReadOnlyCollection<string> Names { get; }

    /// <summary>Looks up a tensor's metadata; false when the name is absent.</summary>
    bool TryGetInfo(string name, out TensorInfo info);

    /// <summary>
    /// The tensor's elements as float32, row-major. F32 data may be a view of a memory-mapped file
    /// (valid while the reader is alive); F16 and BF16 are upcast into a new array.
    /// </summary>
    /// <exception cref="KeyNotFoundException">The name is absent.</exception>
    /// <exception cref="CheckpointFormatException">The dtype cannot be read as float.</exception>
    ReadOnlyMemory<float> ReadFloat32(string name);

    /// <summary>
    /// The tensor's elements as float32 in a new array the caller owns, read without bringing a memory mapping's pages
    /// into the process where the format allows: what a backend that repacks or uploads the weight (and keeps no view)
    /// asks for, so that the checkpoint is not resident twice.
    /// </summary>
    /// <exception cref="KeyNotFoundException">The name is absent.</exception>
    /// <exception cref="CheckpointFormatException">The dtype cannot be read as float.</exception>
    float[] ReadFloat32Copy(string name)
    {
        var tensor = ReadFloat32(name);
        return System.Runtime.InteropServices.MemoryMarshal.TryGetArray(tensor, out var segment)
               && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : tensor.ToArray();
    }
}
