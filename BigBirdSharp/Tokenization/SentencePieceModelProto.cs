using System.Text;

namespace BigBirdSharp.Tokenization;

/// <summary>The type of a piece in a SentencePiece model (<c>ModelProto.SentencePiece.Type</c>).</summary>
internal enum SentencePieceType
{
    /// <summary>An ordinary piece.</summary>
    Normal = 1,
    /// <summary>The unknown piece (exactly one per model).</summary>
    Unknown = 2,
    /// <summary>A control symbol such as <c>&lt;s&gt;</c>: never produced from text, decodes to nothing.</summary>
    Control = 3,
    /// <summary>A user-defined symbol: always matched whole, never normalized.</summary>
    UserDefined = 4,
    /// <summary>A piece kept in the vocabulary but never produced.</summary>
    Unused = 5,
    /// <summary>A byte piece <c>&lt;0xXX&gt;</c>, used by byte fallback.</summary>
    Byte = 6,
}

/// <summary>The SentencePiece model algorithm (<c>TrainerSpec.model_type</c>).</summary>
internal enum SentencePieceModelType
{
    /// <summary>Unigram language model, Viterbi segmentation.</summary>
    Unigram = 1,
    /// <summary>Byte-pair encoding.</summary>
    Bpe = 2,
    /// <summary>Whitespace-delimited words (not supported).</summary>
    Word = 3,
    /// <summary>Character sequence (not supported).</summary>
    Char = 4,
}

/// <summary>One vocabulary entry.</summary>
internal readonly record struct PieceEntry(byte[] Utf8, string Text, float Score, SentencePieceType Type);

/// <summary>The parts of a <c>ModelProto</c> that encoding and decoding use.</summary>
internal sealed class SentencePieceModelProto
{
    public required PieceEntry[] Pieces { get; init; }
    public SentencePieceModelType ModelType { get; init; } = SentencePieceModelType.Unigram;
    public bool ByteFallback { get; init; }
    public bool TreatWhitespaceAsSuffix { get; init; }
    public byte[] UnkSurface { get; init; } = " \u2047 "u8.ToArray();
    public string NormalizerName { get; init; } = "";
    public byte[] PrecompiledCharsMap { get; init; } = [];
    public bool AddDummyPrefix { get; init; } = true;
    public bool RemoveExtraWhitespaces { get; init; } = true;
    public bool EscapeWhitespaces { get; init; } = true;
    public bool HasDenormalizer { get; init; }

    /// <summary>Parses a serialized <c>ModelProto</c>; errors name <paramref name="filePath"/>.</summary>
    public static SentencePieceModelProto Parse(ReadOnlySpan<byte> data, string filePath)
    {
        try
        {
            return ParseCore(data);
        }
        catch (ProtoFormatException e)
        {
            throw new TokenizerFormatException(filePath, "malformed SentencePiece model (not a valid ModelProto): " + e.Message);
        }
    }

    private static readonly UTF8Encoding Utf8 = new(false, false);

