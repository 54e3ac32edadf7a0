using System.Buffers;
using System.Text;

namespace BigBirdSharp.Tokenization;

/// <summary>One piece of an encoding, with its span in the original text (UTF-16 code units, end exclusive).
/// Byte-fallback pieces other than the last of a character have an empty span at the character's start.</summary>
/// <param name="Id">The piece id.</param>
/// <param name="Start">First UTF-16 index of the piece's surface in the original text.</param>
/// <param name="End">One past the last UTF-16 index of the surface.</param>
internal readonly record struct SentencePieceToken(int Id, int Start, int End);

/// <summary>An encoded piece in the normalized and original byte spaces (internal, pre-offset-conversion).</summary>
internal struct RawPiece
{
    public int Id;
    public int NormBegin, NormEnd;   // span of the (possibly merged) piece in the normalized bytes
    public int OrigBegin, OrigEnd;   // span in the original UTF-8 bytes
    public bool MergedUnknown;        // an unknown run: HF looks its text up with piece_to_id
}

/// <summary>A SentencePiece model (<c>spiece.model</c>) ported from google/sentencepiece 0.1.97: the normalizer,
/// the unigram (optimized Viterbi) and BPE segmenters, byte fallback, and decoding. Immutable and thread-safe once
/// loaded.</summary>
internal sealed class SentencePieceProcessor
{
    private const float UnkPenalty = 10.0f;
    private static readonly UTF8Encoding StrictUtf8 = new(false, false);

    private readonly PieceEntry[] pieces;
    private readonly SentencePieceType[] types;
    private readonly int[] byteToId = new int[256];
    private readonly int[] idToByte;
    private readonly PieceTrie normalPieces;    // NORMAL, USER_DEFINED, UNUSED: what segmentation sees
    private readonly PieceTrie reservedPieces;  // UNKNOWN, CONTROL, BYTE
    private readonly PieceTrie? userDefined;
    private readonly SentencePieceNormalizer normalizer;
    private readonly float minScore, maxScore;
    private readonly byte[] unkSurface;
    private readonly bool addDummyPrefix, removeExtraWhitespaces;

    /// <summary>The segmentation algorithm.</summary>
    public SentencePieceModelType ModelType { get; }

    /// <summary>Whether unknown characters are written as UTF-8 byte pieces.</summary>
    public bool ByteFallback { get; }

    /// <summary>The id of the unknown piece.</summary>
    public int UnkId { get; }

    /// <summary>The number of pieces in the vocabulary.</summary>
    public int PieceCount => pieces.Length;

    /// <summary>The name of the normalization rule (<c>nmt_nfkc</c>, ..., or empty when the model has none).</summary>
    public string NormalizerName { get; }

    /// <summary>The file the model was read from (<c>spiece.model</c> or <c>tokenizer.json</c>), or the name it was given.</summary>
    public string FilePath { get; }

