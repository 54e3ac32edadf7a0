namespace BigBirdSharp.Tokenization;

/// <summary>Thrown inside the protobuf reader; converted to <see cref="TokenizerFormatException"/> by the caller,
/// which knows the file name.</summary>
internal sealed class ProtoFormatException(string message) : Exception(message);

/// <summary>A minimal, bounds-checked protobuf wire-format reader over a byte span. It never allocates more than
/// the bytes that are actually present: a length prefix is checked against the remaining input first.</summary>
internal ref struct ProtoReader
{
    public const int Varint = 0, Fixed64 = 1, LengthDelimited = 2, Fixed32 = 5;

    private readonly ReadOnlySpan<byte> data;
    private int pos;

    public ProtoReader(ReadOnlySpan<byte> data)
    {
        this.data = data;
        pos = 0;
    }

    public readonly bool AtEnd => pos >= data.Length;

    /// <summary>Reads the next tag; returns false at the end of the message.</summary>
    public bool TryReadTag(out int field, out int wireType)
    {
        field = 0;
        wireType = 0;
        if (AtEnd) return false;
        ulong tag = ReadVarint();
        wireType = (int)(tag & 7);
        ulong f = tag >> 3;
        if (f == 0 || f > int.MaxValue) throw new ProtoFormatException($"invalid field number {f} at byte {pos}");
        field = (int)f;
        return true;
    }

    public ulong ReadVarint()
    {
        ulong result = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (pos >= data.Length) throw new ProtoFormatException("truncated varint (the file ends inside a number)");
            byte b = data[pos++];
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw new ProtoFormatException($"varint longer than 10 bytes at byte {pos}");
    }

    public float ReadFloat()
    {
        if (data.Length - pos < 4) throw new ProtoFormatException("truncated float (the file ends inside a fixed32)");
        float v = BitConverter.Int32BitsToSingle(System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(data.Slice(pos, 4)));
        pos += 4;
        return v;
    }

    public ReadOnlySpan<byte> ReadBytes()
    {
        ulong len = ReadVarint();
        if (len > (ulong)(data.Length - pos))
            throw new ProtoFormatException($"length prefix {len} at byte {pos} runs past the end of the data ({data.Length - pos} bytes left)");
        var s = data.Slice(pos, (int)len);
        pos += (int)len;
        return s;
    }

    /// <summary>Checks that a known field has the wire type its schema gives it.</summary>
    public static void Expect(int field, int wireType, int expected, string name)
    {
        if (wireType != expected)
            throw new ProtoFormatException($"field {name} (number {field}) has wire type {wireType}, expected {expected}");
    }

    public void Skip(int wireType)
    {
        switch (wireType)
        {
            case Varint: ReadVarint(); break;
            case Fixed64:
                if (data.Length - pos < 8) throw new ProtoFormatException("truncated fixed64");
                pos += 8;
                break;
            case LengthDelimited: ReadBytes(); break;
            case Fixed32:
                if (data.Length - pos < 4) throw new ProtoFormatException("truncated fixed32");
                pos += 4;
                break;
            default: throw new ProtoFormatException($"unsupported wire type {wireType} at byte {pos}");
        }
    }
}
