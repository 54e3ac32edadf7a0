using System.Text.Json;
using BigBirdSharp.IO;
using BigBirdSharp.Kernels;
using BigBirdSharp.Modeling;

namespace BigBirdSharp.Configuration;

/// <summary>
/// The configuration of a BigBirdPegasus checkpoint (<c>model_type</c> <c>bigbird_pegasus</c>), read from its
/// <c>config.json</c>. Ports <c>BigBirdPegasusConfig</c> (transformers 4.27.1, <c>configuration_bigbird_pegasus.py</c>)
/// with every one of its fields and HF's defaults, plus the <c>PretrainedConfig</c> fields the model and greedy
/// generation read. Instances are immutable.
/// </summary>
public sealed record BigBirdPegasusConfig
{
    /// <summary><c>vocab_size</c> (default 96103).</summary>
    public int VocabSize { get; init; } = 96103;
    /// <summary><c>max_position_embeddings</c> (default 4096): the learned position tables' length, and the old random plan's <c>max_seqlen</c>.</summary>
    public int MaxPositionEmbeddings { get; init; } = 4096;
    /// <summary><c>encoder_layers</c> (default 16).</summary>
    public int EncoderLayers { get; init; } = 16;
    /// <summary><c>encoder_ffn_dim</c> (default 4096).</summary>
    public int EncoderFfnDim { get; init; } = 4096;
    /// <summary><c>encoder_attention_heads</c> (default 16); HF's <c>num_attention_heads</c>.</summary>
    public int EncoderAttentionHeads { get; init; } = 16;
    /// <summary><c>decoder_layers</c> (default 16).</summary>
    public int DecoderLayers { get; init; } = 16;
    /// <summary><c>decoder_ffn_dim</c> (default 4096).</summary>
    public int DecoderFfnDim { get; init; } = 4096;
    /// <summary><c>decoder_attention_heads</c> (default 16).</summary>
    public int DecoderAttentionHeads { get; init; } = 16;
    /// <summary><c>encoder_layerdrop</c> (default 0); training only.</summary>
    public double EncoderLayerdrop { get; init; }
    /// <summary><c>decoder_layerdrop</c> (default 0); training only.</summary>
    public double DecoderLayerdrop { get; init; }
    /// <summary><c>use_cache</c> (default true).</summary>
    public bool UseCache { get; init; } = true;
    /// <summary><c>is_encoder_decoder</c> (default true; a saved BigBirdPegasusForCausalLM writes false, which HF reads
    /// without complaint and so does BigBirdSharp).</summary>
    public bool IsEncoderDecoder { get; init; } = true;
    /// <summary><c>is_decoder</c> (PretrainedConfig, default false; true in a saved BigBirdPegasusForCausalLM). Informational:
    /// every class runs the same whichever it holds, as in HF.</summary>
    public bool IsDecoder { get; init; }
    /// <summary><c>activation_function</c> as its ACT2FN name (default <c>gelu_new</c>).</summary>
    public string ActivationFunction { get; init; } = "gelu_new";
    /// <summary><c>d_model</c> (default 1024); HF's <c>hidden_size</c>.</summary>
    public int DModel { get; init; } = 1024;
    /// <summary><c>dropout</c> (default 0.1); inference ignores dropout.</summary>
    public double Dropout { get; init; } = 0.1;
    /// <summary><c>attention_dropout</c> (default 0); inference ignores dropout.</summary>
    public double AttentionDropout { get; init; }
    /// <summary><c>activation_dropout</c> (default 0); inference ignores dropout.</summary>
    public double ActivationDropout { get; init; }
    /// <summary><c>init_std</c> (default 0.02); unused at inference.</summary>
    public double InitStd { get; init; } = 0.02;
    /// <summary><c>decoder_start_token_id</c> (default 2): the first decoder token, and what <c>shift_tokens_right</c> puts first.</summary>
    public int DecoderStartTokenId { get; init; } = 2;
    /// <summary><c>classifier_dropout</c> (default 0); inference ignores dropout.</summary>
    public double ClassifierDropout { get; init; }
    /// <summary><c>scale_embedding</c> (default true): token embeddings are multiplied by √d_model.</summary>
    public bool ScaleEmbedding { get; init; } = true;
    /// <summary><c>pad_token_id</c> (default 0): block-sparse padding, and what <c>-100</c> labels become in shifted decoder inputs.</summary>
    public int PadTokenId { get; init; }
    /// <summary><c>bos_token_id</c> (default 2).</summary>
    public int? BosTokenId { get; init; } = 2;
    /// <summary><c>eos_token_id</c> (default 1).</summary>
    public int? EosTokenId { get; init; } = 1;
    /// <summary><c>attention_type</c> of the encoder (default block_sparse); the decoder always attends fully.</summary>
    public AttentionType AttentionType { get; init; } = AttentionType.BlockSparse;
    /// <summary><c>block_size</c> (default 64).</summary>
    public int BlockSize { get; init; } = 64;
    /// <summary><c>num_random_blocks</c> (default 3).</summary>
    public int NumRandomBlocks { get; init; } = 3;
    /// <summary><c>use_bias</c> (default false): biases on the encoder's query/key/value/output and the decoder's projections.</summary>
    public bool UseBias { get; init; }
    /// <summary><c>tie_word_embeddings</c> (PretrainedConfig, default true): lm_head shares <c>model.shared.weight</c>.</summary>
    public bool TieWordEmbeddings { get; init; } = true;
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
    /// <summary><c>forced_eos_token_id</c> (PretrainedConfig, default none).</summary>
    public int? ForcedEosTokenId { get; init; }
    /// <summary><c>forced_bos_token_id</c> (PretrainedConfig, default none).</summary>
    public int? ForcedBosTokenId { get; init; }

