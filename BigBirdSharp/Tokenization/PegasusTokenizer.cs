using System.Text;
using System.Text.Json;

namespace BigBirdSharp.Tokenization;

/// <summary>HF's slow <c>PegasusTokenizer</c> (transformers 4.27.1, <c>tokenization_pegasus.py</c>), the tokenizer of
/// the <c>google/bigbird-pegasus-large-*</c> folders, over a SentencePiece model.
/// <para>Ids 0 to <see cref="Offset"/> + 1 form a fixed table: <c>&lt;pad&gt;</c> 0, <c>&lt;/s&gt;</c> 1,
/// <c>&lt;mask_1&gt;</c> 2, <c>&lt;mask_2&gt;</c> 3, then the additional special tokens (<c>&lt;unk_2&gt;</c> …
/// <c>&lt;unk_102&gt;</c> by default); every SentencePiece id is shifted up by <see cref="Offset"/> (103 by default),
/// and table entries win over the pieces they cover. Special tokens in raw text are split out first; a sequence is
/// <c>A &lt;/s&gt;</c>, a pair <c>A B &lt;/s&gt;</c> (no separator). Loading follows <c>from_pretrained</c>:
/// <c>tokenizer_config.json</c> gives the constructor's arguments, <c>special_tokens_map.json</c> then replaces the
/// special-token attributes (not the id table), <c>added_tokens.json</c> adds tokens, and special tokens that resolve
/// to the unknown id are added after the vocabulary. Immutable and thread-safe.</para></summary>
public sealed class PegasusTokenizer
{
    /// <summary>A special-token value: a plain string (eats the whitespace on both sides in raw text) or an
    /// <c>AddedToken</c> with its own flags. Equality is HF's (a string never equals an AddedToken).</summary>
    private readonly record struct Tok(string Content, bool IsAddedToken, bool LStrip = false, bool RStrip = false,
                                       bool SingleWord = false, bool Normalized = true)
    {
        public static Tok Plain(string s) => new(s, false);
    }

    /// <summary>The special-token attributes of HF's <c>SpecialTokensMixin</c> (null: not set).</summary>
    private sealed record Attributes
    {
        public Tok? Bos, Eos, Unk, Sep, Pad, Cls, Mask;
        public List<Tok> Additional = [];

        public IEnumerable<Tok> Extended()
        {
            // all_special_tokens_extended: SPECIAL_TOKENS_ATTRIBUTES order, equal values once
            var seen = new HashSet<Tok>();
            foreach (var t in new[] { Bos, Eos, Unk, Sep, Pad, Cls, Mask }.Concat(Additional.Select(a => (Tok?)a)))
                if (t is { } v && seen.Add(v)) yield return v;
        }
    }

    private readonly SentencePieceProcessor sp;
    private readonly Dictionary<int, string> encoder = [];
    private readonly Dictionary<string, int> decoder = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> addedTokensEncoder = new(StringComparer.Ordinal);
    private readonly Dictionary<int, string> addedTokensDecoder = [];
    /// <summary>SentencePiece ids whose piece string is an added token or in the id table: their id is that one.</summary>
    private readonly Dictionary<int, int> pieceOverride = [];
    private readonly NoSplitTokenSplitter splitter;
    private readonly HashSet<string> allSpecialTokenSet = new(StringComparer.Ordinal);
    private readonly HashSet<int> allSpecialIdSet = [];
    private readonly HashSet<int> maskedSpecialIds = [];

    /// <summary>The SentencePiece model underneath.</summary>
    internal SentencePieceProcessor SentencePiece => sp;

    /// <summary>The file the SentencePiece model was read from.</summary>
    public string FilePath => sp.FilePath;

    /// <summary>How far SentencePiece ids are shifted (HF <c>offset</c>, 103 by default).</summary>
    public int Offset { get; }

    /// <summary>HF <c>vocab_size</c>: the SentencePiece pieces plus <see cref="Offset"/>, without added tokens.</summary>
    public int VocabSize => sp.PieceCount + Offset;

    /// <summary>Vocabulary size with added tokens (HF <c>len(tokenizer)</c>).</summary>
    public int Count => VocabSize + addedTokensEncoder.Count;

    /// <summary>Tokens added after the vocabulary (from <c>added_tokens.json</c>, and special tokens that would
    /// otherwise be unknown), with their ids.</summary>
    public IReadOnlyDictionary<string, int> AddedTokens => addedTokensEncoder;

