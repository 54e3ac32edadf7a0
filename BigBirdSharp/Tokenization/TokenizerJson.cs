using System.Text;
using System.Text.Json;

namespace BigBirdSharp.Tokenization;

/// <summary>Reads a Hugging Face <c>tokenizer.json</c> whose model is a SentencePiece-style Unigram (what HF's
/// <c>SpmConverter</c> writes for BigBird) into the same <see cref="SentencePieceProcessor"/> a <c>spiece.model</c>
/// gives: <c>model.vocab</c> [[piece, score], ...] with <c>unk_id</c> and <c>byte_fallback</c>; a
/// <c>Precompiled</c> normalizer (alone or in a <c>Sequence</c>) supplies the charsmap, a <c>Replace</c> of
/// <c>" {2,}"</c> means whitespace collapsing; a <c>Metaspace</c> pre-tokenizer with <c>add_prefix_space</c>
/// means the dummy prefix. Added tokens marked special become control pieces and BigBird's special tokens (with
/// their lstrip/rstrip), other added tokens become user-defined pieces.</summary>
internal static class TokenizerJson
{
    public static (SentencePieceProcessor Model, BigBirdSpecialTokens Tokens) Load(string path)
    {
        using var doc = BigBirdTokenizer.ReadJson(path);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new TokenizerFormatException(path, "expected a JSON object");
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
            throw new TokenizerFormatException(path, "no \"model\" object");
        string type = model.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "";
        if (type != "Unigram")
            throw new TokenizerFormatException(path, $"model type '{type}' is not supported in tokenizer.json; only Unigram is (use spiece.model for BPE)");
        if (!model.TryGetProperty("vocab", out var vocab) || vocab.ValueKind != JsonValueKind.Array)
            throw new TokenizerFormatException(path, "model.vocab must be a list of [piece, score]");
        bool byteFallback = model.TryGetProperty("byte_fallback", out var bf) && bf.ValueKind == JsonValueKind.True;
        int unkId = model.TryGetProperty("unk_id", out var u) && u.ValueKind == JsonValueKind.Number && u.TryGetInt32(out int uid) ? uid : -1;
        if (unkId < 0) throw new TokenizerFormatException(path, "model.unk_id is missing: a Unigram model needs an unknown piece");

        var special = new Dictionary<string, SpecialToken>(StringComparer.Ordinal);
        var userDefined = new HashSet<string>(StringComparer.Ordinal);
        if (root.TryGetProperty("added_tokens", out var added) && added.ValueKind == JsonValueKind.Array)
        {
            foreach (var a in added.EnumerateArray())
            {
                if (a.ValueKind != JsonValueKind.Object) throw new TokenizerFormatException(path, "added_tokens entries must be objects");
                var tok = BigBirdTokenizer.ParseAddedToken(a, "added_tokens", path);
                if (a.TryGetProperty("special", out var sflag) && sflag.ValueKind == JsonValueKind.True) special[tok.Content] = tok;
                else userDefined.Add(tok.Content);
            }
        }

        var pieces = new List<PieceEntry>();
        int index = 0;
        foreach (var entry in vocab.EnumerateArray())
        {
            if (entry.ValueKind != JsonValueKind.Array || entry.GetArrayLength() != 2 ||
                entry[0].ValueKind != JsonValueKind.String || entry[1].ValueKind != JsonValueKind.Number)
                throw new TokenizerFormatException(path, $"model.vocab[{index}] must be [piece, score]");
            string piece = entry[0].GetString()!;
            float score = (float)entry[1].GetDouble();
            var ptype = SentencePieceType.Normal;
            if (index == unkId) ptype = SentencePieceType.Unknown;
            else if (special.ContainsKey(piece)) ptype = SentencePieceType.Control;
            else if (userDefined.Contains(piece)) ptype = SentencePieceType.UserDefined;
            else if (byteFallback && piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>')
                ptype = SentencePieceType.Byte;
            pieces.Add(new PieceEntry(Encoding.UTF8.GetBytes(piece), piece, score, ptype));
            index++;
        }
        if (unkId >= pieces.Count) throw new TokenizerFormatException(path, $"model.unk_id {unkId} is outside the vocabulary ({pieces.Count} pieces)");

        byte[] charsMap = [];
        bool removeExtra = false;
        if (root.TryGetProperty("normalizer", out var norm) && norm.ValueKind == JsonValueKind.Object)
            ReadNormalizer(norm, path, ref charsMap, ref removeExtra);
        bool addPrefix = true;
        if (root.TryGetProperty("pre_tokenizer", out var pre) && pre.ValueKind == JsonValueKind.Object)
        {
            string ptype = pre.TryGetProperty("type", out var pt) ? Text(pt) ?? "" : "";
            if (ptype != "Metaspace") throw new TokenizerFormatException(path, $"pre_tokenizer '{ptype}' is not supported; expected Metaspace");
            if (pre.TryGetProperty("replacement", out var rep) && Text(rep) != "\u2581")
                throw new TokenizerFormatException(path, "Metaspace replacement must be U+2581");
            addPrefix = !pre.TryGetProperty("add_prefix_space", out var aps) || aps.ValueKind != JsonValueKind.False;
        }

        var proto = new SentencePieceModelProto
        {
            Pieces = [.. pieces], ModelType = SentencePieceModelType.Unigram, ByteFallback = byteFallback,
            PrecompiledCharsMap = charsMap, RemoveExtraWhitespaces = removeExtra, AddDummyPrefix = addPrefix,
            NormalizerName = charsMap.Length > 0 ? "precompiled" : "",
        };
        var processor = SentencePieceProcessor.FromProto(proto, path);

        var d = BigBirdSpecialTokens.Default;
        SpecialToken? Flags(SpecialToken? tok) => tok is { } v && special.TryGetValue(v.Content, out var s) ? s : tok;
        var tokens = d with
        {
            UnkToken = Flags(d.UnkToken), BosToken = Flags(d.BosToken), EosToken = Flags(d.EosToken), PadToken = Flags(d.PadToken),
            SepToken = Flags(d.SepToken), ClsToken = Flags(d.ClsToken), MaskToken = Flags(d.MaskToken),
        };
        return (processor, tokens);
    }

    /// <summary>The value of a JSON string, or null for any other kind (GetString would throw on a number or an object).</summary>
    private static string? Text(JsonElement e) => e.ValueKind == JsonValueKind.String ? e.GetString() : null;

    private static void ReadNormalizer(JsonElement n, string path, ref byte[] charsMap, ref bool removeExtra)
    {
        if (n.ValueKind != JsonValueKind.Object)
            throw new TokenizerFormatException(path, $"a normalizer must be a JSON object, found {n.ValueKind}");
        string type = n.TryGetProperty("type", out var t) ? Text(t) ?? "" : "";
        switch (type)
        {
            case "Sequence":
                if (!n.TryGetProperty("normalizers", out var list) || list.ValueKind != JsonValueKind.Array)
                    throw new TokenizerFormatException(path, "Sequence normalizer without a normalizers list");
                foreach (var x in list.EnumerateArray()) ReadNormalizer(x, path, ref charsMap, ref removeExtra);
                break;
            case "Precompiled":
            {
                string b64 = n.TryGetProperty("precompiled_charsmap", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : "";
                try
                {
                    charsMap = Convert.FromBase64String(b64);
                }
                catch (FormatException e)
                {
                    throw new TokenizerFormatException(path, "precompiled_charsmap is not valid base64", e);
                }
                break;
            }
            case "Replace":
                // HF's SpmConverter writes the pattern as {"Regex": " {2,}"}; {"String": " {2,}"} is also read as the
                // same collapsing (older files of ours wrote it so)
                if (n.TryGetProperty("pattern", out var p) && p.ValueKind == JsonValueKind.Object &&
                    (p.TryGetProperty("Regex", out var ps) || p.TryGetProperty("String", out ps)) &&
                    ps.ValueKind == JsonValueKind.String && ps.GetString() == " {2,}" &&
                    n.TryGetProperty("content", out var rc) && Text(rc) == " ")
                {
                    removeExtra = true;
                    break;
                }
                throw new TokenizerFormatException(path, "only the Replace normalizer \" {2,}\" -> \" \" is supported");
            default:
                throw new TokenizerFormatException(path, $"normalizer '{type}' is not supported");
        }
    }
}
