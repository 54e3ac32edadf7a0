using System.Text.Json;
using BigBirdSharp.IO;
using BigBirdSharp.Kernels;
using BigBirdSharp.Modeling;

namespace BigBirdSharp.Configuration;

/// <summary>BigBird's two attention implementations (<c>config.attention_type</c>).</summary>
public enum AttentionType
{
    /// <summary><c>original_full</c>: dense self-attention (BigBirdSelfAttention).</summary>
    OriginalFull,
    /// <summary><c>block_sparse</c>: global + sliding + random blocks (BigBirdBlockSparseAttention).</summary>
    BlockSparse,
}

/// <summary>
/// The model configuration, read from a Hugging Face <c>config.json</c>. Ports
/// <c>BigBirdConfig</c> and the parts of <c>PretrainedConfig</c> the model uses
/// (transformers 4.27.1 <c>configuration_big_bird.py</c>), with HF's defaults for absent keys.
/// Instances are immutable.
/// </summary>
public sealed record BigBirdConfig
{
    /// <summary><c>vocab_size</c> (default 50358).</summary>
    public int VocabSize { get; init; } = 50358;
    /// <summary><c>hidden_size</c> (default 768).</summary>
    public int HiddenSize { get; init; } = 768;
    /// <summary><c>num_hidden_layers</c> (default 12).</summary>
    public int NumHiddenLayers { get; init; } = 12;
    /// <summary><c>num_attention_heads</c> (default 12).</summary>
    public int NumAttentionHeads { get; init; } = 12;
    /// <summary><c>intermediate_size</c> (default 3072).</summary>
    public int IntermediateSize { get; init; } = 3072;
    /// <summary><c>hidden_act</c> as its ACT2FN name (default <c>gelu_new</c>).</summary>
    public string HiddenAct { get; init; } = "gelu_new";
    /// <summary><c>hidden_dropout_prob</c>; inference ignores dropout.</summary>
    public double HiddenDropoutProb { get; init; } = 0.1;
    /// <summary><c>attention_probs_dropout_prob</c>; inference ignores dropout.</summary>
    public double AttentionProbsDropoutProb { get; init; } = 0.1;
    /// <summary><c>max_position_embeddings</c> (default 4096); also the old random plan's <c>max_seqlen</c>.</summary>
    public int MaxPositionEmbeddings { get; init; } = 4096;
    /// <summary><c>type_vocab_size</c> (default 2).</summary>
    public int TypeVocabSize { get; init; } = 2;
    /// <summary><c>initializer_range</c>; unused at inference, kept for round-trips.</summary>
    public double InitializerRange { get; init; } = 0.02;
    /// <summary><c>layer_norm_eps</c> (default 1e-12).</summary>
    public double LayerNormEps { get; init; } = 1e-12;
    /// <summary><c>use_cache</c> (default true).</summary>
    public bool UseCache { get; init; } = true;
    /// <summary><c>pad_token_id</c> (default 0); block-sparse padding uses it.</summary>
    public int PadTokenId { get; init; }
    /// <summary><c>bos_token_id</c> (default 1).</summary>
    public int? BosTokenId { get; init; } = 1;
    /// <summary><c>eos_token_id</c> (default 2).</summary>
    public int? EosTokenId { get; init; } = 2;
    /// <summary><c>sep_token_id</c> (default 66).</summary>
    public int? SepTokenId { get; init; } = 66;
    /// <summary><c>attention_type</c> (default block_sparse).</summary>
    public AttentionType AttentionType { get; init; } = AttentionType.BlockSparse;
    /// <summary><c>use_bias</c>: whether query/key/value have biases (default true).</summary>
    public bool UseBias { get; init; } = true;
    /// <summary><c>rescale_embeddings</c>: multiply word embeddings by √hidden_size (default false).</summary>
    public bool RescaleEmbeddings { get; init; }
    /// <summary><c>block_size</c> of block-sparse attention (default 64).</summary>
    public int BlockSize { get; init; } = 64;
    /// <summary><c>num_random_blocks</c> per query block (default 3).</summary>
    public int NumRandomBlocks { get; init; } = 3;
    /// <summary><c>classifier_dropout</c>; inference ignores dropout.</summary>
    public double? ClassifierDropout { get; init; }
    /// <summary><c>is_decoder</c>: full self-attention becomes causal.</summary>
    public bool IsDecoder { get; init; }
    /// <summary><c>add_cross_attention</c>.</summary>
    public bool AddCrossAttention { get; init; }
    /// <summary><c>chunk_size_feed_forward</c>; chunking does not change results, so it only affects scheduling.</summary>
    public int ChunkSizeFeedForward { get; init; }
    /// <summary><c>tie_word_embeddings</c> (default true).</summary>
    public bool TieWordEmbeddings { get; init; } = true;
    /// <summary><c>architectures</c>, such as <c>["BigBirdForMaskedLM"]</c>; may be empty.</summary>
    public IReadOnlyList<string> Architectures { get; init; } = [];
    /// <summary><c>id2label</c>, keyed by class index.</summary>
    public IReadOnlyDictionary<int, string> Id2Label { get; init; } = new Dictionary<int, string>();
    /// <summary><c>problem_type</c>, when set: regression, single_label_classification or multi_label_classification.</summary>
    public string? ProblemType { get; init; }
    /// <summary><c>num_labels</c>: the size of <c>id2label</c> when config.json has one, else its <c>num_labels</c>, else 2 (HF's rule).</summary>
    public int NumLabels { get; init; } = 2;