    private SentencePieceProcessor(SentencePieceModelProto proto, string filePath)
    {
        FilePath = filePath;
        pieces = proto.Pieces;
        ModelType = proto.ModelType;
        ByteFallback = proto.ByteFallback;
        NormalizerName = proto.NormalizerName;
        unkSurface = proto.UnkSurface;
        addDummyPrefix = proto.AddDummyPrefix;
        removeExtraWhitespaces = proto.RemoveExtraWhitespaces;
        if (ModelType is not (SentencePieceModelType.Unigram or SentencePieceModelType.Bpe))
            throw new TokenizerFormatException(filePath, $"model_type {(int)ModelType} ({ModelType}) is not supported; only UNIGRAM and BPE are");
        if (pieces.Length == 0) throw new TokenizerFormatException(filePath, "the model has no pieces");

        types = new SentencePieceType[pieces.Length];
        idToByte = new int[pieces.Length];
        Array.Fill(byteToId, -1);
        var normal = new List<(byte[], int)>();
        var reserved = new List<(byte[], int)>();
        var user = new List<(byte[], int)>();
        var seenNormal = new HashSet<string>(StringComparer.Ordinal);
        var seenReserved = new HashSet<string>(StringComparer.Ordinal);
        int unk = -1;
        minScore = float.MaxValue;
        maxScore = 1.17549435e-38f; // FLT_MIN (the smallest normal float), the start value in unigram_model.cc
        for (int i = 0; i < pieces.Length; i++)
        {
            var p = pieces[i];
            types[i] = p.Type;
            idToByte[i] = -1;
            if (p.Utf8.Length == 0) throw new TokenizerFormatException(filePath, $"piece {i} is empty (pieces must not be empty)");
            bool isNormal = p.Type is SentencePieceType.Normal or SentencePieceType.UserDefined or SentencePieceType.Unused;
            string key = Convert.ToHexString(p.Utf8);
            if (!(isNormal ? seenNormal : seenReserved).Add(key))
                throw new TokenizerFormatException(filePath, $"duplicate piece '{p.Text}' (id {i}) is already defined");
            (isNormal ? normal : reserved).Add((p.Utf8, i));
            if (p.Type == SentencePieceType.UserDefined) user.Add((p.Utf8, i));
            if (p.Type == SentencePieceType.Unknown)
            {
                if (unk >= 0) throw new TokenizerFormatException(filePath, $"a second unknown piece '{p.Text}' (id {i}); unk is already defined at id {unk}");
                unk = i;
            }
            if (p.Type == SentencePieceType.Byte)
            {
                if (!ByteFallback)
                    throw new TokenizerFormatException(filePath, $"byte piece '{p.Text}' (id {i}) is found although byte_fallback is false");
                int b = ParseBytePiece(p.Text);
                if (b < 0) throw new TokenizerFormatException(filePath, $"byte piece '{p.Text}' (id {i}) is invalid (expected <0xXX>)");
                byteToId[b] = i;
                idToByte[i] = b;
            }
            if (p.Type == SentencePieceType.Normal)
            {
                minScore = Math.Min(minScore, p.Score);
                maxScore = Math.Max(maxScore, p.Score);
            }
        }
        if (unk < 0) throw new TokenizerFormatException(filePath, "unk is not defined (the model has no UNKNOWN piece)");
        UnkId = unk;
        if (ByteFallback)
        {
            int missing = Array.IndexOf(byteToId, -1);
            if (missing >= 0)
                throw new TokenizerFormatException(filePath,
                    $"byte_fallback is true but there are not 256 byte pieces (<0x{missing:X2}> and possibly others are missing)");
        }
        normalPieces = new PieceTrie(normal);
        reservedPieces = new PieceTrie(reserved);
        userDefined = user.Count > 0 ? new PieceTrie(user) : null;
        normalizer = new SentencePieceNormalizer(proto, userDefined, filePath);
    }

    /// <summary>Loads <c>spiece.model</c>. Errors are <see cref="TokenizerFormatException"/>s naming the file.</summary>
    public static SentencePieceProcessor Load(string path)
    {
        byte[] data;
        try
        {
            data = TokenizerFile.ReadAllBytes(path);
        }
        catch (FileNotFoundException e)
        {
            throw new TokenizerFormatException(path, "SentencePiece model not found", e);
        }
        return FromBytes(data, path);
    }

    /// <summary>Parses a serialized SentencePiece <c>ModelProto</c>; <paramref name="name"/> is used in errors.</summary>
    public static SentencePieceProcessor FromBytes(ReadOnlySpan<byte> data, string name)
    {
        var proto = SentencePieceModelProto.Parse(data, name);
        if (proto.HasDenormalizer)
            throw new TokenizerFormatException(name, "denormalizer_spec with rules is not supported");
        return new SentencePieceProcessor(proto, name);
    }

    internal static SentencePieceProcessor FromProto(SentencePieceModelProto proto, string name) => new(proto, name);

    private static int ParseBytePiece(string piece)
    {
        if (piece.Length != 6 || !piece.StartsWith("<0x", StringComparison.Ordinal) || piece[5] != '>') return -1;
        static int Hex(char c) => c is >= '0' and <= '9' ? c - '0' : c is >= 'A' and <= 'F' ? c - 'A' + 10 : -1;
        int hi = Hex(piece[3]), lo = Hex(piece[4]);
        return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
    }

    /// <summary>The piece string of <paramref name="id"/>.</summary>
    /// <exception cref="BigBirdInputException">The id is not in the vocabulary (as SentencePiece, which raises
    /// "piece id is out of range"); the message names the file and the bounds.</exception>
    public string IdToPiece(int id)
    {
        if ((uint)id >= (uint)pieces.Length)
            throw new BigBirdInputException($"{FilePath}: token id {id} is out of range: this tokenizer has {pieces.Length} pieces, ids [0, {pieces.Length}).");
        return pieces[id].Text;
    }

