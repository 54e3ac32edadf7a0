using System.Text.Json;
using BigBirdSharp.IO;

namespace BigBirdSharp.Configuration;

/// <summary>
/// The configuration of a Hugging Face <c>EncoderDecoderModel</c> folder (<c>model_type</c> <c>encoder-decoder</c>) whose
/// encoder is BigBird and whose decoder is BigBird with cross-attention. Ports <c>EncoderDecoderConfig</c>
/// (transformers 4.27.1, <c>configuration_encoder_decoder.py</c>): the nested <c>encoder</c> and <c>decoder</c>
/// configurations, plus the top-level <c>PretrainedConfig</c> fields the model and generation read. Instances are
/// immutable.
/// </summary>
public sealed record EncoderDecoderConfig
{
    /// <summary>The <c>model_type</c> this configuration reads.</summary>
    public const string ModelType = "encoder-decoder";

    /// <summary><c>encoder</c>: the BigBird encoder's configuration (<c>model_type</c> <c>big_bird</c>).</summary>
    public required BigBirdConfig Encoder { get; init; }
    /// <summary><c>decoder</c>: the BigBird decoder's configuration (<c>is_decoder</c> and <c>add_cross_attention</c> true).</summary>
    public required BigBirdConfig Decoder { get; init; }
    /// <summary><c>decoder.cross_attention_hidden_size</c> (default none): when set, it must equal the encoder's hidden_size,
    /// and no <c>enc_to_dec_proj</c> is made.</summary>
    public int? CrossAttentionHiddenSize { get; init; }
    /// <summary><c>decoder_start_token_id</c> (top level, default none): the first decoder token, and what
    /// <c>shift_tokens_right</c> puts first. Generation falls back to <see cref="BosTokenId"/> when it is none, as HF.</summary>
    public int? DecoderStartTokenId { get; init; }
    /// <summary><c>pad_token_id</c> (top level, default none): what <c>-100</c> labels become in the shifted decoder inputs.</summary>
    public int? PadTokenId { get; init; }
    /// <summary><c>bos_token_id</c> (top level, default none).</summary>
    public int? BosTokenId { get; init; }
    /// <summary><c>eos_token_id</c> (top level, default none).</summary>
    public int? EosTokenId { get; init; }
    /// <summary><c>tie_encoder_decoder</c> (default false): the decoder's <c>bert</c> shares the encoder's weights, module
    /// by module (HF's <c>_tie_encoder_decoder_weights</c>).</summary>
    public bool TieEncoderDecoder { get; init; }
    /// <summary><c>is_encoder_decoder</c>: always true for this class (HF sets it).</summary>
    public bool IsEncoderDecoder => true;
    /// <summary><c>architectures</c>; may be empty.</summary>
    public IReadOnlyList<string> Architectures { get; init; } = [];
    /// <summary><c>max_length</c> (PretrainedConfig, default 20): generate's default total length.</summary>
    public int MaxLength { get; init; } = 20;
    /// <summary><c>min_length</c> (PretrainedConfig, default 0).</summary>
    public int MinLength { get; init; }
    /// <summary><c>num_beams</c> (PretrainedConfig, default 1).</summary>
    public int NumBeams { get; init; } = 1;
    /// <summary><c>length_penalty</c> (PretrainedConfig, default 1).</summary>
    public double LengthPenalty { get; init; } = 1.0;
    /// <summary><c>early_stopping</c> (PretrainedConfig, default false).</summary>
    public bool EarlyStopping { get; init; }
    /// <summary><c>no_repeat_ngram_size</c> (PretrainedConfig, default 0).</summary>
    public int NoRepeatNgramSize { get; init; }
    /// <summary><c>repetition_penalty</c> (PretrainedConfig, default 1).</summary>
    public double RepetitionPenalty { get; init; } = 1.0;
    /// <summary><c>num_return_sequences</c> (PretrainedConfig, default 1).</summary>
    public int NumReturnSequences { get; init; } = 1;
    /// <summary><c>forced_bos_token_id</c> (PretrainedConfig, default none).</summary>
    public int? ForcedBosTokenId { get; init; }
    /// <summary><c>forced_eos_token_id</c> (PretrainedConfig, default none).</summary>
    public int? ForcedEosTokenId { get; init; }