    /// <summary>The name of class <paramref name="index"/>: <c>id2label</c>, or HF's default <c>LABEL_i</c>.</summary>
    public string LabelName(int index) => Id2Label.TryGetValue(index, out var name) ? name : $"LABEL_{index}";

    /// <summary>The activation <see cref="HiddenAct"/> names.</summary>
    public ActivationKind HiddenActKind => ParseActivation(HiddenAct);

    /// <summary><c>hidden_size / num_attention_heads</c>.</summary>
    public int AttentionHeadSize => HiddenSize / NumAttentionHeads;

    /// <summary>
    /// Longest unpadded sequence that still falls back to full attention:
    /// (5 + 2·num_random_blocks)·block_size, as BigBirdModel.forward computes it. Computed in 64 bits (saturating at
    /// <see cref="long.MaxValue"/>), as Python's integers never overflow: a block_size or num_random_blocks so large that
    /// the product passes int.MaxValue means every input falls back to full attention, as in HF.
    /// </summary>
    public long MaxTokensToAttend => (long)Int128.Clamp((Int128)(5 + 2L * NumRandomBlocks) * BlockSize, long.MinValue, long.MaxValue);

    /// <summary>The largest <c>config.json</c> read (Hugging Face's are a few KiB; id2label tables of many labels stay far below it).</summary>
    public const long MaxFileBytes = 16L << 20;

    /// <summary>Reads and validates <c>config.json</c>.</summary>
    /// <exception cref="BigBirdConfigException">The file is missing, not a regular file, larger than <see cref="MaxFileBytes"/>,
    /// not JSON, or holds an invalid value.</exception>
    public static BigBirdConfig FromFile(string path)
        => FromJson(ConfigFile.ReadText(path), path);

    /// <summary>The class that loads a folder of <paramref name="modelType"/> when it is a sequence-to-sequence type, else null.</summary>
    internal static string? SequenceToSequenceClass(string modelType) => modelType switch
    {
        BigBirdPegasusConfig.ModelType => "BigBirdPegasusForConditionalGeneration.FromPretrained (or another BigBirdPegasus class)",
        "encoder-decoder" => "EncoderDecoderModel.FromPretrained",
        _ => null,
    };