    /// <summary>The piece's type.</summary>
    public SentencePieceType GetPieceType(int id) => (uint)id < (uint)pieces.Length
        ? types[id] : throw new ArgumentOutOfRangeException(nameof(id), id, $"piece id is out of range [0, {pieces.Length})");

    /// <summary>The piece's score.</summary>
    public float GetScore(int id) => (uint)id < (uint)pieces.Length
        ? pieces[id].Score : throw new ArgumentOutOfRangeException(nameof(id), id, $"piece id is out of range [0, {pieces.Length})");

    /// <summary>The id of <paramref name="piece"/>, or <see cref="UnkId"/> when it is not in the vocabulary
    /// (as <c>SentencePieceProcessor::PieceToId</c>).</summary>
    public int PieceToId(string piece) => PieceToId(Encoding.UTF8.GetBytes(piece));

    internal int PieceToId(ReadOnlySpan<byte> piece)
    {
        int id = reservedPieces.Find(piece);
        if (id >= 0) return id;
        id = normalPieces.Find(piece);
        return id >= 0 ? id : UnkId;
    }

    /// <summary>Whether <paramref name="piece"/> is a piece of the vocabulary.</summary>
    public bool Contains(string piece)
    {
        var b = Encoding.UTF8.GetBytes(piece);
        return reservedPieces.Find(b) >= 0 || normalPieces.Find(b) >= 0;
    }

    // ------------------------------------------------------------------------------------------------
    // Encoding
    // ------------------------------------------------------------------------------------------------

    /// <summary>Encodes <paramref name="text"/> to ids, as <c>sp.encode(text)</c>.</summary>
    public int[] EncodeAsIds(string text)
    {
        var tokens = Encode(text);
        var ids = new int[tokens.Length];
        for (int i = 0; i < ids.Length; i++) ids[i] = tokens[i].Id;
        return ids;
    }

    /// <summary>Encodes <paramref name="text"/> to pieces with their spans in <paramref name="text"/>. Lone surrogates
    /// are read as U+FFFD.</summary>
    public SentencePieceToken[] Encode(string text)
    {
        var utf8 = Utf8Text.From(text);
        var raw = new GrowBuffer<RawPiece>(16);
        var norm = new GrowBuffer<byte>(utf8.Bytes.Length * 2 + 8);
        EncodeUtf8(utf8.Bytes, ref raw, ref norm);
        var result = new SentencePieceToken[raw.Count];
        for (int i = 0; i < raw.Count; i++)
        {
            ref var p = ref raw.Items[i];
            result[i] = new SentencePieceToken(p.Id, utf8.ByteToChar[p.OrigBegin], utf8.ByteToChar[p.OrigEnd]);
        }
        return result;
    }

    /// <summary>Encodes UTF-8 text; appends to <paramref name="output"/>. <paramref name="normalized"/> receives the
    /// normalized bytes that <see cref="RawPiece.NormBegin"/> and <see cref="RawPiece.NormEnd"/> point into.</summary>
    internal void EncodeUtf8(ReadOnlySpan<byte> input, ref GrowBuffer<RawPiece> output, ref GrowBuffer<byte> normalized)
    {
        var normToOrig = new GrowBuffer<int>(normalized.Items.Length + 1);
        normalizer.Normalize(input, ref normalized, ref normToOrig);
        if (normalized.Count == 0) return;
        var segments = new GrowBuffer<(int Begin, int End, int Id)>(normalized.Count / 3 + 4);
        if (ModelType == SentencePieceModelType.Unigram) EncodeUnigram(normalized.Span, ref segments);
        else EncodeBpe(normalized.Span, ref segments);

        bool prevUnk = false;
        var n2o = normToOrig.Items;
        for (int s = 0; s < segments.Count; s++)
        {
            var (begin, end, id) = segments.Items[s];
            bool isUnk = id == UnkId;
            int ob = n2o[begin], oe = n2o[end];
            if (isUnk && ByteFallback)
            {
                for (int k = begin; k < end; k++)
                {
                    bool last = k == end - 1;
                    output.Add(new RawPiece
                    {
                        Id = byteToId[normalized.Items[k]], NormBegin = k, NormEnd = k + 1,
                        OrigBegin = ob, OrigEnd = last ? oe : ob,
                    });
                }
            }
            else if (prevUnk && isUnk)
            {
                ref var last = ref output.Items[output.Count - 1];
                last.NormEnd = end;
                last.OrigEnd = oe;
            }
            else
            {
                output.Add(new RawPiece { Id = id, NormBegin = begin, NormEnd = end, OrigBegin = ob, OrigEnd = oe, MergedUnknown = isUnk });
            }
            prevUnk = isUnk;
        }
    }