    /// <summary>HF <c>all_special_tokens</c>, in HF's order.</summary>
    public IReadOnlyList<string> AllSpecialTokens { get; }

    /// <summary>HF <c>all_special_ids</c>, in HF's order.</summary>
    public IReadOnlyList<int> AllSpecialIds { get; }

    /// <summary>The sentence mask token (<c>mask_token_sent</c>, <c>&lt;mask_1&gt;</c> by default), or null.</summary>
    public string? MaskTokenSent { get; }

    /// <summary>The additional special tokens (HF <c>additional_special_tokens</c>).</summary>
    public IReadOnlyList<string> AdditionalSpecialTokens { get; }

    /// <summary>Id of <c>&lt;pad&gt;</c> (0 by default).</summary>
    public int PadTokenId { get; }
    /// <summary>Id of <c>&lt;/s&gt;</c> (1 by default), which ends every sequence.</summary>
    public int EosTokenId { get; }
    /// <summary>Id of <c>&lt;unk&gt;</c>: the SentencePiece unknown piece plus the offset (105 when, as in Pegasus, &lt;unk&gt; is SentencePiece id 2).</summary>
    public int UnkTokenId { get; }
    /// <summary>Id of the mask token (<c>&lt;mask_2&gt;</c>, 3 by default), or -1 when there is none.</summary>
    public int MaskTokenId { get; }

    /// <summary><c>model_max_length</c> from <c>tokenizer_config.json</c>, when it is a real length.</summary>
    public int? ModelMaxLength { get; }

    /// <summary>True when padding goes on the left (<c>padding_side: "left"</c>).</summary>
    public bool PadLeft { get; }

    /// <summary>True when truncation removes tokens from the left (<c>truncation_side: "left"</c>).</summary>
    public bool TruncateLeft { get; }

    private PegasusTokenizer(SentencePieceProcessor sentencePiece, int offset, string? maskTokenSent, List<Tok> initAdditional,
                             Attributes table, Attributes attributes, IReadOnlyList<string> addedTokensFile, int? modelMaxLength,
                             bool padLeft, bool truncateLeft)
    {
        sp = sentencePiece;
        Offset = offset;
        MaskTokenSent = maskTokenSent;
        ModelMaxLength = modelMaxLength;
        PadLeft = padLeft;
        TruncateLeft = truncateLeft;
        // __init__: the fixed table; a later entry with the same string wins in the reverse map
        encoder[0] = table.Pad!.Value.Content;
        encoder[1] = table.Eos!.Value.Content;
        if (maskTokenSent is not null)
        {
            encoder[2] = maskTokenSent;
            encoder[3] = table.Mask!.Value.Content;
        }
        for (int i = 1; i < offset - 1; i++) encoder[i + 3] = initAdditional[i].Content;
        foreach (var (id, s) in encoder.OrderBy(p => p.Key)) decoder[s] = id;
        AdditionalSpecialTokens = [.. attributes.Additional.Select(t => t.Content)];
        // pieceOverride is filled as tokens are added; the id table's strings are known now
        foreach (var s in decoder.Keys) OverridePiece(s);

        string? unk = attributes.Unk?.Content;
        var specialContents = attributes.Extended().Select(t => t.Content).ToList();
        var noSplit = new List<string>();
        // added_tokens.json: a special token goes into the no-split set even when it is not added
        foreach (var s in addedTokensFile)
        {
            bool added = AddToken(s, unk);
            if (added || specialContents.Contains(s)) noSplit.Add(s);
        }
        // sanitize_special_tokens: every special token is added when it resolves to the unknown id, and never split
        foreach (var s in specialContents)
        {
            AddToken(s, unk);
            noSplit.Add(s);
        }
        // tokenize(): an AddedToken special token strips as its flags say (the last one with that content wins),
        // anything else strips both sides
        var flags = new Dictionary<string, (bool, bool)>(StringComparer.Ordinal);
        foreach (var t in attributes.Extended())
            if (t.IsAddedToken) flags[t.Content] = (t.LStrip, t.RStrip);
        splitter = new NoSplitTokenSplitter(noSplit.Select(s => flags.TryGetValue(s, out var f) ? (s, f.Item1, f.Item2) : (s, true, true)));

        AllSpecialTokens = specialContents;
        var ids = new List<int>();
        foreach (var s in specialContents)
        {
            allSpecialTokenSet.Add(s);
            int id = ConvertTokenToId(s);
            ids.Add(id);
            allSpecialIdSet.Add(id);
        }
        AllSpecialIds = ids;
        PadTokenId = ConvertTokenToId(attributes.Pad!.Value.Content);
        EosTokenId = ConvertTokenToId(attributes.Eos!.Value.Content);
        UnkTokenId = ConvertTokenToId(attributes.Unk!.Value.Content);
        MaskTokenId = attributes.Mask is { } m ? ConvertTokenToId(m.Content) : -1;
        // get_special_tokens_mask: the special ids but <unk>, which is "only sometimes special"
        maskedSpecialIds.UnionWith(allSpecialIdSet);
        maskedSpecialIds.Remove(UnkTokenId);
    }

