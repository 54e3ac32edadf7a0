using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;
using BigBirdSharp.IO;

namespace BigBirdSharp.Modeling.Heads;

/// <summary>
/// The base of the seven task heads, after HF's <c>BigBirdPreTrainedModel</c>: a <see cref="BigBirdModel"/>
/// (<see cref="Bert"/>, HF's <c>bert</c>) plus head modules read from the same checkpoint. Each head loads with its own
/// <c>FromPretrained</c> (<see cref="BigBirdForQuestionAnswering.FromPretrained"/>, …). A loaded head is immutable and
/// thread-safe.
/// </summary>
public abstract class BigBirdPreTrainedModel : IDisposable
{
    /// <summary>The heads this library implements, by HF class name.</summary>
    public static readonly IReadOnlyList<string> HeadArchitectures =
    [
        "BigBirdForPreTraining", "BigBirdForMaskedLM", "BigBirdForCausalLM", "BigBirdForSequenceClassification",
        "BigBirdForMultipleChoice", "BigBirdForTokenClassification", "BigBirdForQuestionAnswering",
    ];

    /// <summary>HF's <c>config</c>: the configuration the head was built from.</summary>
    public BigBirdConfig Config { get; }
    /// <summary>The encoder (HF's <c>self.bert</c>).</summary>
    public BigBirdModel Bert { get; }
    /// <summary>The HF class this head ports, e.g. <c>BigBirdForMaskedLM</c>.</summary>
    public abstract string Architecture { get; }

    /// <summary>The lifetime of the head's memory, shared with <see cref="Bert"/> and the head modules.</summary>
    private protected ModelLifetime Lifetime { get; }

    private protected BigBirdPreTrainedModel(BigBirdConfig config, ITensorReader reader, WeightLoader heads, bool addPoolingLayer, bool ownsReader)
    {
        this.Config = config;
        Lifetime = new ModelLifetime();
        Bert = BigBirdModel.ForHead(config, reader, addPoolingLayer, heads, Lifetime);
        if (ownsReader) Lifetime.OnRelease(reader.Dispose);
    }

    /// <summary>Runs the head as its HF <c>forward</c> in eval mode; computes the loss when labels are given.</summary>
    /// <param name="inputs">HF's forward arguments (labels included).</param>
    /// <param name="options">Per-call settings; null for the defaults.</param>
    /// <param name="cancellationToken">Checked before the call and between the encoder's layers; a cancelled call
    /// leaves the head as it found it.</param>
    /// <exception cref="BigBirdInputException">Bad inputs, or labels of the wrong shape or range for this head.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="ObjectDisposedException">The head has been disposed.</exception>
    public BigBirdHeadOutput Forward(BigBirdInputs inputs, BigBirdForwardOptions? options = null, CancellationToken cancellationToken = default)
    {
        using var lease = Lifetime.Enter(this);
        return ForwardLeased(inputs, options, cancellationToken);
    }

    /// <summary><see cref="Forward"/> for a caller that already holds a lease (<see cref="Acquire"/>).</summary>
    internal BigBirdHeadOutput ForwardLeased(BigBirdInputs inputs, BigBirdForwardOptions? options, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ForwardCore(inputs, options, cancellationToken);
    }

    /// <summary>The head's HF forward; runs under a lease, so it calls <see cref="BigBirdModel.ForwardLeased"/>.</summary>
    private protected abstract BigBirdHeadOutput ForwardCore(BigBirdInputs inputs, BigBirdForwardOptions? options, CancellationToken cancellationToken);

    /// <summary>Keeps the head's weights alive until the lease is disposed (a pipeline's several calls).</summary>
    /// <exception cref="ObjectDisposedException">The head has been disposed.</exception>
    internal ModelLifetime.Lease Acquire() => Lifetime.Enter(this);

