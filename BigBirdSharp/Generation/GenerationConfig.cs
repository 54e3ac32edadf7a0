using System.Text.Json;
using BigBirdSharp.Configuration;

namespace BigBirdSharp.Modeling.Heads;

/// <summary>
/// The decoding settings of <c>Generate</c>, named after HF's <c>GenerationConfig</c> (transformers 4.27.1), with its
/// defaults. Greedy search unless <see cref="DoSample"/> or <see cref="NumBeams"/> &gt; 1. Made in code, token ids left
/// null fall back to the model's config (pad) or stay unset (eos: never stop early); <see cref="FromPretrained"/> reads a
/// checkpoint folder's settings as HF's <c>generate</c> does.
/// </summary>
public sealed record GenerationConfig
{
    /// <summary>Tokens to add after the prompt (HF <c>max_new_tokens</c>); when set it wins over <see cref="MaxLength"/>.</summary>
    public int? MaxNewTokens { get; init; }
    /// <summary>The longest sequence, prompt (or decoder start token) included (HF <c>max_length</c>, default 20); used
    /// when <see cref="MaxNewTokens"/> is null.</summary>
    public int MaxLength { get; init; } = 20;
    /// <summary>HF <c>min_length</c>: EOS is banned while the sequence, prompt or decoder start token included, is shorter.</summary>
    public int MinLength { get; init; }
    /// <summary>HF <c>min_new_tokens</c>: EOS is banned until this many tokens were generated; 0 bans nothing.</summary>
    public int MinNewTokens { get; init; }
    /// <summary>Stop a row at this token (HF <c>eos_token_id</c>); null never stops early.</summary>
    public int? EosTokenId { get; init; }
    /// <summary>What finished rows (and shorter beams) get (HF <c>pad_token_id</c>); null means config.pad_token_id.</summary>
    public int? PadTokenId { get; init; }
    /// <summary>HF <c>bos_token_id</c>: the decoder's first token of an encoder-decoder when <see cref="DecoderStartTokenId"/>
    /// and the config have none.</summary>
    public int? BosTokenId { get; init; }
    /// <summary>HF <c>decoder_start_token_id</c> of an encoder-decoder; null means config.decoder_start_token_id.</summary>
    public int? DecoderStartTokenId { get; init; }
    /// <summary>HF <c>forced_bos_token_id</c>: the only token allowed when the sequence holds one token.</summary>
    public int? ForcedBosTokenId { get; init; }
    /// <summary>HF <c>forced_eos_token_id</c>: the only token allowed at the step that reaches the maximum length.</summary>
    public int? ForcedEosTokenId { get; init; }
    /// <summary>Sample instead of taking the argmax (HF <c>do_sample</c>); with one beam only.</summary>
    public bool DoSample { get; init; }
    /// <summary>Beams of beam search (HF <c>num_beams</c>); 1 is greedy search or sampling.</summary>
    public int NumBeams { get; init; } = 1;
    /// <summary>HF <c>length_penalty</c>: a finished beam scores sum(log p) / length^length_penalty, its length counting the
    /// prompt or the decoder start token.</summary>
    public float LengthPenalty { get; init; } = 1f;
    /// <summary>HF <c>early_stopping</c>: true ends a row's beam search once it has num_beams finished hypotheses; false
    /// ends it when no running beam can beat the worst of them.</summary>
    public bool EarlyStopping { get; init; }
    /// <summary>HF <c>num_return_sequences</c>: rows returned per input (at most num_beams; with sampling, independent draws).</summary>
    public int NumReturnSequences { get; init; } = 1;
    /// <summary>Divides the logits before sampling (HF <c>temperature</c>).</summary>
    public float Temperature { get; init; } = 1f;
    /// <summary>Keep only the k most likely tokens (ties at the k-th score kept, as HF's TopKLogitsWarper); 0 for all. HF's default, 50.</summary>
    public int TopK { get; init; } = 50;
    /// <summary>Keep the smallest set of most likely tokens whose probability reaches top_p (HF's TopPLogitsWarper); 1 for all.</summary>
    public float TopP { get; init; } = 1f;
    /// <summary>Seed of the sampler. Sampling is reproducible for a seed, but is not torch's random stream.</summary>
    public int Seed { get; init; }
    /// <summary>HF <c>repetition_penalty</c>: a token already in the sequence (prompt included) has its logit divided by
    /// this when positive, multiplied when negative; 1 leaves the logits alone.</summary>
    public float RepetitionPenalty { get; init; } = 1f;
    /// <summary>HF <c>no_repeat_ngram_size</c>: a token that would repeat an n-gram of this size already in the sequence
    /// (prompt included) is banned; 0 bans nothing.</summary>
    public int NoRepeatNgramSize { get; init; }
    /// <summary>Reuse keys/values across steps (HF <c>use_cache</c>); false recomputes the whole sequence each step.</summary>
    public bool UseCache { get; init; } = true;