    /// <summary><c>id2label</c> (PretrainedConfig); empty when config.json has none.</summary>
    public IReadOnlyDictionary<int, string> Id2Label { get; init; } = new Dictionary<int, string>();
    /// <summary><c>num_labels</c> (PretrainedConfig, default 2; the size of id2label when it is given): the outputs of
    /// BigBirdPegasusForSequenceClassification's head.</summary>
    public int NumLabels { get; init; } = 2;
    /// <summary><c>problem_type</c> (PretrainedConfig): regression, single_label_classification,
    /// multi_label_classification, or null to infer it from num_labels and the labels, as HF does.</summary>
    public string? ProblemType { get; init; }
    /// <summary>id2label[index], or HF's default name <c>LABEL_{index}</c>.</summary>
    public string LabelName(int index) => Id2Label.TryGetValue(index, out var name) ? name : $"LABEL_{index}";

    /// <summary>d_model / encoder_attention_heads.</summary>
    public int EncoderHeadDim => DModel / EncoderAttentionHeads;
    /// <summary>d_model / decoder_attention_heads.</summary>
    public int DecoderHeadDim => DModel / DecoderAttentionHeads;
    /// <summary>The encoder's activation.</summary>
    public ActivationKind ActivationKind => BigBirdConfig.ParseActivation(ActivationFunction);
    /// <summary>√d_model when scale_embedding, else 1 (HF's <c>embed_scale</c>).</summary>
    public float EmbedScale => ScaleEmbedding ? (float)Math.Sqrt(DModel) : 1f;
    /// <summary>
    /// Longest input that falls back to full attention: (5 + 2·num_random_blocks)·block_size, in 64 bits as Python computes it.
    /// </summary>
    public long MaxTokensToAttend => (long)Int128.Clamp((Int128)(5 + 2L * NumRandomBlocks) * BlockSize, long.MinValue, long.MaxValue);

    /// <summary>The <c>model_type</c> this configuration reads.</summary>
    public const string ModelType = "bigbird_pegasus";

    /// <summary>Reads and validates <c>config.json</c>.</summary>
    /// <exception cref="BigBirdConfigException">The file is missing, unreadable, not JSON, of another model_type, or holds an invalid value.</exception>
    public static BigBirdPegasusConfig FromFile(string path)
        => FromJson(ConfigFile.ReadText(path), path);