    /// <summary>Whether the model has <c>enc_to_dec_proj</c> ([decoder hidden, encoder hidden] + bias): the hidden sizes
    /// differ and <see cref="CrossAttentionHiddenSize"/> is none, as in HF.</summary>
    public bool HasEncoderToDecoderProjection => Encoder.HiddenSize != Decoder.HiddenSize && CrossAttentionHiddenSize is null;

    /// <summary>Reads and validates <c>config.json</c>.</summary>
    /// <exception cref="BigBirdConfigException">The file is missing, unreadable, not JSON, of another model_type, or holds an
    /// invalid value; the message names the field.</exception>
    public static EncoderDecoderConfig FromFile(string path)
        => FromJson(ConfigFile.ReadText(path), path);

    /// <summary>
    /// Parses and validates the text of an <c>EncoderDecoderModel</c> <c>config.json</c>: <c>model_type</c>, when present,
    /// must be <c>encoder-decoder</c>; <c>encoder</c> and <c>decoder</c> must be BigBird configurations (<c>big_bird</c>),
    /// the decoder with <c>is_decoder</c> and <c>add_cross_attention</c>.
    /// </summary>
    /// <exception cref="BigBirdConfigException">Not a JSON object, a missing or invalid nested configuration, a field of the
    /// wrong type, another model_type, or an invalid value; the message names the field.</exception>
    public static EncoderDecoderConfig FromJson(string json, string source = "config.json")
    {
        using (var doc = ConfigFile.Parse(json, source))
        {
            var root = doc.RootElement;
            var r = new ConfigFieldReader(root, source);
            string? modelType = r.NullableString("model_type");
            if (modelType is not null && modelType != ModelType)
                throw new BigBirdConfigException($"{source}: model_type is '{modelType}', but EncoderDecoderModel reads '{ModelType}' configurations.");
            var encoder = Nested(root, "encoder", source, out _);
            var decoder = Nested(root, "decoder", source, out var decoderElement);
            int? crossAttentionHiddenSize = new ConfigFieldReader(decoderElement, $"{source}: decoder").NullableInt("cross_attention_hidden_size", null);
            var d = new EncoderDecoderConfig { Encoder = encoder, Decoder = decoder };
            var config = new EncoderDecoderConfig
            {
                Encoder = encoder,
                Decoder = decoder,
                CrossAttentionHiddenSize = crossAttentionHiddenSize,
                DecoderStartTokenId = r.NullableInt("decoder_start_token_id", null),
                PadTokenId = r.NullableInt("pad_token_id", null),
                BosTokenId = r.NullableInt("bos_token_id", null),
                EosTokenId = r.NullableInt("eos_token_id", null),
                TieEncoderDecoder = r.Bool("tie_encoder_decoder", false),
                Architectures = r.StringList("architectures"),
                MaxLength = r.Int("max_length", d.MaxLength),
                MinLength = r.Int("min_length", d.MinLength),
                NumBeams = r.Int("num_beams", d.NumBeams),
                LengthPenalty = r.Double("length_penalty", d.LengthPenalty),
                EarlyStopping = r.Bool("early_stopping", d.EarlyStopping),
                NoRepeatNgramSize = r.Int("no_repeat_ngram_size", d.NoRepeatNgramSize),
                RepetitionPenalty = r.Double("repetition_penalty", d.RepetitionPenalty),
                NumReturnSequences = r.Int("num_return_sequences", d.NumReturnSequences),
                ForcedBosTokenId = r.NullableInt("forced_bos_token_id", null),
                ForcedEosTokenId = r.NullableInt("forced_eos_token_id", null),
            };
            config.Validate(source);
            return config;
        }
    }