    /// <summary>HF <c>_add_tokens</c> for one token: added after the vocabulary when it is not the unknown token but
    /// resolves to the unknown id.</summary>
    private bool AddToken(string s, string? unk)
    {
        if (s.Length == 0 || unk is null || s == unk || addedTokensEncoder.ContainsKey(s)) return false;
        if (ConvertTokenToId(s) != ConvertTokenToId(unk)) return false;
        int id = Count;
        addedTokensEncoder[s] = id;
        addedTokensDecoder[id] = s;
        OverridePiece(s);
        return true;
    }

    private void OverridePiece(string s)
    {
        int spId = sp.PieceToId(s);
        if (sp.IdToPiece(spId) == s) pieceOverride[spId] = ConvertTokenToId(s);
    }

    // ------------------------------------------------------------------------------------------------
    // Loading
    // ------------------------------------------------------------------------------------------------

    /// <summary>Loads a Hugging Face Pegasus tokenizer folder: <c>spiece.model</c>, plus <c>tokenizer_config.json</c>,
    /// <c>special_tokens_map.json</c> and <c>added_tokens.json</c> when present (as <c>from_pretrained</c> does).</summary>
    /// <exception cref="TokenizerFormatException">A file is missing, malformed, or holds what HF's PegasusTokenizer
    /// refuses (additional special tokens that are not a list, or that repeat a token, or an incorrectly shifted
    /// <c>&lt;unk_N&gt;</c> list; no <c>mask_token_sent</c> with no additional special tokens); the message names the
    /// file and the field.</exception>
    public static PegasusTokenizer FromPretrained(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory)) throw new TokenizerFormatException(directory, "tokenizer folder not found");
        string spiece = Path.Combine(directory, "spiece.model");
        if (!File.Exists(spiece))
            throw new TokenizerFormatException(spiece,
                "PegasusTokenizer needs spiece.model (the SentencePiece model); tokenizer.json, the fast tokenizer's file, is not read for Pegasus");
        var model = SentencePieceProcessor.Load(spiece);

        // tokenizer_config.json: PegasusTokenizer.__init__'s arguments
        var a = new Attributes { Eos = Tok.Plain("</s>"), Unk = Tok.Plain("<unk>"), Pad = Tok.Plain("<pad>"), Mask = Tok.Plain("<mask_2>") };
        string? maskSent = "<mask_1>";
        List<Tok>? additional = null;
        int offset = 103;
        int? maxLength = null;
        bool padLeft = false, truncLeft = false;
        string config = Path.Combine(directory, "tokenizer_config.json");
        if (File.Exists(config))
        {
            using var doc = BigBirdTokenizer.ReadJson(config);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new TokenizerFormatException(config, "expected a JSON object");
            a.Bos = ConfigToken(root, "bos_token", a.Bos, config);
            a.Eos = ConfigToken(root, "eos_token", a.Eos, config);
            a.Unk = ConfigToken(root, "unk_token", a.Unk, config);
            a.Sep = ConfigToken(root, "sep_token", a.Sep, config);
            a.Pad = ConfigToken(root, "pad_token", a.Pad, config);
            a.Cls = ConfigToken(root, "cls_token", a.Cls, config);
            a.Mask = ConfigToken(root, "mask_token", a.Mask, config);
            if (root.TryGetProperty("mask_token_sent", out var ms))
            {
                maskSent = ms.ValueKind switch
                {
                    JsonValueKind.Null => null,
                    JsonValueKind.String => ms.GetString(),
                    _ => throw new TokenizerFormatException(config,
                        "mask_token_sent must be a string or null (as an AddedToken it would key PegasusTokenizer's id table by the object, which HF cannot look up)"),
                };
            }
            if (root.TryGetProperty("additional_special_tokens", out var ast) && ast.ValueKind != JsonValueKind.Null)
            {
                if (ast.ValueKind != JsonValueKind.Array)
                    throw new TokenizerFormatException(config, $"additional_special_tokens should be a list, but is a JSON {ast.ValueKind.ToString().ToLowerInvariant()}");
                additional = [];
                foreach (var e in ast.EnumerateArray())
                {
                    if (e.ValueKind == JsonValueKind.String) additional.Add(Tok.Plain(e.GetString()!));
                    else if (IsTypedAddedToken(e))
                        throw new TokenizerFormatException(config,
                            "additional_special_tokens holds an AddedToken: PegasusTokenizer puts these entries in its id table as they are, and HF 4.27.1 then cannot look them up; write them as strings");
                    else throw new TokenizerFormatException(config, "additional_special_tokens entries must be strings");
                }
            }
            if (root.TryGetProperty("offset", out var off) && off.ValueKind != JsonValueKind.Null)
            {
                if (off.ValueKind != JsonValueKind.Number || !off.TryGetInt32(out offset) || offset < 0 || offset > 1_000_000)
                    throw new TokenizerFormatException(config, $"offset must be an integer in [0, 1000000], not {off.GetRawText()}");
            }
            if (root.TryGetProperty("model_max_length", out var mml) && mml.ValueKind == JsonValueKind.Number)
                maxLength = mml.TryGetInt32(out int v) && v > 0 ? v : null;
            padLeft = Side(root, "padding_side", config);
            truncLeft = Side(root, "truncation_side", config);
        }
        foreach (var (name, tok) in new[] { ("pad_token", a.Pad), ("eos_token", a.Eos), ("unk_token", a.Unk) })
            if (tok is null) throw new TokenizerFormatException(config, $"{name} is null: PegasusTokenizer needs pad, eos and unk tokens");
        if (maskSent is not null && a.Mask is null)
            throw new TokenizerFormatException(config, "mask_token is null but mask_token_sent is set: PegasusTokenizer gives id 3 to the mask token");

        // __init__: the additional special tokens, completed with <unk_N> up to offset - 1 entries
        if (additional is not null)
        {
            var extended = maskSent is not null && !additional.Contains(Tok.Plain(maskSent)) ? [Tok.Plain(maskSent), .. additional] : additional;
            for (int i = extended.Count; i < offset - 1; i++) extended.Add(Tok.Plain($"<unk_{i}>"));
            if (extended.Distinct().Count() != extended.Count)
                throw new TokenizerFormatException(config,
                    "additional_special_tokens: make sure they do not repeat a token or hold an incorrectly shifted list of <unk_x> tokens; with " +
                    $"mask_token_sent and the <unk_x> fill they are [{string.Join(", ", extended.Select(t => t.Content))}]");
            additional = extended;
        }
        else
        {
            additional = maskSent is not null ? [Tok.Plain(maskSent)] : [];
            for (int i = 2; i < offset; i++) additional.Add(Tok.Plain($"<unk_{i}>"));
        }
        if (additional.Count < offset - 1)
            throw new TokenizerFormatException(config,
                $"mask_token_sent is null, so the {additional.Count} additional special tokens cannot fill ids 4 to {offset + 1} (HF fails with an IndexError); " +
                "give mask_token_sent or list the additional special tokens");
        a.Additional = additional;
        var initAdditional = additional;
        var initAttributes = a with { Additional = [.. additional] };

        // special_tokens_map.json: replaces the attributes after __init__ (the id table stays as it was built)
        string map = Path.Combine(directory, "special_tokens_map.json");
        var attrs = initAttributes with { Additional = [.. additional] };
        if (File.Exists(map))
        {
            using var doc = BigBirdTokenizer.ReadJson(map);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new TokenizerFormatException(map, "expected a JSON object");
            attrs.Bos = MapToken(root, "bos_token", attrs.Bos, map);
            attrs.Eos = MapToken(root, "eos_token", attrs.Eos, map);
            attrs.Unk = MapToken(root, "unk_token", attrs.Unk, map);
            attrs.Sep = MapToken(root, "sep_token", attrs.Sep, map);
            attrs.Pad = MapToken(root, "pad_token", attrs.Pad, map);
            attrs.Cls = MapToken(root, "cls_token", attrs.Cls, map);
            attrs.Mask = MapToken(root, "mask_token", attrs.Mask, map);
            if (root.TryGetProperty("additional_special_tokens", out var ast))
            {
                if (ast.ValueKind == JsonValueKind.Null) attrs.Additional = [];
                else if (ast.ValueKind != JsonValueKind.Array) throw new TokenizerFormatException(map, "additional_special_tokens must be a list");
                else
                {
                    var list = new List<Tok>();
                    foreach (var e in ast.EnumerateArray())
                    {
                        if (e.ValueKind == JsonValueKind.String) list.Add(Tok.Plain(e.GetString()!));
                        else if (e.ValueKind == JsonValueKind.Object) list.Add(ParseAddedToken(e, "additional_special_tokens", map));
                        else throw new TokenizerFormatException(map, "additional_special_tokens entries must be strings or AddedToken objects");
                    }
                    attrs.Additional = list;
                }
            }
            foreach (var (name, tok) in new[] { ("pad_token", attrs.Pad), ("eos_token", attrs.Eos), ("unk_token", attrs.Unk) })
                if (tok is null) throw new TokenizerFormatException(map, $"{name} is null: PegasusTokenizer needs pad, eos and unk tokens");
        }
        var added = ReadAddedTokens(Path.Combine(directory, "added_tokens.json"), model.PieceCount + offset);
        return new PegasusTokenizer(model, offset, maskSent, initAdditional, initAttributes, attrs, added, maxLength, padLeft, truncLeft);
    }

    /// <summary>Whether the folder's <c>tokenizer_config.json</c> names <c>PegasusTokenizer</c> (or its fast twin) as its
    /// <c>tokenizer_class</c>, as the <c>google/bigbird-pegasus-large-*</c> folders do: for callers that choose between
    /// this tokenizer and <see cref="BigBirdTokenizer"/>. False when there is no such file or field.</summary>
    /// <exception cref="TokenizerFormatException">The file is malformed.</exception>
    internal static bool NamesPegasusTokenizer(string directory)
    {
        string config = Path.Combine(directory, "tokenizer_config.json");
        if (!File.Exists(config)) return false;
        using var doc = BigBirdTokenizer.ReadJson(config);
        return doc.RootElement.ValueKind == JsonValueKind.Object &&
               doc.RootElement.TryGetProperty("tokenizer_class", out var c) && c.ValueKind == JsonValueKind.String &&
               c.GetString() is "PegasusTokenizer" or "PegasusTokenizerFast";
    }

    /// <summary><c>added_tokens.json</c> ({token: id}) sorted by id; as for HF's slow tokenizers, the ids must run on
    /// from <c>len(tokenizer)</c> (the vocabulary size) without gaps.</summary>
    private static List<string> ReadAddedTokens(string path, int vocabSize)
    {
        if (!File.Exists(path)) return [];
        using var doc = BigBirdTokenizer.ReadJson(path);
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new TokenizerFormatException(path, "expected a JSON object {token: id}");
        var entries = new List<(string Token, int Id)>();
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id))
                throw new TokenizerFormatException(path, $"the id of '{p.Name}' is not an integer");
            entries.Add((p.Name, id));
        }
        entries.Sort((x, y) => x.Id.CompareTo(y.Id));
        for (int i = 0; i < entries.Count; i++)
            if (entries[i].Id != vocabSize + i)
                throw new TokenizerFormatException(path,
                    $"non-consecutive added token '{entries[i].Token}' found: it has id {entries[i].Id}, expected {vocabSize + i} " +
                    $"(the vocabulary, SentencePiece pieces plus the offset, has {vocabSize} ids)");
        return entries.Select(e => e.Token).ToList();
    }

    private static bool IsTypedAddedToken(JsonElement e) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty("__type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == "AddedToken";

    /// <summary>A special token of tokenizer_config.json: a string, an <c>{"__type": "AddedToken", ...}</c> object, or
    /// null; HF refuses anything else.</summary>
    private static Tok? ConfigToken(JsonElement root, string key, Tok? current, string file)
    {
        if (!root.TryGetProperty(key, out var v)) return current;
        if (v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind == JsonValueKind.String) return Tok.Plain(v.GetString()!);
        if (IsTypedAddedToken(v)) return ParseAddedToken(v, key, file);
        throw new TokenizerFormatException(file, $"special token {key} has to be either a string or an AddedToken (an object with \"__type\": \"AddedToken\")");
    }

    /// <summary>A special token of special_tokens_map.json: a string, an AddedToken object, or null.</summary>
    private static Tok? MapToken(JsonElement root, string key, Tok? current, string file)
    {
        if (!root.TryGetProperty(key, out var v)) return current;
        return v.ValueKind switch
        {
            JsonValueKind.Null => null,
            JsonValueKind.String => Tok.Plain(v.GetString()!),
            JsonValueKind.Object => ParseAddedToken(v, key, file),
            _ => throw new TokenizerFormatException(file, $"{key} must be a string or an AddedToken object"),
        };
    }

    private static Tok ParseAddedToken(JsonElement v, string key, string file)
    {
        if (!v.TryGetProperty("content", out var c) || c.ValueKind != JsonValueKind.String)
            throw new TokenizerFormatException(file, $"{key} has no string \"content\"");
        bool Flag(string name, bool fallback) =>
            v.TryGetProperty(name, out var f) ? f.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw new TokenizerFormatException(file, $"{key}: \"{name}\" must be true or false"),
            } : fallback;
        return new Tok(c.GetString()!, true, Flag("lstrip", false), Flag("rstrip", false), Flag("single_word", false), Flag("normalized", true));
    }

    private static bool Side(JsonElement root, string name, string file)
    {
        if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return false;
        return v.ValueKind == JsonValueKind.String && v.GetString() is "right" or "left"
            ? v.GetString() == "left"
            : throw new TokenizerFormatException(file, $"{name} must be \"right\" or \"left\"");
    }

    // ------------------------------------------------------------------------------------------------
    // Tokens and ids
    // ------------------------------------------------------------------------------------------------

    /// <summary>HF <c>convert_tokens_to_ids</c> for one token: added tokens, then the id table, then the
    /// SentencePiece id plus <see cref="Offset"/> (an unknown piece gives <see cref="UnkTokenId"/>).</summary>
    public int ConvertTokenToId(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (addedTokensEncoder.TryGetValue(token, out int id)) return id;
        if (decoder.TryGetValue(token, out id)) return id;
        return sp.PieceToId(token) + Offset;
    }

    /// <summary>HF <c>convert_ids_to_tokens</c>: added tokens, then the id table, then the SentencePiece piece of
    /// <c>id - Offset</c>.</summary>
    /// <exception cref="BigBirdInputException">An id is outside the tokenizer (SentencePiece fails there too): typically
    /// a model whose vocab_size is larger than its tokenizer's. The message names the tokenizer file, the id and the bounds.</exception>
    public string[] ConvertIdsToTokens(ReadOnlySpan<int> ids, bool skipSpecialTokens = false)
    {
        var tokens = new List<string>(ids.Length);
        foreach (int id in ids)
        {
            if (skipSpecialTokens && allSpecialIdSet.Contains(id)) continue;
            tokens.Add(IdToToken(id));
        }
        return [.. tokens];
    }

    private string IdToToken(int id)
    {
        if (addedTokensDecoder.TryGetValue(id, out var s)) return s;
        if (encoder.TryGetValue(id, out s)) return s;
        int piece = id - Offset;
        if ((uint)piece < (uint)sp.PieceCount) return sp.IdToPiece(piece);
        throw new BigBirdInputException(
            $"{sp.FilePath}: token id {id} is out of range: the Pegasus tokenizer has {Count} ids [0, {Count}) ({sp.PieceCount} SentencePiece pieces " +
            $"shifted by the offset {Offset}{(addedTokensEncoder.Count > 0 ? $", then {addedTokensEncoder.Count} added tokens" : "")}). A model whose vocab_size " +
            "is larger than its tokenizer's predicted it; use the tokenizer that was trained with this checkpoint.");
    }

    /// <summary>HF <c>tokenize</c>: the token strings of <paramref name="text"/>, without the <c>&lt;/s&gt;</c>.</summary>
    public string[] Tokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var pieces = new List<(int Id, TokenOffset Offset)>();
        var tokens = new List<string>();
        EncodeText(text, pieces, tokens);
        return [.. tokens];
    }

    /// <summary>The ids and offsets of one text (HF <c>tokenize</c> then <c>convert_tokens_to_ids</c>).</summary>
    private void EncodeText(string text, List<(int Id, TokenOffset Offset)> output, List<string>? tokens = null)
    {
        if (text.Length == 0) return;
        Utf8Text? utf8 = null;
        var raw = new GrowBuffer<RawPiece>(16);
        var norm = new GrowBuffer<byte>(64);
        foreach (var s in splitter.Split(text))
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
                int id;
                if (p.MergedUnknown)
                {
                    // a run of unknown characters: HF looks its (normalized) text up as a token
                    string piece = Encoding.UTF8.GetString(norm.Items.AsSpan(p.NormBegin, p.NormEnd - p.NormBegin));
                    id = ConvertTokenToId(piece);
                    tokens?.Add(piece);
                }
                else
                {
                    id = pieceOverride.TryGetValue(p.Id, out int o) ? o : p.Id + Offset;
                    tokens?.Add(sp.IdToPiece(p.Id));
                }
                output.Add((id, new TokenOffset(u.ByteToChar[b0 + p.OrigBegin], u.ByteToChar[b0 + p.OrigEnd])));
            }
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Special tokens
    // ------------------------------------------------------------------------------------------------

    /// <summary>HF <c>build_inputs_with_special_tokens</c>: <c>A &lt;/s&gt;</c>, or <c>A B &lt;/s&gt;</c> for a pair
    /// (Pegasus has no separator and no BOS).</summary>
    public int[] BuildInputsWithSpecialTokens(ReadOnlySpan<int> tokenIds0, ReadOnlySpan<int> tokenIds1 = default)
    {
        var ids = new int[tokenIds0.Length + tokenIds1.Length + 1];
        tokenIds0.CopyTo(ids);
        tokenIds1.CopyTo(ids.AsSpan(tokenIds0.Length));
        ids[^1] = EosTokenId;
        return ids;
    }

    /// <summary>HF <c>get_special_tokens_mask</c>: 1 for every id that is a special token's (but <c>&lt;unk&gt;</c>'s),
    /// whether it came from the text or not, plus 1 for the <c>&lt;/s&gt;</c> that
    /// <see cref="BuildInputsWithSpecialTokens"/> adds unless <paramref name="alreadyHasSpecialTokens"/>.</summary>
    public int[] GetSpecialTokensMask(ReadOnlySpan<int> tokenIds0, ReadOnlySpan<int> tokenIds1 = default, bool alreadyHasSpecialTokens = false)
    {
        if (alreadyHasSpecialTokens) tokenIds1 = default; // HF reads only the first list then
        int n = tokenIds0.Length + tokenIds1.Length;
        var mask = new int[n + (alreadyHasSpecialTokens ? 0 : 1)];
        for (int i = 0; i < tokenIds0.Length; i++) mask[i] = maskedSpecialIds.Contains(tokenIds0[i]) ? 1 : 0;
        for (int i = 0; i < tokenIds1.Length; i++) mask[tokenIds0.Length + i] = maskedSpecialIds.Contains(tokenIds1[i]) ? 1 : 0;
        if (!alreadyHasSpecialTokens) mask[n] = 1;
        return mask;
    }

    // ------------------------------------------------------------------------------------------------
    // Encoding
    // ------------------------------------------------------------------------------------------------

    /// <summary>Encodes a text, or a pair, as HF's <c>tokenizer(text, text_pair, ...)</c> does. Pegasus models take no
    /// token type ids (HF returns only <c>input_ids</c> and <c>attention_mask</c>): <see cref="TokenizerEncoding.TokenTypeIds"/>
    /// is 0 for the first text and 1 for the pair, 0 for <c>&lt;/s&gt;</c> and padding.
    /// <see cref="TokenizerEncoding.SpecialTokensMask"/> is HF's (see <see cref="GetSpecialTokensMask"/>).</summary>
    /// <exception cref="ArgumentException">Incompatible options (as in HF: truncation and padding with a
    /// <c>max_length</c> that is not a multiple of <c>pad_to_multiple_of</c>).</exception>
    public TokenizerEncoding Encode(string text, string? textPair = null, TokenizerEncodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        options ??= TokenizerEncodeOptions.Default;
        var (padding, truncation, maxLength) = Resolve(options);
        var row = Prepare(text, textPair, options.AddSpecialTokens, truncation, maxLength);
        if (padding == PaddingStrategy.DoNotPad) return row;
        int target = padding == PaddingStrategy.Longest ? row.Length : maxLength!.Value;
        return Pad(row, RoundUp(target, options.PadToMultipleOf));
    }

    /// <summary>Encodes a batch, as HF's <c>tokenizer(texts, text_pairs, ...)</c>: each row is truncated alone, then
    /// all are padded together (to the longest row or to <c>MaxLength</c>, rounded up to <c>PadToMultipleOf</c>).</summary>
    /// <exception cref="ArgumentException">Pairs and texts differ in count, a text is null, or incompatible options.</exception>
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
            // HF falls back to model_max_length, and drops the strategy when that is not a real length
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
        if (truncation != TruncationStrategy.DoNotTruncate && padding != PaddingStrategy.DoNotPad &&
            o.PadToMultipleOf is { } k && maxLength is { } ml && ml % k != 0)
            throw new ArgumentException(
                $"Truncation and padding are both activated but truncation length ({ml}) is not a multiple of pad_to_multiple_of ({k}).", nameof(o));
        return (padding, truncation, maxLength);
    }

    private static int RoundUp(int length, int? multiple) =>
        multiple is { } m && length % m != 0 ? (length / m + 1) * m : length;

    /// <summary>HF <c>prepare_for_model</c> without padding: one <c>&lt;/s&gt;</c> is counted for a text and for a pair.</summary>
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
        int specials = addSpecial ? 1 : 0;
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
        foreach (var (id, off) in a)
        {
            ids[k] = id;
            offsets[k] = off;
            k++;
        }
        if (b is not null)
        {
            foreach (var (id, off) in b)
            {
                ids[k] = id;
                types[k] = 1;
                offsets[k] = off;
                seq[k] = 1;
                k++;
            }
        }
        if (addSpecial)
        {
            ids[k] = EosTokenId;
            seq[k] = -1;
            for (int i = 0; i < k; i++) special[i] = maskedSpecialIds.Contains(ids[i]) ? 1 : 0;
            special[k] = 1;
        }
        var mask = new int[n];
        Array.Fill(mask, 1);
        return new TokenizerEncoding
        {
            InputIds = ids, TokenTypeIds = types, AttentionMask = mask, SpecialTokensMask = special,
            Offsets = offsets, SequenceIds = seq,
        };
    }

    /// <summary>HF <c>truncate_sequences</c> with stride 0. Like HF, a strategy that cannot remove enough tokens from
    /// its sequence leaves it whole (HF logs an error).</summary>
    private void Truncate(List<(int, TokenOffset)> a, List<(int, TokenOffset)>? b, int remove, TruncationStrategy strategy) =>
        EncodingShape.Truncate(a, b, remove, strategy, TruncateLeft);

    private TokenizerEncoding Pad(TokenizerEncoding row, int target) => EncodingShape.Pad(row, target, PadTokenId, PadLeft);

    // ------------------------------------------------------------------------------------------------
    // Decoding
    // ------------------------------------------------------------------------------------------------

    /// <summary>HF <c>decode</c> (4.27.1's base <c>_decode</c> with Pegasus's <c>convert_tokens_to_string</c>): added
    /// tokens stand alone, runs of other tokens go through <see cref="ConvertTokensToString"/>, the parts are joined with
    /// spaces (or nothing), then <c>clean_up_tokenization</c>. <paramref name="skipSpecialTokens"/> drops every special
    /// id, <c>&lt;unk&gt;</c>'s included.</summary>
    /// <exception cref="BigBirdInputException">An id is outside the tokenizer (see <see cref="ConvertIdsToTokens"/>).</exception>
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
        string text = string.Join(spacesBetweenSpecialTokens ? " " : "", subTexts);
        return cleanUpTokenizationSpaces ? BigBirdTokenizer.CleanUpTokenization(text) : text;
    }

    /// <summary>HF <c>PegasusTokenizer.convert_tokens_to_string</c>: special tokens are written as they are (with no
    /// space added), the pieces between are decoded by SentencePiece, and the result is stripped.</summary>
    public string ConvertTokensToString(IReadOnlyList<string> tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        var current = new List<string>();
        var output = new StringBuilder();
        foreach (var token in tokens)
        {
            if (allSpecialTokenSet.Contains(token))
            {
                output.Append(sp.DecodePieces(current)).Append(token);
                current.Clear();
            }
            else current.Add(token);
        }
        output.Append(sp.DecodePieces(current));
        string s = output.ToString();
        int start = 0, end = s.Length;
        while (start < end && BigBirdTokenizer.IsPythonSpace(s[start])) start++;
        while (end > start && BigBirdTokenizer.IsPythonSpace(s[end - 1])) end--;
        return s[start..end];
    }
}
