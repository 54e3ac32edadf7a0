using BigBirdSharp.IO;
using System.Text;
using System.Text.Json;

namespace BigBirdSharp.Tokenization;

/// <summary>The special tokens of a <see cref="BigBirdTokenizer"/>; the defaults are HF <c>BigBirdTokenizer</c>'s.</summary>
public sealed record BigBirdSpecialTokens
{
    /// <summary><c>&lt;unk&gt;</c>.</summary>
    public SpecialToken? UnkToken { get; init; } = new("<unk>");
    /// <summary><c>&lt;s&gt;</c>.</summary>
    public SpecialToken? BosToken { get; init; } = new("<s>");
    /// <summary><c>&lt;/s&gt;</c>.</summary>
    public SpecialToken? EosToken { get; init; } = new("</s>");
    /// <summary><c>&lt;pad&gt;</c>.</summary>
    public SpecialToken? PadToken { get; init; } = new("<pad>");
    /// <summary><c>[SEP]</c>.</summary>
    public SpecialToken? SepToken { get; init; } = new("[SEP]");
    /// <summary><c>[CLS]</c>.</summary>
    public SpecialToken? ClsToken { get; init; } = new("[CLS]");
    /// <summary><c>[MASK]</c>, which strips the whitespace on its left.</summary>
    public SpecialToken? MaskToken { get; init; } = new("[MASK]", LStrip: true);
    /// <summary><c>additional_special_tokens</c>. A plain string (no flags) strips whitespace on both sides, as in HF.</summary>
    public IReadOnlyList<(SpecialToken Token, bool IsPlainString)> AdditionalSpecialTokens { get; init; } = [];

    /// <summary>The defaults.</summary>
    public static BigBirdSpecialTokens Default { get; } = new();
}

/// <summary>HF's slow <c>BigBirdTokenizer</c> (transformers 4.27.1) over a SentencePiece model: special tokens in raw
/// text are split out first (longest match, with their lstrip/rstrip), the rest goes through SentencePiece, and the
/// result is framed as <c>[CLS] A [SEP]</c> or <c>[CLS] A [SEP] B [SEP]</c>. Special tokens the vocabulary lacks are
/// added after it, in HF's order. Immutable and thread-safe.</summary>
public sealed class BigBirdTokenizer
{
    private readonly SentencePieceProcessor sp;
    private readonly Dictionary<string, int> addedTokensEncoder = new(StringComparer.Ordinal);
    private readonly Dictionary<int, string> addedTokensDecoder = [];
    // the tokens tokenize never splits, with the whitespace each strips (HF's unique_no_split_tokens)
    private readonly NoSplitTokenSplitter splitter;
    private readonly HashSet<string> allSpecialTokens = new(StringComparer.Ordinal);
    private readonly HashSet<int> allSpecialIds = [];

    /// <summary>The SentencePiece model underneath.</summary>
    internal SentencePieceProcessor SentencePiece => sp;

    /// <summary>Size of the SentencePiece vocabulary (HF <c>vocab_size</c>), without added tokens.</summary>
    public int VocabSize => sp.PieceCount;

    /// <summary>Vocabulary size with added tokens (HF <c>len(tokenizer)</c>).</summary>
    public int Count => sp.PieceCount + addedTokensEncoder.Count;

    /// <summary>Tokens added after the SentencePiece vocabulary, with their ids.</summary>
    public IReadOnlyDictionary<string, int> AddedTokens => addedTokensEncoder;

    /// <summary>The special tokens.</summary>
    public BigBirdSpecialTokens SpecialTokens { get; }

    /// <summary>HF <c>all_special_ids</c>, in HF's order.</summary>
    public IReadOnlyList<int> AllSpecialIds { get; }

    /// <summary><c>model_max_length</c> from <c>tokenizer_config.json</c>, when it is a real length.</summary>
    public int? ModelMaxLength { get; init; }

    /// <summary>True when padding goes on the left (<c>padding_side: "left"</c>); HF's default is the right.</summary>
    public bool PadLeft { get; init; }

    /// <summary>True when truncation removes tokens from the left (<c>truncation_side: "left"</c>); HF's default is the right.</summary>
    public bool TruncateLeft { get; init; }