    private static int CharLen(ReadOnlySpan<byte> s, int pos) =>
        Math.Min(SentencePieceNormalizer.OneCharLen(s[pos]), s.Length - pos);

    /// <summary><c>unigram::Model::EncodeOptimized</c>: Viterbi over byte positions. Ties keep the first candidate
    /// found for an end position, which is the one that starts earliest.</summary>
    private void EncodeUnigram(ReadOnlySpan<byte> text, ref GrowBuffer<(int, int, int)> output)
    {
        int size = text.Length;
        float unkScore = minScore - UnkPenalty;
        var bestScore = ArrayPool<float>.Shared.Rent(size + 1);
        var startsAt = ArrayPool<int>.Shared.Rent(size + 1);
        var bestId = ArrayPool<int>.Shared.Rent(size + 1);
        try
        {
            EncodeUnigramCore(text, unkScore, bestScore, startsAt, bestId, ref output);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(bestScore);
            ArrayPool<int>.Shared.Return(startsAt);
            ArrayPool<int>.Shared.Return(bestId);
        }
    }

    private void EncodeUnigramCore(ReadOnlySpan<byte> text, float unkScore, float[] bestScore, int[] startsAt, int[] bestId,
                                   ref GrowBuffer<(int, int, int)> output)
    {
        int size = text.Length;
        startsAt.AsSpan(0, size + 1).Fill(-1);
        bestScore[0] = 0;
        int pos = 0;
        while (pos < size)
        {
            float tillHere = bestScore[pos];
            bool hasSingle = false;
            int mblen = CharLen(text, pos);
            int node = 0;
            for (int key = pos; key < size; key++)
            {
                node = normalPieces.Child(node, text[key]);
                if (node == 0) break;
                int id = normalPieces.Value(node);
                if (id < 0) continue;
                var type = types[id];
                if (type == SentencePieceType.Unused) continue;
                int length = key + 1 - pos;
                double score = type == SentencePieceType.UserDefined
                    ? (double)((float)length * maxScore) - 0.1
                    : pieces[id].Score;
                double candidate = score + tillHere;
                int end = key + 1;
                if (startsAt[end] == -1 || candidate > bestScore[end])
                {
                    bestScore[end] = (float)candidate;
                    startsAt[end] = pos;
                    bestId[end] = id;
                }
                if (!hasSingle && length == mblen) hasSingle = true;
            }
            if (!hasSingle)
            {
                int end = pos + mblen;
                float candidate = unkScore + tillHere;
                if (startsAt[end] == -1 || candidate > bestScore[end])
                {
                    bestScore[end] = candidate;
                    startsAt[end] = pos;
                    bestId[end] = UnkId;
                }
            }
            pos += mblen;
        }
        int first = output.Count;
        for (int end = size; end > 0; end = startsAt[end]) output.Add((startsAt[end], end, bestId[end]));
        output.Items.AsSpan(first, output.Count - first).Reverse();
    }

    private readonly struct PairPriority(float score, int left)
    {
        public readonly float Score = score;
        public readonly int Left = left;
    }

    private sealed class PairComparer : IComparer<PairPriority>
    {
        public static readonly PairComparer Instance = new();
        // PriorityQueue dequeues the smallest: higher score first, then the leftmost pair.
        public int Compare(PairPriority a, PairPriority b) =>
            a.Score != b.Score ? b.Score.CompareTo(a.Score) : a.Left.CompareTo(b.Left);
    }

    private struct Symbol
    {
        public int Prev, Next, Start, Length;
        public bool Freeze;
    }