    // encoder / decoder: a nested JSON object of model_type big_bird, read as a BigBird config.json
    private static BigBirdConfig Nested(JsonElement root, string name, string source, out JsonElement element)
    {
        if (!root.TryGetProperty(name, out element) || element.ValueKind == JsonValueKind.Null)
            throw new BigBirdConfigException(
                $"{source}: {name} is missing; an EncoderDecoderModel config.json holds the {name}'s configuration under '{name}' (HF: " +
                "'Config has to be initialized with encoder and decoder config').");
        if (element.ValueKind != JsonValueKind.Object)
            throw new BigBirdConfigException($"{source}: {name} must be a JSON object (the {name}'s configuration), found {element.ValueKind}.");
        if (!element.TryGetProperty("model_type", out var type) || type.ValueKind != JsonValueKind.String)
            throw new BigBirdConfigException($"{source}: {name}.model_type is missing or not a string; HF needs it to build the {name}.");
        string modelType = type.GetString()!;
        if (modelType != "big_bird")
            throw new BigBirdConfigException(
                $"{source}: {name}.model_type is '{modelType}'; BigBirdSharp runs encoder-decoders whose encoder and decoder are both 'big_bird'.");
        return BigBirdConfig.FromJson(element.GetRawText(), $"{source}: {name}");
    }

    /// <summary>Checks every invariant the model relies on.</summary>
    /// <exception cref="BigBirdConfigException">A value is invalid; the message names the field, its value and the bound.</exception>
    public void Validate(string source = "config")
    {
        ArgumentNullException.ThrowIfNull(Encoder);
        ArgumentNullException.ThrowIfNull(Decoder);
        Encoder.Validate($"{source}: encoder");
        Decoder.Validate($"{source}: decoder");
        if (!Decoder.IsDecoder)
            throw new BigBirdConfigException(
                $"{source}: decoder.is_decoder is false; the decoder of an encoder-decoder is a causal BigBirdForCausalLM (is_decoder: true, " +
                "as HF's EncoderDecoderConfig.from_encoder_decoder_configs sets it).");
        if (!Decoder.AddCrossAttention)
            throw new BigBirdConfigException(
                $"{source}: decoder.add_cross_attention is false; the decoder needs cross-attention layers to read the encoder " +
                "(HF fails at the first forward: 'has to be instantiated with cross-attention layers').");
        if (CrossAttentionHiddenSize is int size && size != Encoder.HiddenSize)
            throw new BigBirdConfigException(
                $"{source}: decoder.cross_attention_hidden_size is {size}, but it has to equal encoder.hidden_size {Encoder.HiddenSize} (as HF checks).");
        if (Encoder.HiddenSize != Decoder.HiddenSize && CrossAttentionHiddenSize is not null)
            throw new BigBirdConfigException(
                $"{source}: encoder.hidden_size {Encoder.HiddenSize} differs from decoder.hidden_size {Decoder.HiddenSize}, and " +
                "decoder.cross_attention_hidden_size is set, so HF makes no enc_to_dec_proj; BigBird's cross-attention reads states of the " +
                "decoder's own hidden_size. Remove cross_attention_hidden_size.");
        void Token(string name, int? id)
        {
            if (id is int v && (v < 0 || v >= Decoder.VocabSize))
                throw new BigBirdConfigException($"{source}: {name} {v} is outside the decoder's vocabulary [0, {Decoder.VocabSize}).");
        }
        Token("decoder_start_token_id", DecoderStartTokenId);
        Token("pad_token_id", PadTokenId);
        Token("bos_token_id", BosTokenId);
        Token("eos_token_id", EosTokenId);
        Token("forced_bos_token_id", ForcedBosTokenId);
        Token("forced_eos_token_id", ForcedEosTokenId);
        if (MaxLength <= 0) throw new BigBirdConfigException($"{source}: max_length must be positive, got {MaxLength}.");
        if (MinLength < 0) throw new BigBirdConfigException($"{source}: min_length must be non-negative, got {MinLength}.");
        if (NumBeams <= 0) throw new BigBirdConfigException($"{source}: num_beams must be positive, got {NumBeams}.");
        if (NumReturnSequences <= 0) throw new BigBirdConfigException($"{source}: num_return_sequences must be positive, got {NumReturnSequences}.");
        if (NoRepeatNgramSize < 0) throw new BigBirdConfigException($"{source}: no_repeat_ngram_size must be non-negative, got {NoRepeatNgramSize}.");
        if (!(RepetitionPenalty > 0) || double.IsInfinity(RepetitionPenalty))
            throw new BigBirdConfigException($"{source}: repetition_penalty must be a positive number, got {RepetitionPenalty}.");
        if (!double.IsFinite(LengthPenalty))
            throw new BigBirdConfigException($"{source}: length_penalty must be a finite number, got {LengthPenalty}.");
    }
}
