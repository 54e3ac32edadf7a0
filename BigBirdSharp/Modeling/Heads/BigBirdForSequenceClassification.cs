using BigBirdSharp.Configuration;
using BigBirdSharp.IO;

namespace BigBirdSharp.Modeling.Heads;

/// <summary>
/// BigBird with <see cref="BigBirdClassificationHead"/> over the first token. Ports
/// <c>BigBirdForSequenceClassification</c>: logits [batch, num_labels]. The loss follows HF's problem_type: set in
/// config.json, or inferred: num_labels = 1 → regression (MSE); integer labels → single_label_classification
/// (cross-entropy); float labels → multi_label_classification (BCE with logits).
/// </summary>
public sealed class BigBirdForSequenceClassification : BigBirdPreTrainedModel
{
    /// <summary>classifier</summary>
    public BigBirdClassificationHead Classifier { get; }

    /// <inheritdoc/>
    public override string Architecture => "BigBirdForSequenceClassification";

    /// <summary>
    /// Loads a BigBirdForSequenceClassification from a Hugging Face checkpoint folder (HF's <c>BigBirdForSequenceClassification.from_pretrained</c>): config.json and
    /// model.safetensors, a sharded safetensors index, or pytorch_model.bin.
    /// </summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <param name="options">The backend, threads and other load-time settings; null for the CPU backend on every processor.</param>
    /// <returns>The loaded head; dispose it to release the memory-mapped weights.</returns>
    /// <exception cref="BigBirdConfigException">config.json is missing or invalid.</exception>
    /// <exception cref="BigBirdArchitectureException">The checkpoint holds no BigBirdForSequenceClassification head, or config.json contradicts it.</exception>
    /// <exception cref="CheckpointFormatException">A weights file is missing or malformed.</exception>
    /// <exception cref="TensorMismatchException">The checkpoint lacks a tensor the head needs, or has it in another shape.</exception>
    /// <exception cref="BigBirdOptionsException"><paramref name="options"/> contradict each other.</exception>
    /// <exception cref="BigBirdException">The folder does not exist, or the backend lacks an operation the model needs.</exception>
    public static BigBirdForSequenceClassification FromPretrained(string directory, BigBirdModelOptions? options = null) =>
        LoadTyped<BigBirdForSequenceClassification>(directory, "BigBirdForSequenceClassification", options);

    internal BigBirdForSequenceClassification(BigBirdConfig config, ITensorReader reader, WeightLoader heads, bool ownsReader)
        : base(config, reader, heads, addPoolingLayer: false, ownsReader)
    {
        Classifier = new BigBirdClassificationHead(heads, config, Lifetime);
    }

    /// <summary>HF's problem_type for these labels: config's, or inferred from num_labels and the labels' type.</summary>
    public string ProblemType(bool integerLabels) =>
        Config.ProblemType ?? (Config.NumLabels == 1 ? "regression"
            : integerLabels ? "single_label_classification" : "multi_label_classification");