    /// <summary>
    /// The generation settings of a Hugging Face checkpoint folder, as transformers 4.27.1's <c>from_pretrained</c> makes a
    /// model's <c>generation_config</c>: <c>generation_config.json</c> when the folder has one (fields it lacks take HF's
    /// defaults; a missing pad_token_id becomes its eos_token_id, as <c>generate</c> does), otherwise
    /// <c>GenerationConfig.from_model_config</c> of <c>config.json</c> (also when generation_config.json says
    /// <c>"_from_model_config": true</c>: 4.27.1's <c>generate</c> then derives the settings from the model's config again and
    /// takes those): its generation fields (the bigbird-pegasus-large
    /// configs carry num_beams, length_penalty, max_length, forced_eos_token_id…), the token ids with the defaults of its
    /// model_type (big_bird, bigbird_pegasus), and, for an encoder-decoder, the decoder's values of fields still at
    /// their defaults.
    /// </summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <exception cref="BigBirdConfigException">Neither file exists, a file is not valid JSON, or a field has the wrong type
    /// or an impossible value; the message names the file and the field.</exception>
    public static GenerationConfig FromPretrained(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        string generationPath = Path.Combine(directory, "generation_config.json");
        string configPath = Path.Combine(directory, "config.json");
        if (File.Exists(generationPath))
        {
            using var doc = Parse(generationPath);
            // a file save_pretrained derived from config.json ("_from_model_config": true): 4.27.1's generate derives the
            // settings from the model's config again and uses those when they differ, so config.json's fields win
            bool fromModelConfig = doc.RootElement.TryGetProperty("_from_model_config", out var flag) && flag.ValueKind == JsonValueKind.True;
            if (!fromModelConfig || !File.Exists(configPath))
            {
                var g = Read(doc.RootElement, new GenerationConfig(), generationPath, defaults: TokenDefaults.None);
                return g.PadTokenId is null && g.EosTokenId is not null ? g with { PadTokenId = g.EosTokenId } : g;
            }
        }
        if (!File.Exists(configPath))
            throw new BigBirdConfigException($"{configPath}: neither generation_config.json nor config.json found; pass a Hugging Face checkpoint folder.");
        using (var doc = Parse(configPath))
        {
            var root = doc.RootElement;
            string? modelType = root.TryGetProperty("model_type", out var mt) && mt.ValueKind == JsonValueKind.String ? mt.GetString() : null;
            var defaults = modelType switch
            {
                "big_bird" => new TokenDefaults(Pad: 0, Bos: 1, Eos: 2, DecoderStart: null),
                "bigbird_pegasus" => new TokenDefaults(Pad: 0, Bos: 2, Eos: 1, DecoderStart: 2),
                _ => TokenDefaults.None,
            };
            var g = Read(root, new GenerationConfig(), configPath, defaults);
            // from_model_config: attributes still at their defaults take the decoder's value
            if (root.TryGetProperty("decoder", out var decoder) && decoder.ValueKind == JsonValueKind.Object)
            {
                var fromDecoder = Read(decoder, new GenerationConfig(), $"{configPath} (decoder)", TokenDefaults.None);
                g = MergeDefaults(g, fromDecoder, new GenerationConfig());
            }
            return g;
        }
    }