    private static SentencePieceModelProto ParseCore(ReadOnlySpan<byte> data)
    {
        var pieces = new List<PieceEntry>();
        var model = SentencePieceModelType.Unigram;
        bool byteFallback = false, suffix = false, hasDenorm = false;
        byte[] unkSurface = " \u2047 "u8.ToArray();
        string name = "";
        byte[] charsMap = [];
        bool dummy = true, removeExtra = true, escape = true;
        bool sawAny = false;

        var r = new ProtoReader(data);
        while (r.TryReadTag(out int field, out int wt))
        {
            sawAny = true;
            switch (field)
            {
                case 1:
                    ProtoReader.Expect(field, wt, ProtoReader.LengthDelimited, "ModelProto.pieces");
                    pieces.Add(ParsePiece(r.ReadBytes(), pieces.Count));
                    break;
                case 2:
                {
                    ProtoReader.Expect(field, wt, ProtoReader.LengthDelimited, "ModelProto.trainer_spec");
                    var t = new ProtoReader(r.ReadBytes());
                    while (t.TryReadTag(out int f, out int w))
                    {
                        switch (f)
                        {
                            case 3: ProtoReader.Expect(f, w, ProtoReader.Varint, "TrainerSpec.model_type"); model = (SentencePieceModelType)(int)t.ReadVarint(); break;
                            case 24: ProtoReader.Expect(f, w, ProtoReader.Varint, "TrainerSpec.treat_whitespace_as_suffix"); suffix = t.ReadVarint() != 0; break;
                            case 35: ProtoReader.Expect(f, w, ProtoReader.Varint, "TrainerSpec.byte_fallback"); byteFallback = t.ReadVarint() != 0; break;
                            case 44: ProtoReader.Expect(f, w, ProtoReader.LengthDelimited, "TrainerSpec.unk_surface"); unkSurface = t.ReadBytes().ToArray(); break;
                            default: t.Skip(w); break;
                        }
                    }
                    break;
                }
                case 3:
                {
                    ProtoReader.Expect(field, wt, ProtoReader.LengthDelimited, "ModelProto.normalizer_spec");
                    var n = new ProtoReader(r.ReadBytes());
                    while (n.TryReadTag(out int f, out int w))
                    {
                        switch (f)
                        {
                            case 1: ProtoReader.Expect(f, w, ProtoReader.LengthDelimited, "NormalizerSpec.name"); name = Utf8.GetString(n.ReadBytes()); break;
                            case 2: ProtoReader.Expect(f, w, ProtoReader.LengthDelimited, "NormalizerSpec.precompiled_charsmap"); charsMap = n.ReadBytes().ToArray(); break;
                            case 3: ProtoReader.Expect(f, w, ProtoReader.Varint, "NormalizerSpec.add_dummy_prefix"); dummy = n.ReadVarint() != 0; break;
                            case 4: ProtoReader.Expect(f, w, ProtoReader.Varint, "NormalizerSpec.remove_extra_whitespaces"); removeExtra = n.ReadVarint() != 0; break;
                            case 5: ProtoReader.Expect(f, w, ProtoReader.Varint, "NormalizerSpec.escape_whitespaces"); escape = n.ReadVarint() != 0; break;
                            default: n.Skip(w); break;
                        }
                    }
                    break;
                }
                case 5:
                {
                    ProtoReader.Expect(field, wt, ProtoReader.LengthDelimited, "ModelProto.denormalizer_spec");
                    var d = new ProtoReader(r.ReadBytes());
                    while (d.TryReadTag(out int f, out int w))
                    {
                        if (f == 2 && w == ProtoReader.LengthDelimited) hasDenorm |= d.ReadBytes().Length > 0;
                        else d.Skip(w);
                    }
                    break;
                }
                default:
                    r.Skip(wt);
                    break;
            }
        }
        if (!sawAny) throw new ProtoFormatException("the file is empty");
        return new SentencePieceModelProto
        {
            Pieces = pieces.ToArray(), ModelType = model, ByteFallback = byteFallback, TreatWhitespaceAsSuffix = suffix,
            UnkSurface = unkSurface, NormalizerName = name, PrecompiledCharsMap = charsMap, AddDummyPrefix = dummy,
            RemoveExtraWhitespaces = removeExtra, EscapeWhitespaces = escape, HasDenormalizer = hasDenorm,
        };
    }

    private static PieceEntry ParsePiece(ReadOnlySpan<byte> bytes, int index)
    {
        byte[] piece = [];
        float score = 0;
        var type = SentencePieceType.Normal;
        var r = new ProtoReader(bytes);
        while (r.TryReadTag(out int f, out int w))
        {
            switch (f)
            {
                case 1: ProtoReader.Expect(f, w, ProtoReader.LengthDelimited, "SentencePiece.piece"); piece = r.ReadBytes().ToArray(); break;
                case 2: ProtoReader.Expect(f, w, ProtoReader.Fixed32, "SentencePiece.score"); score = r.ReadFloat(); break;
                case 3:
                {
                    ProtoReader.Expect(f, w, ProtoReader.Varint, "SentencePiece.type");
                    ulong t = r.ReadVarint();
                    if (t < 1 || t > 6) throw new ProtoFormatException($"piece {index} has unknown type {t}");
                    type = (SentencePieceType)(int)t;
                    break;
                }
                default: r.Skip(w); break;
            }
        }
        return new PieceEntry(piece, Utf8.GetString(piece), score, type);
    }
}