    private protected override BigBirdHeadOutput ForwardCore(BigBirdInputs inputs, BigBirdForwardOptions? options, CancellationToken cancellationToken)
    {
        int batch = inputs.BatchSize, num_labels = Config.NumLabels;
        RejectDecoderInputs(inputs);
        if (inputs.Labels is not null && inputs.FloatLabels is not null)
            throw new BigBirdInputException("give labels either as integers or as floats, not both.");
        string? problem_type = inputs.Labels is null && inputs.FloatLabels is null ? null : ProblemType(inputs.Labels is not null);
        switch (problem_type)
        {
            case "regression":
                if (inputs.FloatLabels is null)
                    throw new BigBirdInputException("regression (num_labels = 1 or problem_type regression) needs float labels, e.g. [0.5, 2.0].");
                if (inputs.FloatLabels.Length != (long)batch * num_labels)
                    throw new BigBirdInputException($"labels has {inputs.FloatLabels.Length} values, expected {batch * num_labels} for shape [{batch}{(num_labels == 1 ? "" : $", {num_labels}")}].");
                break;
            case "single_label_classification":
                if (inputs.Labels is null)
                    throw new BigBirdInputException("single_label_classification needs integer class ids as labels, one per row.");
                CheckCount(inputs.Labels, batch, "labels", $"[{batch}]");
                break;
            case "multi_label_classification":
                if (inputs.FloatLabels is null)
                    throw new BigBirdInputException($"multi_label_classification needs float 0/1 labels of shape [{batch}, {num_labels}].");
                if (inputs.FloatLabels.Length != (long)batch * num_labels)
                    throw new BigBirdInputException($"labels has {inputs.FloatLabels.Length} values, expected {batch * num_labels} for shape [{batch}, {num_labels}].");
                break;
        }

        var outputs = Bert.ForwardLeased(inputs, options, cancellationToken);
        var logits = Classifier.ForwardLeased(outputs.LastHiddenState);
        float? loss = problem_type switch
        {
            "regression" => Losses.MeanSquaredError(logits, inputs.FloatLabels),
            "single_label_classification" => Losses.CrossEntropy(logits, inputs.Labels, num_labels),
            "multi_label_classification" => Losses.BinaryCrossEntropyWithLogits(logits, inputs.FloatLabels),
            _ => null,
        };
        return Wrap(outputs, loss) with { Logits = new FloatTensor(logits, batch, num_labels) };
    }
}

/// <summary>
/// BigBird scoring each choice through the pooler and a [1, hidden] classifier. Ports <c>BigBirdForMultipleChoice</c>:
/// the [batch, choices, seq] inputs run as batch·choices rows (<see cref="BigBirdInputs.NumChoices"/>), and logits
/// are [batch, choices]; loss = cross-entropy against labels [batch].
/// </summary>
public sealed class BigBirdForMultipleChoice : BigBirdPreTrainedModel
{
    /// <summary>classifier [1, hidden] + bias</summary>
    public Linear Classifier { get; }

    /// <inheritdoc/>
    public override string Architecture => "BigBirdForMultipleChoice";

    /// <summary>
    /// Loads a BigBirdForMultipleChoice from a Hugging Face checkpoint folder (HF's <c>BigBirdForMultipleChoice.from_pretrained</c>): config.json and
    /// model.safetensors, a sharded safetensors index, or pytorch_model.bin.
    /// </summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <param name="options">The backend, threads and other load-time settings; null for the CPU backend on every processor.</param>
    /// <returns>The loaded head; dispose it to release the memory-mapped weights.</returns>
    /// <exception cref="BigBirdConfigException">config.json is missing or invalid.</exception>
    /// <exception cref="BigBirdArchitectureException">The checkpoint holds no BigBirdForMultipleChoice head, or config.json contradicts it.</exception>
    /// <exception cref="CheckpointFormatException">A weights file is missing or malformed.</exception>
    /// <exception cref="TensorMismatchException">The checkpoint lacks a tensor the head needs, or has it in another shape.</exception>
    /// <exception cref="BigBirdOptionsException"><paramref name="options"/> contradict each other.</exception>
    /// <exception cref="BigBirdException">The folder does not exist, or the backend lacks an operation the model needs.</exception>
    public static BigBirdForMultipleChoice FromPretrained(string directory, BigBirdModelOptions? options = null) =>
        LoadTyped<BigBirdForMultipleChoice>(directory, "BigBirdForMultipleChoice", options);

    internal BigBirdForMultipleChoice(BigBirdConfig config, ITensorReader reader, WeightLoader heads, bool ownsReader)
        : base(config, reader, heads, addPoolingLayer: true, ownsReader)
    {
        Classifier = new Linear(heads, "classifier", config.HiddenSize, 1);
    }