    /// <summary><c>bpe::Model::SampleEncode</c> without dropout: repeatedly merge the best-scoring adjacent pair
    /// (ties: leftmost), then split merged UNUSED pieces back into the pair that made them.</summary>
    private void EncodeBpe(ReadOnlySpan<byte> text, ref GrowBuffer<(int, int, int)> output)
    {
        var symbols = new List<Symbol>(text.Length);
        int pos = 0;
        while (pos < text.Length)
        {
            int m = userDefined?.LongestPrefix(text[pos..]) ?? 0;
            bool freeze = m > 0;
            if (!freeze) m = CharLen(text, pos);
            int index = symbols.Count;
            symbols.Add(new Symbol { Prev = index - 1, Next = pos + m < text.Length ? index + 1 : -1, Start = pos, Length = m, Freeze = freeze });
            pos += m;
        }
        if (symbols.Count == 0) return;
        var sym = symbols.ToArray();
        var agenda = new PriorityQueue<(int Left, int Right, int Size), PairPriority>(PairComparer.Instance);
        var revMerge = new Dictionary<int, (int Start, int LeftLength, int RightLength)>();

        void MaybeAdd(int left, int right, ReadOnlySpan<byte> t)
        {
            if (left == -1 || right == -1 || sym[left].Freeze || sym[right].Freeze) return;
            int size = sym[left].Length + sym[right].Length;
            int id = normalPieces.Find(t.Slice(sym[left].Start, size));
            if (id < 0) return;
            agenda.Enqueue((left, right, size), new PairPriority(pieces[id].Score, left));
            if (types[id] == SentencePieceType.Unused) revMerge[id] = (sym[left].Start, sym[left].Length, sym[right].Length);
        }

        for (int i = 1; i < sym.Length; i++) MaybeAdd(i - 1, i, text);
        while (agenda.TryDequeue(out var top, out _))
        {
            ref var l = ref sym[top.Left];
            ref var r = ref sym[top.Right];
            if (l.Length == 0 || r.Length == 0 || l.Length + r.Length != top.Size) continue;
            l.Length += r.Length;
            l.Next = r.Next;
            if (r.Next >= 0) sym[r.Next].Prev = top.Left;
            r.Length = 0;
            MaybeAdd(l.Prev, top.Left, text);
            MaybeAdd(top.Left, l.Next, text);
        }

        var stack = new Stack<(int Start, int Length)>();
        for (int index = 0; index != -1; index = sym[index].Next)
        {
            stack.Push((sym[index].Start, sym[index].Length));
            while (stack.Count > 0)
            {
                var (start, length) = stack.Pop();
                int id = PieceToId(text.Slice(start, length));
                if (types[id] == SentencePieceType.Unused && revMerge.TryGetValue(id, out var split))
                {
                    stack.Push((split.Start + split.LeftLength, split.RightLength));
                    stack.Push((split.Start, split.LeftLength));
                    continue;
                }
                output.Add((start, start + length, id));
            }
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Decoding
    // ------------------------------------------------------------------------------------------------

    /// <summary>Decodes ids to text, as <c>sp.decode(ids)</c>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id is not in the vocabulary.</exception>
    public string DecodeIds(ReadOnlySpan<int> ids)
    {
        var list = new string[ids.Length];
        for (int i = 0; i < ids.Length; i++) list[i] = IdToPiece(ids[i]);
        return DecodePieces(list);
    }

    /// <summary>Decodes piece strings to text, as <c>sp.decode(pieces)</c>: each piece is looked up with
    /// <see cref="PieceToId(string)"/>; control pieces vanish, <c>&lt;unk&gt;</c> becomes the unknown surface
    /// (" ⁇ "), runs of byte pieces are read as UTF-8 (U+FFFD per malformed byte), U+2581 becomes a space and the
    /// dummy-prefix space of the first piece is dropped.</summary>
    public string DecodePieces(IReadOnlyList<string> pieceStrings)
    {
        var text = new GrowBuffer<byte>(64);
        var pendingBytes = new GrowBuffer<byte>(8);
        bool isBosWs = true, bosWsSeen = false;
        foreach (var piece in pieceStrings)
        {
            var w = Encoding.UTF8.GetBytes(piece);
            int id = PieceToId(w);
            if (types[id] == SentencePieceType.Byte)
            {
                pendingBytes.Add((byte)idToByte[id]);
                continue;
            }
            FlushBytes(ref pendingBytes, ref text);
            if (bosWsSeen || text.Count > 0) isBosWs = false;
            bosWsSeen = false;
            ReadOnlySpan<byte> decoded;
            var type = types[id];
            if (type == SentencePieceType.Control) decoded = default;
            else if (type == SentencePieceType.Unknown)
                decoded = pieces[id].Text == piece ? unkSurface : w;
            else
            {
                ReadOnlySpan<byte> p = w;
                if (isBosWs && (addDummyPrefix || removeExtraWhitespaces))
                {
                    if (p.StartsWith("\u2581"u8))
                    {
                        p = p[3..];
                        bosWsSeen = !removeExtraWhitespaces;
                    }
                }
                AppendReplacingSpaceSymbol(p, ref text);
                continue;
            }
            foreach (byte b in decoded) text.Add(b);
        }
        FlushBytes(ref pendingBytes, ref text);
        return Encoding.UTF8.GetString(text.Span);
    }

    private static void AppendReplacingSpaceSymbol(ReadOnlySpan<byte> p, ref GrowBuffer<byte> text)
    {
        for (int i = 0; i < p.Length; i++)
        {
            if (i + 2 < p.Length && p[i] == 0xE2 && p[i + 1] == 0x96 && p[i + 2] == 0x81)
            {
                text.Add((byte)' ');
                i += 2;
            }
            else text.Add(p[i]);
        }
    }

    private static void FlushBytes(ref GrowBuffer<byte> bytes, ref GrowBuffer<byte> text)
    {
        var s = bytes.Span;
        int offset = 0;
        while (offset < s.Length)
        {
            int len = ValidUtf8Length(s[offset..]);
            if (len == 0)
            {
                foreach (byte b in "\uFFFD"u8) text.Add(b);
                offset += 1;
            }
            else
            {
                foreach (byte b in s.Slice(offset, len)) text.Add(b);
                offset += len;
            }
        }
        bytes.Count = 0;
    }

    private static int ValidUtf8Length(ReadOnlySpan<byte> s)
    {
        var status = System.Text.Rune.DecodeFromUtf8(s, out _, out int consumed);
        return status == System.Buffers.OperationStatus.Done ? consumed : 0;
    }
}

/// <summary>A string's UTF-8 bytes (lone surrogates as U+FFFD) and the map from byte offsets to UTF-16 offsets.</summary>
internal readonly struct Utf8Text
{
    public readonly byte[] Bytes;
    /// <summary>For every byte offset that starts a character (and the end), the UTF-16 offset.</summary>
    public readonly int[] ByteToChar;
    /// <summary>For every UTF-16 offset (and the end), the byte offset; the low half of a pair maps past the pair.</summary>
    public readonly int[] CharToByte;

    private Utf8Text(byte[] bytes, int[] byteToChar, int[] charToByte)
    {
        Bytes = bytes;
        ByteToChar = byteToChar;
        CharToByte = charToByte;
    }

    public static Utf8Text From(string text)
    {
        // GetByteCount counts a lone surrogate as the 3 bytes of U+FFFD, as the loop below writes it.
        var bytes = new byte[Encoding.UTF8.GetByteCount(text)];
        var byteToChar = new int[bytes.Length + 1];
        var charToByte = new int[text.Length + 1];
        int b = 0;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            charToByte[i] = b;
            byteToChar[b] = i;
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                int cp = char.ConvertToUtf32(c, text[i + 1]);
                bytes[b++] = (byte)(0xF0 | (cp >> 18));
                bytes[b++] = (byte)(0x80 | ((cp >> 12) & 0x3F));
                bytes[b++] = (byte)(0x80 | ((cp >> 6) & 0x3F));
                bytes[b++] = (byte)(0x80 | (cp & 0x3F));
                i++;
                charToByte[i] = b;
                continue;
            }
            int u = char.IsSurrogate(c) ? 0xFFFD : c;
            if (u < 0x80) bytes[b++] = (byte)u;
            else if (u < 0x800)
            {
                bytes[b++] = (byte)(0xC0 | (u >> 6));
                bytes[b++] = (byte)(0x80 | (u & 0x3F));
            }
            else
            {
                bytes[b++] = (byte)(0xE0 | (u >> 12));
                bytes[b++] = (byte)(0x80 | ((u >> 6) & 0x3F));
                bytes[b++] = (byte)(0x80 | (u & 0x3F));
            }
        }
        charToByte[text.Length] = b;
        byteToChar[b] = text.Length;
        return new Utf8Text(bytes, byteToChar, charToByte);
    }
}