    /// <summary>Id of <c>[CLS]</c>.</summary>
    public int ClsTokenId { get; }
    /// <summary>Id of <c>[SEP]</c>.</summary>
    public int SepTokenId { get; }
    /// <summary>Id of <c>&lt;pad&gt;</c>.</summary>
    public int PadTokenId { get; }
    /// <summary>Id of <c>[MASK]</c>.</summary>
    public int MaskTokenId { get; }
    /// <summary>Id of <c>&lt;unk&gt;</c>.</summary>
    public int UnkTokenId { get; }

    /// <summary>Creates the tokenizer over a loaded SentencePiece model.</summary>
    /// <param name="sentencePiece">The model.</param>
    /// <param name="specialTokens">Special tokens; BigBirdTokenizer's defaults when null.</param>
    /// <param name="addedTokens">Tokens of <c>added_tokens.json</c>, in id order; each one the vocabulary lacks gets
    /// the next id, before the special tokens are added (as in <c>from_pretrained</c>).</param>
    internal BigBirdTokenizer(SentencePieceProcessor sentencePiece, BigBirdSpecialTokens? specialTokens = null,
                            IReadOnlyList<string>? addedTokens = null)
    {
        sp = sentencePiece;
        SpecialTokens = specialTokens ?? BigBirdSpecialTokens.Default;
        var t = SpecialTokens;
        // all_special_tokens_extended: SPECIAL_TOKENS_ATTRIBUTES order, duplicates removed.
        var noSplit = new Dictionary<string, (SpecialToken Token, bool StripBoth)>(StringComparer.Ordinal);
        var extended = new List<(SpecialToken Token, bool StripBoth)>();
        foreach (var tok in new[] { t.BosToken, t.EosToken, t.UnkToken, t.SepToken, t.PadToken, t.ClsToken, t.MaskToken })
            if (tok is { } v) extended.Add((v, false));
        foreach (var (tok, plain) in t.AdditionalSpecialTokens) extended.Add((tok, plain));
        var ordered = new List<string>();
        foreach (var (tok, plain) in extended)
        {
            if (string.IsNullOrEmpty(tok.Content) || noSplit.ContainsKey(tok.Content)) continue;
            noSplit[tok.Content] = (tok, plain);
            ordered.Add(tok.Content);
        }
        string? unk = t.UnkToken?.Content;
        int unkId = unk is null ? sp.UnkId : sp.PieceToId(unk);
        // added_tokens.json: plain strings, so a non-special one strips the whitespace on both sides in raw text.
        var plainAdded = new List<string>();
        foreach (var s in addedTokens ?? [])
        {
            if (string.IsNullOrEmpty(s) || s == unk || ConvertTokenToId(s) != unkId || addedTokensEncoder.ContainsKey(s)) continue;
            int id = Count;
            addedTokensEncoder[s] = id;
            addedTokensDecoder[id] = s;
            if (!noSplit.ContainsKey(s))
            {
                noSplit[s] = (new SpecialToken(s), true);
                plainAdded.Add(s);
            }
        }
        // sanitize_special_tokens: add those SentencePiece maps to <unk>, in order, after the vocabulary.
        foreach (var s in ordered)
        {
            if (s == unk) continue;
            if (ConvertTokenToId(s) == unkId && !addedTokensEncoder.ContainsKey(s))
            {
                int id = Count;
                addedTokensEncoder[s] = id;
                addedTokensDecoder[id] = s;
            }
        }
        // a plain string (an added token, or an additional special token given as a string) strips both sides
        splitter = new NoSplitTokenSplitter(noSplit.Select(kv =>
            (kv.Key, kv.Value.Token.LStrip || kv.Value.StripBoth, kv.Value.Token.RStrip || kv.Value.StripBoth)));
        var ids = new List<int>();
        foreach (var s in ordered)
        {
            allSpecialTokens.Add(s);
            int id = ConvertTokenToId(s);
            ids.Add(id);
            allSpecialIds.Add(id);
        }
        AllSpecialIds = ids;
        ClsTokenId = t.ClsToken is { } c ? ConvertTokenToId(c.Content) : -1;
        SepTokenId = t.SepToken is { } se ? ConvertTokenToId(se.Content) : -1;
        PadTokenId = t.PadToken is { } p ? ConvertTokenToId(p.Content) : -1;
        MaskTokenId = t.MaskToken is { } m ? ConvertTokenToId(m.Content) : -1;
        UnkTokenId = unkId;
    }

    // ------------------------------------------------------------------------------------------------
    // Loading
    // ------------------------------------------------------------------------------------------------