    /// <summary>
    /// Loads a head from a Hugging Face checkpoint folder: <paramref name="architecture"/>, else config.json's
    /// <c>architectures[0]</c>.
    /// </summary>
    /// <exception cref="BigBirdConfigException">config.json is missing or invalid.</exception>
    /// <exception cref="BigBirdException">The architecture is not a BigBird head (use <see cref="BigBirdModel.FromPretrained"/> for BigBirdModel).</exception>
    /// <exception cref="TensorMismatchException">The checkpoint lacks a tensor the head needs, or has it in another shape.</exception>
    /// <param name="directory">A Hugging Face checkpoint folder.</param>
    /// <param name="architecture">The head to load; null for config.json's first architecture.</param>
    /// <param name="options">The backend and other load-time settings; null for the CPU backend.</param>
    internal static BigBirdPreTrainedModel Load(string directory, string? architecture = null, BigBirdModelOptions? options = null)
    {
        if (!Directory.Exists(directory))
            throw new BigBirdException($"{directory}: no such folder; pass a Hugging Face checkpoint folder (config.json + weights).");
        var config = BigBirdConfig.FromFile(Path.Combine(directory, "config.json"));
        architecture ??= config.Architectures.FirstOrDefault()
            ?? throw new BigBirdException($"{directory}: config.json names no architectures; say which head to load.");
        CheckArchitecture(architecture);
        var reader = CheckpointLoader.Open(directory);
        try
        {
            return Create(config, reader, architecture, ownsReader: true, options);
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The typed loader behind each head's <c>FromPretrained</c> (HF's <c>from_pretrained</c>): reads config.json, checks
    /// that it and the checkpoint fit <paramref name="architecture"/>, and builds the head. A checkpoint saved as another
    /// head loads when it carries this head's tensors (HF's <c>BigBirdForMaskedLM</c> from a <c>BigBirdForPreTraining</c>
    /// checkpoint, or the default model's three heads).
    /// </summary>
    private protected static T LoadTyped<T>(string directory, string architecture, BigBirdModelOptions? options)
        where T : BigBirdPreTrainedModel
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory))
            throw new BigBirdException($"{directory}: no such folder; pass a Hugging Face checkpoint folder (config.json + weights).");
        var config = BigBirdConfig.FromFile(Path.Combine(directory, "config.json"));
        string named = config.Architectures.Count > 0 ? string.Join(", ", config.Architectures) : "no architecture";
        // HF only warns about these two and then runs the wrong attention: a causal LM that attends to later tokens,
        // or a masked LM that cannot see them
        if (architecture == "BigBirdForCausalLM" && !config.IsDecoder)
            throw new BigBirdArchitectureException(directory, architecture,
                $"config.json has is_decoder false (it names {named}), so its attention is bidirectional; BigBirdForCausalLM needs a decoder checkpoint (is_decoder: true).");
        if (architecture == "BigBirdForMaskedLM" && config.IsDecoder)
            throw new BigBirdArchitectureException(directory, architecture,
                $"config.json has is_decoder true (it names {named}), so its attention is causal; {architecture} needs bidirectional attention (is_decoder: false). Load a decoder as BigBirdForCausalLM.");
        var reader = CheckpointLoader.Open(directory);
        try
        {
            string probe = HeadProbeTensor(architecture);
            if (!reader.TryGetInfo(probe, out _))
                throw new BigBirdArchitectureException(directory, architecture,
                    $"the checkpoint has no {probe} tensor, so it holds no {architecture} head (config.json names {named}). " +
                    $"Load it as the head it was saved as, or as BigBirdModel for the encoder alone; a head that was never trained is not made up here, as HF would with random weights.");
            return (T)Create(config, reader, architecture, ownsReader: true, options);
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }

    /// <summary>A tensor that every checkpoint of the head has, under HF's name.</summary>
    private static string HeadProbeTensor(string architecture) => architecture switch
    {
        "BigBirdForPreTraining" => "cls.seq_relationship.weight",
        "BigBirdForMaskedLM" or "BigBirdForCausalLM" => "cls.predictions.transform.dense.weight",
        "BigBirdForSequenceClassification" => "classifier.out_proj.weight",
        "BigBirdForMultipleChoice" or "BigBirdForTokenClassification" => "classifier.weight",
        "BigBirdForQuestionAnswering" => "qa_classifier.qa_outputs.weight",
        _ => throw new InvalidOperationException(architecture),
    };

    /// <summary>Builds a head over an open reader, which must outlive it (the caller disposes it).</summary>
    internal static BigBirdPreTrainedModel FromReader(BigBirdConfig config, ITensorReader reader, string architecture, BigBirdModelOptions? options = null)
    {
        CheckArchitecture(architecture);
        return Create(config, reader, architecture, ownsReader: false, options);
    }

    private static void CheckArchitecture(string architecture)
    {
        if (!HeadArchitectures.Contains(architecture))
            throw new BigBirdException(
                $"architecture '{architecture}' is not a BigBird task head; supported: BigBirdModel, {string.Join(", ", HeadArchitectures)}.");
    }

    private static BigBirdPreTrainedModel Create(BigBirdConfig config, ITensorReader reader, string architecture, bool ownsReader,
                                                 BigBirdModelOptions? options)
    {
        config.Validate();
        // head tensors (cls.*, classifier.*, qa_classifier.*) sit at the root; every module binds to the same backend
        var heads = new WeightLoader(reader, "", BigBirdModel.CheckBackend(options), options);
        return architecture switch
        {
            "BigBirdForPreTraining" => new BigBirdForPreTraining(config, reader, heads, ownsReader),
            "BigBirdForMaskedLM" => new BigBirdForMaskedLM(config, reader, heads, ownsReader),
            "BigBirdForCausalLM" => new BigBirdForCausalLM(config, reader, heads, ownsReader),
            "BigBirdForSequenceClassification" => new BigBirdForSequenceClassification(config, reader, heads, ownsReader),
            "BigBirdForMultipleChoice" => new BigBirdForMultipleChoice(config, reader, heads, ownsReader),
            "BigBirdForTokenClassification" => new BigBirdForTokenClassification(config, reader, heads, ownsReader),
            "BigBirdForQuestionAnswering" => new BigBirdForQuestionAnswering(config, reader, heads, ownsReader),
            _ => throw new InvalidOperationException(architecture),
        };
    }

    /// <summary>
    /// Releases the memory-mapped weights of a head made by <c>FromPretrained</c> and its idle work space. Safe to call
    /// while other threads run <see cref="Forward"/>: calls already running finish normally and the memory is released
    /// when the last of them returns; calls begun afterwards (on the head, its <see cref="Bert"/> or its modules) throw
    /// <see cref="ObjectDisposedException"/>. Calling it again does nothing.
    /// </summary>
    public void Dispose()
    {
        Lifetime.Dispose();
        GC.SuppressFinalize(this);
    }

    private protected static void Reject(bool present, string name, string architecture)
    {
        if (present)
            throw new BigBirdInputException($"{architecture} takes no {name}; see the inputs HF's {architecture}.forward accepts.");
    }

    /// <summary>Heads whose HF forward takes neither encoder_hidden_states nor past_key_values.</summary>
    private protected void RejectDecoderInputs(BigBirdInputs inputs)
    {
        Reject(inputs.EncoderHiddenStates is not null, "encoder_hidden_states", Architecture);
        Reject(inputs.PastKeyValues is not null, "past_key_values", Architecture);
    }

    private protected static void CheckCount(int[]? values, long expected, string name, string shape)
    {
        if (values is not null && values.Length != expected)
            throw new BigBirdInputException($"{name} has {values.Length} values, expected {expected} for shape {shape}.");
    }

    private protected static BigBirdHeadOutput Wrap(BigBirdModelOutput outputs, float? loss) => new()
    {
        Loss = loss,
        HiddenStates = outputs.HiddenStates,
        Attentions = outputs.Attentions,
        CrossAttentions = outputs.CrossAttentions,
        PastKeyValues = outputs.PastKeyValues,
        AttentionType = outputs.AttentionType,
    };
}