    private protected override BigBirdHeadOutput ForwardCore(BigBirdInputs inputs, BigBirdForwardOptions? options, CancellationToken cancellationToken)
    {
        int num_choices = inputs.NumChoices, rows = inputs.BatchSize;
        if (num_choices <= 0 || rows % num_choices != 0)
            throw new BigBirdInputException(
                $"{Architecture} needs input_ids shaped [batch, choices, seq]; got {rows} rows with {num_choices} choices per example.");
        int batch = rows / num_choices;
        RejectDecoderInputs(inputs);
        Reject(inputs.FloatLabels is not null, "float labels (labels are the index of the right choice)", Architecture);
        CheckCount(inputs.Labels, batch, "labels", $"[{batch}]");

        var outputs = Bert.ForwardLeased(inputs, options, cancellationToken);
        var reshaped_logits = Classifier.Forward(outputs.PoolerOutput!.Data, rows); // [batch·choices, 1] viewed as [batch, choices]
        float? loss = inputs.Labels is { } labels ? Losses.CrossEntropy(reshaped_logits, labels, num_choices) : null;
        return Wrap(outputs, loss) with { Logits = new FloatTensor(reshaped_logits, batch, num_choices) };
    }
}

/// <summary>
/// BigBird with a per-token [num_labels, hidden] classifier. Ports <c>BigBirdForTokenClassification</c>: logits
/// [batch, seq, num_labels]; loss = cross-entropy over labels ≠ −100.
/// </summary>
public sealed class BigBirdForTokenClassification : BigBirdPreTrainedModel
{
    /// <summary>classifier [num_labels, hidden] + bias</summary>
    public Linear Classifier { get; }

    /// <inheritdoc/>
    public override string Architecture => "BigBirdForTokenClassification";

    /// <summary>
    /// Loads a BigBirdForTokenClassification from a Hugging Face checkpoint folder (HF's <c>BigBirdForTokenClassification.from_pretrained</c>): config.json and
    /// model.safetensors, a sharded safetensors index, or pytorch_model.bin.
    /// </summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <param name="options">The backend, threads and other load-time settings; null for the CPU backend on every processor.</param>
    /// <returns>The loaded head; dispose it to release the memory-mapped weights.</returns>
    /// <exception cref="BigBirdConfigException">config.json is missing or invalid.</exception>
    /// <exception cref="BigBirdArchitectureException">The checkpoint holds no BigBirdForTokenClassification head, or config.json contradicts it.</exception>
    /// <exception cref="CheckpointFormatException">A weights file is missing or malformed.</exception>
    /// <exception cref="TensorMismatchException">The checkpoint lacks a tensor the head needs, or has it in another shape.</exception>
    /// <exception cref="BigBirdOptionsException"><paramref name="options"/> contradict each other.</exception>
    /// <exception cref="BigBirdException">The folder does not exist, or the backend lacks an operation the model needs.</exception>
    public static BigBirdForTokenClassification FromPretrained(string directory, BigBirdModelOptions? options = null) =>
        LoadTyped<BigBirdForTokenClassification>(directory, "BigBirdForTokenClassification", options);

    internal BigBirdForTokenClassification(BigBirdConfig config, ITensorReader reader, WeightLoader heads, bool ownsReader)
        : base(config, reader, heads, addPoolingLayer: false, ownsReader)
    {
        Classifier = new Linear(heads, "classifier", config.HiddenSize, config.NumLabels);
    }

    private protected override BigBirdHeadOutput ForwardCore(BigBirdInputs inputs, BigBirdForwardOptions? options, CancellationToken cancellationToken)
    {
        int batch = inputs.BatchSize, seq = inputs.SequenceLength, num_labels = Config.NumLabels;
        RejectDecoderInputs(inputs);
        Reject(inputs.FloatLabels is not null, "float labels (token labels are class ids)", Architecture);
        CheckCount(inputs.Labels, (long)batch * seq, "labels", $"[{batch}, {seq}]");
        var outputs = Bert.ForwardLeased(inputs, options, cancellationToken);
        var logits = Classifier.Forward(outputs.LastHiddenState.Data, batch * seq);
        float? loss = inputs.Labels is { } labels ? Losses.CrossEntropy(logits, labels, num_labels) : null;
        return Wrap(outputs, loss) with { Logits = new FloatTensor(logits, batch, seq, num_labels) };
    }
}