    /// <summary>Loads a Hugging Face tokenizer folder: <c>spiece.model</c> (or, without it, <c>tokenizer.json</c>),
    /// plus <c>tokenizer_config.json</c> and <c>special_tokens_map.json</c> when present.</summary>
    /// <exception cref="TokenizerFormatException">A file is missing, malformed or unsupported.</exception>
    public static BigBirdTokenizer FromPretrained(string directory)
    {
        if (!Directory.Exists(directory)) throw new TokenizerFormatException(directory, "tokenizer folder not found");
        string spiece = Path.Combine(directory, "spiece.model");
        string json = Path.Combine(directory, "tokenizer.json");
        SentencePieceProcessor model;
        BigBirdSpecialTokens tokens = BigBirdSpecialTokens.Default;
        if (File.Exists(spiece)) model = SentencePieceProcessor.Load(spiece);
        else if (File.Exists(json)) (model, tokens) = TokenizerJson.Load(json);
        else throw new TokenizerFormatException(directory, "the folder has neither spiece.model nor tokenizer.json");

        int? maxLength = null;
        bool padLeft = false, truncLeft = false;
        string config = Path.Combine(directory, "tokenizer_config.json");
        if (File.Exists(config))
        {
            using var doc = ReadJson(config);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new TokenizerFormatException(config, "expected a JSON object");
            tokens = ApplySpecialTokens(tokens, root, config);
            if (root.TryGetProperty("model_max_length", out var mml) && mml.ValueKind == JsonValueKind.Number)
                maxLength = mml.TryGetInt32(out int v) && v > 0 ? v : null;
            padLeft = Side(root, "padding_side", config);
            truncLeft = Side(root, "truncation_side", config);
        }
        string map = Path.Combine(directory, "special_tokens_map.json");
        if (File.Exists(map))
        {
            using var doc = ReadJson(map);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new TokenizerFormatException(map, "expected a JSON object");
            tokens = ApplySpecialTokens(tokens, doc.RootElement, map);
        }
        var added = ReadAddedTokens(Path.Combine(directory, "added_tokens.json"), model.PieceCount);
        return new BigBirdTokenizer(model, tokens, added) { ModelMaxLength = maxLength, PadLeft = padLeft, TruncateLeft = truncLeft };
    }