    /// <summary>Parses and validates the text of a <c>config.json</c>.</summary>
    /// <param name="json">The JSON text.</param>
    /// <param name="source">Where it came from, for error messages.</param>
    /// <exception cref="BigBirdConfigException">Not a JSON object, a field of the wrong type, or an invalid value.</exception>
    public static BigBirdConfig FromJson(string json, string source = "config.json")
    {
        using (var doc = ConfigFile.Parse(json, source))
        {
            var root = doc.RootElement;
            var r = new ConfigFieldReader(root, source);
            var d = new BigBirdConfig();
            // a sequence-to-sequence folder has none of BigBird's fields: say which class reads it, rather than fail on weights
            if (r.NullableString("model_type") is { } modelType && SequenceToSequenceClass(modelType) is { } other)
                throw new BigBirdConfigException($"{source}: model_type is '{modelType}', which BigBirdConfig does not read; load the folder with {other}.");
            var config = new BigBirdConfig
            {
                VocabSize = r.Int("vocab_size", d.VocabSize),
                HiddenSize = r.Int("hidden_size", d.HiddenSize),
                NumHiddenLayers = r.Int("num_hidden_layers", d.NumHiddenLayers),
                NumAttentionHeads = r.Int("num_attention_heads", d.NumAttentionHeads),
                IntermediateSize = r.Int("intermediate_size", d.IntermediateSize),
                HiddenAct = r.String("hidden_act", d.HiddenAct),
                HiddenDropoutProb = r.Double("hidden_dropout_prob", d.HiddenDropoutProb),
                AttentionProbsDropoutProb = r.Double("attention_probs_dropout_prob", d.AttentionProbsDropoutProb),
                MaxPositionEmbeddings = r.Int("max_position_embeddings", d.MaxPositionEmbeddings),
                TypeVocabSize = r.Int("type_vocab_size", d.TypeVocabSize),
                InitializerRange = r.Double("initializer_range", d.InitializerRange),
                LayerNormEps = r.Double("layer_norm_eps", d.LayerNormEps),
                UseCache = r.Bool("use_cache", d.UseCache),
                PadTokenId = r.NullableInt("pad_token_id", d.PadTokenId) ?? 0,
                BosTokenId = r.NullableInt("bos_token_id", d.BosTokenId, saturate: true),
                EosTokenId = r.NullableInt("eos_token_id", d.EosTokenId, saturate: true),
                SepTokenId = r.NullableInt("sep_token_id", d.SepTokenId, saturate: true),
                AttentionType = ParseAttentionType(r.String("attention_type", "block_sparse"), source),
                UseBias = r.Bool("use_bias", d.UseBias),
                RescaleEmbeddings = r.Bool("rescale_embeddings", d.RescaleEmbeddings),
                BlockSize = r.Int("block_size", d.BlockSize, saturate: true),
                NumRandomBlocks = r.Int("num_random_blocks", d.NumRandomBlocks, saturate: true),
                ClassifierDropout = r.NullableDouble("classifier_dropout"),
                IsDecoder = r.Bool("is_decoder", false),
                AddCrossAttention = r.Bool("add_cross_attention", false),
                ChunkSizeFeedForward = r.Int("chunk_size_feed_forward", 0),
                TieWordEmbeddings = r.Bool("tie_word_embeddings", true),
                Architectures = r.StringList("architectures"),
                Id2Label = r.Id2Label(),
                ProblemType = r.NullableString("problem_type"),
            };
            // HF: id2label, when present, decides num_labels; otherwise the num_labels argument, default 2
            config = config with { NumLabels = config.Id2Label.Count > 0 ? config.Id2Label.Count : r.Int("num_labels", 2) };
            config.Validate(source);
            return config;
        }
    }