    /// <summary>Parses and validates the text of a <c>config.json</c>; a <c>model_type</c>, when present, must be <c>bigbird_pegasus</c>.</summary>
    /// <exception cref="BigBirdConfigException">Not a JSON object, a field of the wrong type, another model_type, or an invalid value.</exception>
    public static BigBirdPegasusConfig FromJson(string json, string source = "config.json")
    {
        using (var doc = ConfigFile.Parse(json, source))
        {
            var root = doc.RootElement;
            var r = new ConfigFieldReader(root, source);
            string? modelType = r.NullableString("model_type");
            if (modelType is not null && modelType != ModelType)
                throw new BigBirdConfigException($"{source}: model_type is '{modelType}', but BigBirdPegasus reads '{ModelType}' configurations.");
            var d = new BigBirdPegasusConfig();
            var config = new BigBirdPegasusConfig
            {
                VocabSize = r.Int("vocab_size", d.VocabSize),
                MaxPositionEmbeddings = r.Int("max_position_embeddings", d.MaxPositionEmbeddings),
                EncoderLayers = r.Int("encoder_layers", d.EncoderLayers),
                EncoderFfnDim = r.Int("encoder_ffn_dim", d.EncoderFfnDim),
                EncoderAttentionHeads = r.Int("encoder_attention_heads", r.Int("num_attention_heads", d.EncoderAttentionHeads)),
                DecoderLayers = r.Int("decoder_layers", d.DecoderLayers),
                DecoderFfnDim = r.Int("decoder_ffn_dim", d.DecoderFfnDim),
                DecoderAttentionHeads = r.Int("decoder_attention_heads", d.DecoderAttentionHeads),
                EncoderLayerdrop = r.Double("encoder_layerdrop", d.EncoderLayerdrop),
                DecoderLayerdrop = r.Double("decoder_layerdrop", d.DecoderLayerdrop),
                UseCache = r.Bool("use_cache", d.UseCache),
                IsEncoderDecoder = r.Bool("is_encoder_decoder", d.IsEncoderDecoder),
                ActivationFunction = r.String("activation_function", d.ActivationFunction),
                DModel = r.Int("d_model", r.Int("hidden_size", d.DModel)),
                Dropout = r.Double("dropout", d.Dropout),
                AttentionDropout = r.Double("attention_dropout", r.Double("attention_probs_dropout_prob", d.AttentionDropout)),
                ActivationDropout = r.Double("activation_dropout", d.ActivationDropout),
                InitStd = r.Double("init_std", d.InitStd),
                DecoderStartTokenId = r.Int("decoder_start_token_id", d.DecoderStartTokenId),
                ClassifierDropout = r.Double("classifier_dropout", d.ClassifierDropout),
                ScaleEmbedding = r.Bool("scale_embedding", d.ScaleEmbedding),
                PadTokenId = r.Int("pad_token_id", d.PadTokenId),
                BosTokenId = r.NullableInt("bos_token_id", d.BosTokenId),
                EosTokenId = r.NullableInt("eos_token_id", d.EosTokenId),
                AttentionType = BigBirdConfig.ParseAttentionType(r.String("attention_type", "block_sparse"), source),
                BlockSize = r.Int("block_size", d.BlockSize),
                NumRandomBlocks = r.Int("num_random_blocks", d.NumRandomBlocks),
                UseBias = r.Bool("use_bias", d.UseBias),
                TieWordEmbeddings = r.Bool("tie_word_embeddings", d.TieWordEmbeddings),
                Architectures = r.StringList("architectures"),
                MaxLength = r.Int("max_length", d.MaxLength),
                MinLength = r.Int("min_length", d.MinLength),
                NumBeams = r.Int("num_beams", d.NumBeams),
                LengthPenalty = r.Double("length_penalty", d.LengthPenalty),
                ForcedEosTokenId = r.NullableInt("forced_eos_token_id", null),
                ForcedBosTokenId = r.NullableInt("forced_bos_token_id", null),
                IsDecoder = r.Bool("is_decoder", d.IsDecoder),
                Id2Label = r.Id2Label(),
                ProblemType = r.NullableString("problem_type"),
            };
            // HF: id2label, when present, decides num_labels; otherwise the num_labels argument, default 2
            config = config with { NumLabels = config.Id2Label.Count > 0 ? config.Id2Label.Count : r.Int("num_labels", d.NumLabels) };
            config.Validate(source);
            return config;
        }
    }