    private readonly record struct TokenDefaults(int? Pad, int? Bos, int? Eos, int? DecoderStart)
    {
        public static readonly TokenDefaults None = new(null, null, null, null);
    }

    // the shared reading refuses FIFOs, devices and oversized files before anything is read
    private static JsonDocument Parse(string path) => ConfigFile.Parse(ConfigFile.ReadText(path), path);

    private static GenerationConfig Read(JsonElement root, GenerationConfig g, string source, TokenDefaults defaults)
    {
        int? Int(string name, int? fallback)
        {
            if (!root.TryGetProperty(name, out var v)) return fallback;
            if (v.ValueKind == JsonValueKind.Null) return null; // HF's None
            if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i)) return i;
            if (v.ValueKind == JsonValueKind.Array)
            {
                // HF accepts a list of eos ids; generate stops at any of them. Only one is supported here.
                if (v.GetArrayLength() == 1 && v[0].ValueKind == JsonValueKind.Number && v[0].TryGetInt32(out int only)) return only;
                throw new BigBirdConfigException($"{source}: {name} is a list of {v.GetArrayLength()} ids; only one {name} is supported.");
            }
            throw new BigBirdConfigException($"{source}: {name} must be an integer, got {v.GetRawText()}.");
        }
        float Float(string name, float fallback)
        {
            if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
            if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && double.IsFinite(d)) return (float)d;
            throw new BigBirdConfigException($"{source}: {name} must be a number, got {v.GetRawText()}.");
        }
        bool Bool(string name, bool fallback)
        {
            if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
            if (v.ValueKind is JsonValueKind.True or JsonValueKind.False) return v.GetBoolean();
            if (name == "early_stopping" && v.ValueKind == JsonValueKind.String && v.GetString() == "never")
                throw new BigBirdConfigException($"{source}: early_stopping \"never\" is not supported; use true or false.");
            throw new BigBirdConfigException($"{source}: {name} must be true or false, got {v.GetRawText()}.");
        }
        int NonNegative(string name, int fallback)
        {
            int value = Int(name, fallback) ?? fallback;
            if (value < 0) throw new BigBirdConfigException($"{source}: {name} must be non-negative, got {value}.");
            return value;
        }
        int Positive(string name, int fallback)
        {
            int value = Int(name, fallback) ?? fallback;
            if (value <= 0) throw new BigBirdConfigException($"{source}: {name} must be positive, got {value}.");
            return value;
        }
        int? TokenId(string name, int? fallback)
        {
            int? value = Int(name, fallback);
            if (value < 0) throw new BigBirdConfigException($"{source}: {name} must be a token id (non-negative), got {value}.");
            return value;
        }
        var result = g with
        {
            MaxNewTokens = Int("max_new_tokens", g.MaxNewTokens),
            MaxLength = Positive("max_length", g.MaxLength),
            MinLength = NonNegative("min_length", g.MinLength),
            MinNewTokens = NonNegative("min_new_tokens", g.MinNewTokens),
            EosTokenId = TokenId("eos_token_id", defaults.Eos),
            PadTokenId = TokenId("pad_token_id", defaults.Pad),
            BosTokenId = TokenId("bos_token_id", defaults.Bos),
            DecoderStartTokenId = TokenId("decoder_start_token_id", defaults.DecoderStart),
            ForcedBosTokenId = TokenId("forced_bos_token_id", null),
            ForcedEosTokenId = TokenId("forced_eos_token_id", null),
            DoSample = Bool("do_sample", g.DoSample),
            NumBeams = Positive("num_beams", g.NumBeams),
            LengthPenalty = Float("length_penalty", g.LengthPenalty),
            EarlyStopping = Bool("early_stopping", g.EarlyStopping),
            NumReturnSequences = Positive("num_return_sequences", g.NumReturnSequences),
            Temperature = Float("temperature", g.Temperature),
            TopK = NonNegative("top_k", g.TopK),
            TopP = Float("top_p", g.TopP),
            RepetitionPenalty = Float("repetition_penalty", g.RepetitionPenalty),
            NoRepeatNgramSize = NonNegative("no_repeat_ngram_size", g.NoRepeatNgramSize),
            UseCache = Bool("use_cache", g.UseCache),
        };
        if (result.MaxNewTokens < 0) throw new BigBirdConfigException($"{source}: max_new_tokens must be non-negative, got {result.MaxNewTokens}.");
        if (!(result.Temperature > 0)) throw new BigBirdConfigException($"{source}: temperature must be positive, got {result.Temperature}.");
        if (!(result.TopP > 0 && result.TopP <= 1)) throw new BigBirdConfigException($"{source}: top_p must be in (0, 1], got {result.TopP}.");
        if (!(result.RepetitionPenalty > 0)) throw new BigBirdConfigException($"{source}: repetition_penalty must be positive, got {result.RepetitionPenalty}.");
        return result;
    }

    private static GenerationConfig MergeDefaults(GenerationConfig top, GenerationConfig decoder, GenerationConfig d) => top with
    {
        MaxNewTokens = top.MaxNewTokens == d.MaxNewTokens ? decoder.MaxNewTokens : top.MaxNewTokens,
        MaxLength = top.MaxLength == d.MaxLength ? decoder.MaxLength : top.MaxLength,
        MinLength = top.MinLength == d.MinLength ? decoder.MinLength : top.MinLength,
        MinNewTokens = top.MinNewTokens == d.MinNewTokens ? decoder.MinNewTokens : top.MinNewTokens,
        EosTokenId = top.EosTokenId ?? decoder.EosTokenId,
        PadTokenId = top.PadTokenId ?? decoder.PadTokenId,
        BosTokenId = top.BosTokenId ?? decoder.BosTokenId,
        DecoderStartTokenId = top.DecoderStartTokenId ?? decoder.DecoderStartTokenId,
        ForcedBosTokenId = top.ForcedBosTokenId ?? decoder.ForcedBosTokenId,
        ForcedEosTokenId = top.ForcedEosTokenId ?? decoder.ForcedEosTokenId,
        DoSample = top.DoSample == d.DoSample ? decoder.DoSample : top.DoSample,
        NumBeams = top.NumBeams == d.NumBeams ? decoder.NumBeams : top.NumBeams,
        LengthPenalty = top.LengthPenalty == d.LengthPenalty ? decoder.LengthPenalty : top.LengthPenalty,
        EarlyStopping = top.EarlyStopping == d.EarlyStopping ? decoder.EarlyStopping : top.EarlyStopping,
        NumReturnSequences = top.NumReturnSequences == d.NumReturnSequences ? decoder.NumReturnSequences : top.NumReturnSequences,
        Temperature = top.Temperature == d.Temperature ? decoder.Temperature : top.Temperature,
        TopK = top.TopK == d.TopK ? decoder.TopK : top.TopK,
        TopP = top.TopP == d.TopP ? decoder.TopP : top.TopP,
        RepetitionPenalty = top.RepetitionPenalty == d.RepetitionPenalty ? decoder.RepetitionPenalty : top.RepetitionPenalty,
        NoRepeatNgramSize = top.NoRepeatNgramSize == d.NoRepeatNgramSize ? decoder.NoRepeatNgramSize : top.NoRepeatNgramSize,
        UseCache = top.UseCache == d.UseCache ? decoder.UseCache : top.UseCache,
    };
}