    /// <summary>Checks every invariant the model relies on.</summary>
    /// <exception cref="BigBirdConfigException">A value is invalid; the message names the field and the value.</exception>
    public void Validate(string source = "config")
    {
        void Positive(string name, long value)
        {
            if (value <= 0) throw new BigBirdConfigException($"{source}: {name} must be positive, got {value}.");
        }
        Positive("vocab_size", VocabSize);
        Positive("hidden_size", HiddenSize);
        Positive("num_hidden_layers", NumHiddenLayers);
        Positive("num_attention_heads", NumAttentionHeads);
        Positive("intermediate_size", IntermediateSize);
        Positive("max_position_embeddings", MaxPositionEmbeddings);
        Positive("type_vocab_size", TypeVocabSize);
        Positive("block_size", BlockSize);
        if (NumRandomBlocks < 0)
            throw new BigBirdConfigException($"{source}: num_random_blocks must be non-negative, got {NumRandomBlocks}.");
        if (HiddenSize % NumAttentionHeads != 0)
            throw new BigBirdConfigException(
                $"{source}: hidden_size ({HiddenSize}) is not a multiple of num_attention_heads ({NumAttentionHeads}).");
        // every weight the model reads must fit one buffer; checked here from the claimed sizes, without allocating them
        _ = TensorSize.ForConfig(source, "embeddings.word_embeddings.weight", "[vocab_size, hidden_size]", VocabSize, HiddenSize);
        _ = TensorSize.ForConfig(source, "embeddings.position_embeddings.weight", "[max_position_embeddings, hidden_size]",
                                 MaxPositionEmbeddings, HiddenSize);
        _ = TensorSize.ForConfig(source, "embeddings.token_type_embeddings.weight", "[type_vocab_size, hidden_size]", TypeVocabSize, HiddenSize);
        _ = TensorSize.ForConfig(source, "attention.self.query.weight", "[hidden_size, hidden_size]", HiddenSize, HiddenSize);
        _ = TensorSize.ForConfig(source, "intermediate.dense.weight", "[intermediate_size, hidden_size]", IntermediateSize, HiddenSize);
        if (!(LayerNormEps > 0) || double.IsInfinity(LayerNormEps))
            throw new BigBirdConfigException($"{source}: layer_norm_eps must be a positive finite number, got {LayerNormEps}.");
        if (PadTokenId < 0 || PadTokenId >= VocabSize)
            throw new BigBirdConfigException($"{source}: pad_token_id {PadTokenId} is outside the vocabulary [0, {VocabSize}).");
        if (AddCrossAttention && !IsDecoder)
            throw new BigBirdConfigException($"{source}: add_cross_attention needs is_decoder=true, as in Hugging Face.");
        Positive("num_labels", NumLabels);
        if (ProblemType is not null and not ("regression" or "single_label_classification" or "multi_label_classification"))
            throw new BigBirdConfigException(
                $"{source}: problem_type '{ProblemType}' is not one of regression, single_label_classification, multi_label_classification.");
        _ = ParseActivation(HiddenAct, source);
    }

    /// <summary>Maps an ACT2FN name to its <see cref="ActivationKind"/>.</summary>
    /// <exception cref="BigBirdConfigException">The name is not an activation BigBird supports.</exception>
    public static ActivationKind ParseActivation(string name, string source = "config") => name switch
    {
        "gelu" => ActivationKind.Gelu,
        "gelu_new" => ActivationKind.GeluNew,
        "gelu_fast" => ActivationKind.GeluFast,
        "gelu_pytorch_tanh" => ActivationKind.GeluPytorchTanh,
        "gelu_python" => ActivationKind.GeluPython,
        "gelu_10" => ActivationKind.Gelu10,
        "quick_gelu" => ActivationKind.QuickGelu,
        "relu" => ActivationKind.Relu,
        "relu6" => ActivationKind.Relu6,
        "silu" or "swish" => ActivationKind.Silu,
        "mish" => ActivationKind.Mish,
        "tanh" => ActivationKind.Tanh,
        "sigmoid" => ActivationKind.Sigmoid,
        "linear" => ActivationKind.Linear,
        _ => throw new BigBirdConfigException(
            $"{source}: unknown hidden_act '{name}'. Supported: gelu, gelu_new, gelu_fast, gelu_pytorch_tanh, gelu_python, " +
            "gelu_10, quick_gelu, relu, relu6, silu, swish, mish, tanh, sigmoid, linear."),
    };

    /// <summary>Parses <c>original_full</c> or <c>block_sparse</c>.</summary>
    /// <exception cref="BigBirdConfigException">Any other value.</exception>
    public static AttentionType ParseAttentionType(string value, string source = "config") => value switch
    {
        "original_full" => AttentionType.OriginalFull,
        "block_sparse" => AttentionType.BlockSparse,
        _ => throw new BigBirdConfigException(
            $"{source}: attention_type can either be original_full or block_sparse, but is '{value}'."),
    };

    /// <summary>The HF spelling of an <see cref="Configuration.AttentionType"/>.</summary>
    public static string AttentionTypeName(AttentionType type) =>
        type == AttentionType.OriginalFull ? "original_full" : "block_sparse";
}