/// <summary>
/// The output of a task head, with HF's field names. Each head fills the fields its HF output class has:
/// <c>MaskedLMOutput</c>, <c>CausalLMOutputWithCrossAttentions</c>, <c>BigBirdForPreTrainingOutput</c>,
/// <c>SequenceClassifierOutput</c>, <c>MultipleChoiceModelOutput</c>, <c>TokenClassifierOutput</c>,
/// <c>BigBirdForQuestionAnsweringModelOutput</c>.
/// </summary>
public sealed record BigBirdHeadOutput
{
    /// <summary>loss, when labels were given (NaN when every label is ignored, as torch).</summary>
    public float? Loss { get; init; }
    /// <summary>logits: [batch, seq, vocab] (LM), [batch, num_labels], [batch, choices], or [batch, seq, num_labels].</summary>
    public FloatTensor? Logits { get; init; }
    /// <summary>prediction_logits [batch, seq, vocab] of BigBirdForPreTraining.</summary>
    public FloatTensor? PredictionLogits { get; init; }
    /// <summary>seq_relationship_logits [batch, 2] of BigBirdForPreTraining.</summary>
    public FloatTensor? SeqRelationshipLogits { get; init; }
    /// <summary>start_logits [batch, seq] of BigBirdForQuestionAnswering (question tokens lowered by 1e6).</summary>
    public FloatTensor? StartLogits { get; init; }
    /// <summary>end_logits [batch, seq] of BigBirdForQuestionAnswering.</summary>
    public FloatTensor? EndLogits { get; init; }
    /// <summary>hidden_states, as <see cref="BigBirdModelOutput.HiddenStates"/>.</summary>
    public IReadOnlyList<FloatTensor>? HiddenStates { get; init; }
    /// <summary>attentions, as <see cref="BigBirdModelOutput.Attentions"/>.</summary>
    public IReadOnlyList<FloatTensor>? Attentions { get; init; }
    /// <summary>cross_attentions of a decoder with cross-attention.</summary>
    public IReadOnlyList<FloatTensor>? CrossAttentions { get; init; }
    /// <summary>past_key_values: the cache the call extended, when one was given.</summary>
    public BigBirdKeyValueCache? PastKeyValues { get; init; }
    /// <summary>The attention that actually ran.</summary>
    public AttentionType AttentionType { get; init; }
}