    /// <summary><c>added_tokens.json</c> ({token: id}) sorted by id; as for HF's slow tokenizers, the ids must run on
    /// from the vocabulary size without gaps.</summary>
    private static List<string>? ReadAddedTokens(string path, int vocabSize)
    {
        if (!File.Exists(path)) return null;
        using var doc = ReadJson(path);
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new TokenizerFormatException(path, "expected a JSON object {token: id}");
        var entries = new List<(string Token, int Id)>();
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id))
                throw new TokenizerFormatException(path, $"the id of '{p.Name}' is not an integer");
            entries.Add((p.Name, id));
        }
        entries.Sort((a, b) => a.Id.CompareTo(b.Id));
        for (int i = 0; i < entries.Count; i++)
            if (entries[i].Id != vocabSize + i)
                throw new TokenizerFormatException(path,
                    $"non-consecutive added token '{entries[i].Token}' found: it has id {entries[i].Id}, expected {vocabSize + i}");
        return entries.Select(e => e.Token).ToList();
    }

    internal static JsonDocument ReadJson(string path)
    {
        try
        {
            byte[] bytes = TokenizerFile.ReadAllBytes(path);
            long bad = JsonStrings.FirstUndecodable(bytes, new JsonReaderOptions { MaxDepth = 64 });
            if (bad >= 0) throw new TokenizerFormatException(path, JsonStrings.Describe(bad));
            return JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw new TokenizerFormatException(path, "malformed JSON: " + e.Message, e);
        }
    }

    private static bool Side(JsonElement root, string name, string file)
    {
        if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return false;
        return v.ValueKind == JsonValueKind.String && v.GetString() is "right" or "left"
            ? v.GetString() == "left"
            : throw new TokenizerFormatException(file, $"{name} must be \"right\" or \"left\"");
    }

    private static BigBirdSpecialTokens ApplySpecialTokens(BigBirdSpecialTokens t, JsonElement root, string file)
    {
        // A string keeps BigBirdTokenizer's flags for that token (its __init__ wraps strings in AddedToken with
        // those defaults); an AddedToken object brings its own flags.
        SpecialToken? Get(string key, SpecialToken? current, bool lstripDefault)
        {
            if (!root.TryGetProperty(key, out var v)) return current;
            return v.ValueKind switch
            {
                JsonValueKind.Null => null,
                JsonValueKind.String => new SpecialToken(v.GetString()!, lstripDefault, false),
                JsonValueKind.Object => ParseAddedToken(v, key, file),
                _ => throw new TokenizerFormatException(file, $"{key} must be a string or an AddedToken object"),
            };
        }
        var result = t with
        {
            UnkToken = Get("unk_token", t.UnkToken, false),
            BosToken = Get("bos_token", t.BosToken, false),
            EosToken = Get("eos_token", t.EosToken, false),
            PadToken = Get("pad_token", t.PadToken, false),
            SepToken = Get("sep_token", t.SepToken, false),
            ClsToken = Get("cls_token", t.ClsToken, false),
            MaskToken = Get("mask_token", t.MaskToken, true),
        };
        if (root.TryGetProperty("additional_special_tokens", out var add) && add.ValueKind != JsonValueKind.Null)
        {
            if (add.ValueKind != JsonValueKind.Array) throw new TokenizerFormatException(file, "additional_special_tokens must be a list");
            var list = new List<(SpecialToken, bool)>();
            foreach (var e in add.EnumerateArray())
            {
                if (e.ValueKind == JsonValueKind.String) list.Add((new SpecialToken(e.GetString()!), true));
                else if (e.ValueKind == JsonValueKind.Object) list.Add((ParseAddedToken(e, "additional_special_tokens", file), false));
                else throw new TokenizerFormatException(file, "additional_special_tokens entries must be strings or AddedToken objects");
            }
            result = result with { AdditionalSpecialTokens = list };
        }
        return result;
    }

    internal static SpecialToken ParseAddedToken(JsonElement v, string key, string file)
    {
        if (!v.TryGetProperty("content", out var c) || c.ValueKind != JsonValueKind.String)
            throw new TokenizerFormatException(file, $"{key} has no string \"content\"");
        static bool Flag(JsonElement o, string name) => o.TryGetProperty(name, out var f) && f.ValueKind == JsonValueKind.True;
        return new SpecialToken(c.GetString()!, Flag(v, "lstrip"), Flag(v, "rstrip"));
    }

    // ------------------------------------------------------------------------------------------------
    // Tokens and ids
    // ------------------------------------------------------------------------------------------------

    /// <summary>HF <c>convert_tokens_to_ids</c> for one token: added tokens first, then SentencePiece (unknown
    /// pieces give the unknown id).</summary>
    public int ConvertTokenToId(string token) =>
        addedTokensEncoder.TryGetValue(token, out int id) ? id : sp.PieceToId(token);

    /// <summary>HF <c>convert_ids_to_tokens</c>.</summary>
    /// <exception cref="BigBirdInputException">An id is outside the vocabulary and the added tokens (HF's slow
    /// BigBirdTokenizer fails there too, with SentencePiece's "piece id is out of range"): typically a model whose
    /// vocab_size is larger than its tokenizer's. The message names the tokenizer file, the id and the bounds.</exception>
    public string[] ConvertIdsToTokens(ReadOnlySpan<int> ids, bool skipSpecialTokens = false)
    {
        var tokens = new List<string>(ids.Length);
        foreach (int id in ids)
        {
            if (skipSpecialTokens && allSpecialIds.Contains(id)) continue;
            if (addedTokensDecoder.TryGetValue(id, out var s)) tokens.Add(s);
            else if ((uint)id < (uint)sp.PieceCount) tokens.Add(sp.IdToPiece(id));
            else
                throw new BigBirdInputException(
                    $"{sp.FilePath}: token id {id} is out of range: the tokenizer has {Count} ids [0, {Count}). A model whose vocab_size is " +
                    "larger than its tokenizer's predicted it; use the tokenizer that was trained with this checkpoint.");
        }
        return [.. tokens];
    }

    /// <summary>The file the SentencePiece model was read from (<c>spiece.model</c> or <c>tokenizer.json</c>).</summary>
    public string FilePath => sp.FilePath;

    /// <summary>HF <c>tokenize</c>: the token strings of <paramref name="text"/>, without <c>[CLS]</c>/<c>[SEP]</c>
    /// framing. As in SentencePiece, a run of unknown characters is one token spelled as the (normalized) run.</summary>
    public string[] Tokenize(string text)
    {
        var pieces = new List<(int Id, TokenOffset Offset)>();
        var tokens = new List<string>();
        EncodeText(text, pieces, tokens);
        return [.. tokens];
    }

    /// <summary>Python's <c>str.isspace</c> for one UTF-16 unit (every Unicode space is in the BMP).</summary>
    internal static bool IsPythonSpace(char c) => char.IsWhiteSpace(c) || c is >= '\x1c' and <= '\x1f';

    /// <summary>The ids and offsets of one text (HF <c>tokenize</c> then <c>convert_tokens_to_ids</c>).</summary>
    private void EncodeText(string text, List<(int Id, TokenOffset Offset)> output, List<string>? tokens = null)
    {
        if (text.Length == 0) return;
        var segments = splitter.Split(text);
        Utf8Text? utf8 = null;
        var raw = new GrowBuffer<RawPiece>(16);
        var norm = new GrowBuffer<byte>(64);
        foreach (var s in segments)
        {
            if (s.End <= s.Start) continue;
            if (s.IsToken)
            {
                string content = text.Substring(s.Start, s.End - s.Start);
                output.Add((ConvertTokenToId(content), new TokenOffset(s.Start, s.End)));
                tokens?.Add(content);
                continue;
            }
            var u = utf8 ??= Utf8Text.From(text);
            int b0 = u.CharToByte[s.Start], b1 = u.CharToByte[s.End];
            raw.Count = 0;
            sp.EncodeUtf8(u.Bytes.AsSpan(b0, b1 - b0), ref raw, ref norm);
            for (int i = 0; i < raw.Count; i++)
            {
                ref var p = ref raw.Items[i];
                int id = p.Id;
                if (p.MergedUnknown)
                {
                    // HF maps the piece *string* back to an id: added tokens first, then piece_to_id.
                    var pieceBytes = norm.Items.AsSpan(p.NormBegin, p.NormEnd - p.NormBegin);
                    string? piece = addedTokensEncoder.Count > 0 || tokens is not null ? Encoding.UTF8.GetString(pieceBytes) : null;
                    id = piece is not null && addedTokensEncoder.TryGetValue(piece, out int a) ? a : sp.PieceToId(pieceBytes);
                    tokens?.Add(piece!);
                }
                else tokens?.Add(sp.IdToPiece(id));
                output.Add((id, new TokenOffset(u.ByteToChar[b0 + p.OrigBegin], u.ByteToChar[b0 + p.OrigEnd])));
            }
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Encoding
    // ------------------------------------------------------------------------------------------------

    /// <summary>Encodes a text, or a pair, as HF's <c>tokenizer(text, text_pair, ...)</c> does; token type ids and
    /// the attention mask are always filled.</summary>
    /// <exception cref="ArgumentException">Incompatible options (as in HF: truncation and padding with a
    /// <c>max_length</c> that is not a multiple of <c>pad_to_multiple_of</c>).</exception>
    public TokenizerEncoding Encode(string text, string? textPair = null, TokenizerEncodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        options ??= TokenizerEncodeOptions.Default;
        var (padding, truncation, maxLength) = Resolve(options);
        var row = Prepare(text, textPair, options.AddSpecialTokens, truncation, maxLength);
        int target = padding switch
        {
            PaddingStrategy.Longest => row.Length,
            PaddingStrategy.MaxLength => maxLength!.Value,
            _ => -1,
        };
        return padding == PaddingStrategy.DoNotPad ? row : Pad(row, RoundUp(target, options.PadToMultipleOf));
    }

    /// <summary>Encodes a batch, as HF's <c>tokenizer(texts, text_pairs, ...)</c>: each row is truncated alone, then
    /// all are padded together (to the longest row or to <c>MaxLength</c>, rounded up to <c>PadToMultipleOf</c>).</summary>
    /// <exception cref="ArgumentException">Pairs and texts differ in count, or incompatible options.</exception>
    public TokenizerEncoding[] EncodeBatch(IReadOnlyList<string> texts, IReadOnlyList<string>? textPairs = null,
                                           TokenizerEncodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(texts);
        options ??= TokenizerEncodeOptions.Default;
        if (texts.Any(t => t is null) || (textPairs?.Any(t => t is null) ?? false))
            throw new ArgumentException("texts and text pairs must not contain null", nameof(texts));
        if (textPairs is not null && textPairs.Count != texts.Count)
            throw new ArgumentException($"{texts.Count} texts but {textPairs.Count} text pairs", nameof(textPairs));
        var (padding, truncation, maxLength) = Resolve(options);
        var rows = new TokenizerEncoding[texts.Count];
        for (int i = 0; i < rows.Length; i++)
            rows[i] = Prepare(texts[i], textPairs?[i], options.AddSpecialTokens, truncation, maxLength);
        if (padding == PaddingStrategy.DoNotPad) return rows;
        int target = padding == PaddingStrategy.Longest ? rows.Select(r => r.Length).DefaultIfEmpty(0).Max() : maxLength!.Value;
        target = RoundUp(target, options.PadToMultipleOf);
        for (int i = 0; i < rows.Length; i++) rows[i] = Pad(rows[i], target);
        return rows;
    }

    private (PaddingStrategy, TruncationStrategy, int?) Resolve(TokenizerEncodeOptions o)
    {
        if (o.MaxLength is < 0) throw new ArgumentException("MaxLength must not be negative", nameof(o));
        if (o.PadToMultipleOf is <= 0) throw new ArgumentException("PadToMultipleOf must be positive", nameof(o));
        int? maxLength = o.MaxLength;
        var padding = o.Padding;
        var truncation = o.Truncation;
        if (maxLength is null)
        {
            // HF falls back to model_max_length, and drops the strategy when that is not a real length.
            if (padding == PaddingStrategy.MaxLength)
            {
                if (ModelMaxLength is { } m) maxLength = m;
                else padding = PaddingStrategy.DoNotPad;
            }
            if (truncation != TruncationStrategy.DoNotTruncate)
            {
                if (ModelMaxLength is { } m) maxLength = m;
                else truncation = TruncationStrategy.DoNotTruncate;
            }
        }
        if (padding != PaddingStrategy.DoNotPad && PadTokenId < 0)
            throw new ArgumentException("Asking to pad but the tokenizer does not have a padding token.", nameof(o));
        if (truncation != TruncationStrategy.DoNotTruncate && padding != PaddingStrategy.DoNotPad &&
            o.PadToMultipleOf is { } k && maxLength is { } ml && ml % k != 0)
            throw new ArgumentException(
                $"Truncation and padding are both activated but truncation length ({ml}) is not a multiple of pad_to_multiple_of ({k}).", nameof(o));
        return (padding, truncation, maxLength);
    }

    private static int RoundUp(int length, int? multiple) =>
        multiple is { } m && length % m != 0 ? (length / m + 1) * m : length;

    /// <summary>HF <c>prepare_for_model</c> without padding.</summary>
    private TokenizerEncoding Prepare(string text, string? pair, bool addSpecial, TruncationStrategy truncation, int? maxLength)
    {
        var a = new List<(int Id, TokenOffset Offset)>();
        EncodeText(text, a);
        List<(int Id, TokenOffset Offset)>? b = null;
        if (pair is not null)
        {
            b = [];
            EncodeText(pair, b);
        }
        int specials = addSpecial ? (b is null ? 2 : 3) : 0;
        int total = a.Count + (b?.Count ?? 0) + specials;
        if (truncation != TruncationStrategy.DoNotTruncate && maxLength is { } max && total > max)
            Truncate(a, b, total - max, truncation);

        int n = a.Count + (b?.Count ?? 0) + specials;
        var ids = new int[n];
        var types = new int[n];
        var special = new int[n];
        var offsets = new TokenOffset[n];
        var seq = new int[n];
        int k = 0;
        void Add(int id, int type, int isSpecial, TokenOffset off, int sequence)
        {
            ids[k] = id;
            types[k] = type;
            special[k] = isSpecial;
            offsets[k] = off;
            seq[k] = sequence;
            k++;
        }
        if (addSpecial) Add(ClsTokenId, 0, 1, default, -1);
        foreach (var (id, off) in a) Add(id, 0, 0, off, 0);
        if (addSpecial) Add(SepTokenId, 0, 1, default, -1);
        if (b is not null)
        {
            int type = addSpecial ? 1 : 0;
            foreach (var (id, off) in b) Add(id, type, 0, off, 1);
            if (addSpecial) Add(SepTokenId, 1, 1, default, -1);
        }
        var mask = new int[n];
        Array.Fill(mask, 1);
        return new TokenizerEncoding
        {
            InputIds = ids, TokenTypeIds = types, AttentionMask = mask, SpecialTokensMask = special,
            Offsets = offsets, SequenceIds = seq,
        };
    }

    /// <summary>HF <c>truncate_sequences</c> with stride 0. Like HF, a strategy that cannot remove enough tokens
    /// from its sequence leaves it whole (HF logs an error).</summary>
    private void Truncate(List<(int, TokenOffset)> a, List<(int, TokenOffset)>? b, int remove, TruncationStrategy strategy) =>
        EncodingShape.Truncate(a, b, remove, strategy, TruncateLeft);

    private TokenizerEncoding Pad(TokenizerEncoding row, int target) => EncodingShape.Pad(row, target, PadTokenId, PadLeft);

    // ------------------------------------------------------------------------------------------------
    // Decoding
    // ------------------------------------------------------------------------------------------------

    /// <summary>HF <c>BigBirdTokenizer.decode</c> (4.27.1): added tokens stand alone, runs of other tokens go through
    /// <see cref="ConvertTokensToString"/>, the parts are joined with spaces, the space before <c>[MASK]</c> and
    /// <c>[SEP]</c> is dropped, then <c>clean_up_tokenization</c>.</summary>
    /// <exception cref="BigBirdInputException">An id is outside the vocabulary and the added tokens (see <see cref="ConvertIdsToTokens"/>).</exception>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false, bool cleanUpTokenizationSpaces = true,
                         bool spacesBetweenSpecialTokens = true)
    {
        var tokens = ConvertIdsToTokens(ids, skipSpecialTokens);
        var subTexts = new List<string>();
        var current = new List<string>();
        foreach (var token in tokens)
        {
            if (addedTokensEncoder.ContainsKey(token))
            {
                if (current.Count > 0)
                {
                    subTexts.Add(ConvertTokensToString(current));
                    current.Clear();
                }
                subTexts.Add(token);
            }
            else current.Add(token);
        }
        if (current.Count > 0) subTexts.Add(ConvertTokensToString(current));
        string text = spacesBetweenSpecialTokens
            ? string.Join(" ", subTexts).Replace(" [MASK]", "[MASK]", StringComparison.Ordinal).Replace(" [SEP]", "[SEP]", StringComparison.Ordinal)
            : string.Concat(subTexts);
        return cleanUpTokenizationSpaces ? CleanUpTokenization(text) : text;
    }

    /// <summary>HF <c>BigBirdTokenizer.convert_tokens_to_string</c>: special tokens are written as they are, with a
    /// space before each run of them; the pieces between are decoded by SentencePiece; the result is stripped.</summary>
    public string ConvertTokensToString(IReadOnlyList<string> tokens)
    {
        var current = new List<string>();
        var output = new StringBuilder();
        bool prevIsSpecial = false;
        foreach (var token in tokens)
        {
            if (allSpecialTokens.Contains(token))
            {
                if (!prevIsSpecial) output.Append(' ');
                output.Append(sp.DecodePieces(current)).Append(token);
                prevIsSpecial = true;
                current.Clear();
            }
            else
            {
                current.Add(token);
                prevIsSpecial = false;
            }
        }
        output.Append(sp.DecodePieces(current));
        return PythonStrip(output.ToString());
    }

    private static string PythonStrip(string s)
    {
        int start = 0, end = s.Length;
        while (start < end && IsPythonSpace(s[start])) start++;
        while (end > start && IsPythonSpace(s[end - 1])) end--;
        return s[start..end];
    }

    /// <summary>HF <c>clean_up_tokenization</c>: removes the space before . ? ! , and English contractions.</summary>
    public static string CleanUpTokenization(string text) => text
        .Replace(" .", ".", StringComparison.Ordinal).Replace(" ?", "?", StringComparison.Ordinal)
        .Replace(" !", "!", StringComparison.Ordinal).Replace(" ,", ",", StringComparison.Ordinal)
        .Replace(" ' ", "'", StringComparison.Ordinal).Replace(" n't", "n't", StringComparison.Ordinal)
        .Replace(" 'm", "'m", StringComparison.Ordinal).Replace(" 's", "'s", StringComparison.Ordinal)
        .Replace(" 've", "'ve", StringComparison.Ordinal).Replace(" 're", "'re", StringComparison.Ordinal);
}