    /// <summary>Checks every invariant the model relies on.</summary>
    /// <exception cref="BigBirdConfigException">A value is invalid; the message names the field, its value and the bound.</exception>
    public void Validate(string source = "config")
    {
        void Positive(string name, long value)
        {
            if (value <= 0) throw new BigBirdConfigException($"{source}: {name} must be positive, got {value}.");
        }
        void NonNegative(string name, long value)
        {
            if (value < 0) throw new BigBirdConfigException($"{source}: {name} must be non-negative, got {value}.");
        }
        void Probability(string name, double value)
        {
            if (!(value >= 0 && value <= 1)) throw new BigBirdConfigException($"{source}: {name} must be in [0, 1], got {value}.");
        }
        void Token(string name, int? id)
        {
            if (id is int v && (v < 0 || v >= VocabSize))
                throw new BigBirdConfigException($"{source}: {name} {v} is outside the vocabulary [0, {VocabSize}).");
        }
        Positive("vocab_size", VocabSize);
        Positive("d_model", DModel);
        Positive("encoder_layers", EncoderLayers);
        Positive("decoder_layers", DecoderLayers);
        Positive("encoder_attention_heads", EncoderAttentionHeads);
        Positive("decoder_attention_heads", DecoderAttentionHeads);
        Positive("encoder_ffn_dim", EncoderFfnDim);
        Positive("decoder_ffn_dim", DecoderFfnDim);
        Positive("max_position_embeddings", MaxPositionEmbeddings);
        Positive("block_size", BlockSize);
        NonNegative("num_random_blocks", NumRandomBlocks);
        Positive("max_length", MaxLength);
        NonNegative("min_length", MinLength);
        Positive("num_beams", NumBeams);
        if (DModel % EncoderAttentionHeads != 0)
            throw new BigBirdConfigException($"{source}: d_model ({DModel}) is not a multiple of encoder_attention_heads ({EncoderAttentionHeads}).");
        if (DModel % DecoderAttentionHeads != 0)
            throw new BigBirdConfigException($"{source}: d_model ({DModel}) is not a multiple of decoder_attention_heads ({DecoderAttentionHeads}).");
        Probability("dropout", Dropout);
        Probability("attention_dropout", AttentionDropout);
        Probability("activation_dropout", ActivationDropout);
        Probability("classifier_dropout", ClassifierDropout);
        Probability("encoder_layerdrop", EncoderLayerdrop);
        Probability("decoder_layerdrop", DecoderLayerdrop);
        Positive("num_labels", NumLabels);
        if (ProblemType is not null and not ("regression" or "single_label_classification" or "multi_label_classification"))
            throw new BigBirdConfigException(
                $"{source}: problem_type '{ProblemType}' is not one of regression, single_label_classification, multi_label_classification.");
        Token("pad_token_id", PadTokenId);
        Token("decoder_start_token_id", DecoderStartTokenId);
        Token("bos_token_id", BosTokenId);
        Token("eos_token_id", EosTokenId);
        Token("forced_eos_token_id", ForcedEosTokenId);
        Token("forced_bos_token_id", ForcedBosTokenId);
        // every weight the model reads must fit one buffer; checked from the claimed sizes, without allocating them
        _ = TensorSize.ForConfig(source, "model.shared.weight", "[vocab_size, d_model]", VocabSize, DModel);
        _ = TensorSize.ForConfig(source, "model.encoder.embed_positions.weight", "[max_position_embeddings, d_model]", MaxPositionEmbeddings, DModel);
        _ = TensorSize.ForConfig(source, "model.encoder.layers.0.fc1.weight", "[encoder_ffn_dim, d_model]", EncoderFfnDim, DModel);
        _ = TensorSize.ForConfig(source, "model.decoder.layers.0.fc1.weight", "[decoder_ffn_dim, d_model]", DecoderFfnDim, DModel);
        _ = BigBirdConfig.ParseActivation(ActivationFunction, source);
    }
}
