using BigBirdSharp.Configuration;
using BigBirdSharp.IO;

namespace BigBirdSharp.Modeling.Heads;

/// <summary>
/// BigBird with the masked-LM head. Ports <c>BigBirdForMaskedLM</c>: logits [batch, seq, vocab] from
/// <c>cls.predictions</c> (decoder tied to the word embeddings); loss = cross-entropy over labels ≠ −100.
/// </summary>
public sealed class BigBirdForMaskedLM : BigBirdPreTrainedModel
{
    /// <summary>cls (cls.predictions)</summary>
    public BigBirdOnlyMLMHead Cls { get; }

    /// <inheritdoc/>
    public override string Architecture => "BigBirdForMaskedLM";

    /// <summary>
    /// Loads a BigBirdForMaskedLM from a Hugging Face checkpoint folder (HF's <c>BigBirdForMaskedLM.from_pretrained</c>): config.json and
    /// model.safetensors, a sharded safetensors index, or pytorch_model.bin.
    /// </summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <param name="options">The backend, threads and other load-time settings; null for the CPU backend on every processor.</param>
    /// <returns>The loaded head; dispose it to release the memory-mapped weights.</returns>
    /// <exception cref="BigBirdConfigException">config.json is missing or invalid.</exception>
    /// <exception cref="BigBirdArchitectureException">The checkpoint holds no BigBirdForMaskedLM head, or config.json contradicts it.</exception>
    /// <exception cref="CheckpointFormatException">A weights file is missing or malformed.</exception>
    /// <exception cref="TensorMismatchException">The checkpoint lacks a tensor the head needs, or has it in another shape.</exception>
    /// <exception cref="BigBirdOptionsException"><paramref name="options"/> contradict each other.</exception>
    /// <exception cref="BigBirdException">The folder does not exist, or the backend lacks an operation the model needs.</exception>
    public static BigBirdForMaskedLM FromPretrained(string directory, BigBirdModelOptions? options = null) =>
        LoadTyped<BigBirdForMaskedLM>(directory, "BigBirdForMaskedLM", options);

    internal BigBirdForMaskedLM(BigBirdConfig config, ITensorReader reader, WeightLoader heads, bool ownsReader)
        : base(config, reader, heads, addPoolingLayer: false, ownsReader)
    {
        Cls = new BigBirdOnlyMLMHead(heads, config, Bert.Embeddings.WordEmbeddings, Lifetime);
    }

    private protected override BigBirdHeadOutput ForwardCore(BigBirdInputs inputs, BigBirdForwardOptions? options, CancellationToken cancellationToken)
    {
        int batch = inputs.BatchSize, seq = inputs.SequenceLength, vocab = Config.VocabSize;
        Reject(inputs.FloatLabels is not null, "float labels (masked-LM labels are token ids)", Architecture);
        CheckCount(inputs.Labels, (long)batch * seq, "labels", $"[{batch}, {seq}]");
        var outputs = Bert.ForwardLeased(inputs, options, cancellationToken);
        var sequence_output = outputs.LastHiddenState;
        var prediction_scores = Cls.Predictions.ForwardLeased(sequence_output.Data, batch * seq);
        float? masked_lm_loss = inputs.Labels is { } labels ? Losses.CrossEntropy(prediction_scores, labels, vocab) : null;
        return Wrap(outputs, masked_lm_loss) with { Logits = new FloatTensor(prediction_scores, batch, seq, vocab) };
    }
}

/// <summary>
/// BigBird with both pre-training heads. Ports <c>BigBirdForPreTraining</c>: prediction_logits from
/// <c>cls.predictions</c>, seq_relationship_logits from <c>cls.seq_relationship</c> over the pooled output; loss =
/// MLM loss (+ NSP loss when next_sentence_label is also given; HF ignores next_sentence_label without labels).
/// </summary>
public sealed class BigBirdForPreTraining : BigBirdPreTrainedModel
{
    /// <summary>cls (predictions + seq_relationship)</summary>
    public BigBirdPreTrainingHeads Cls { get; }

    /// <inheritdoc/>
    public override string Architecture => "BigBirdForPreTraining";

    /// <summary>
    /// Loads a BigBirdForPreTraining from a Hugging Face checkpoint folder (HF's <c>BigBirdForPreTraining.from_pretrained</c>): config.json and
    /// model.safetensors, a sharded safetensors index, or pytorch_model.bin.
    /// </summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <param name="options">The backend, threads and other load-time settings; null for the CPU backend on every processor.</param>
    /// <returns>The loaded head; dispose it to release the memory-mapped weights.</returns>
    /// <exception cref="BigBirdConfigException">config.json is missing or invalid.</exception>
    /// <exception cref="BigBirdArchitectureException">The checkpoint holds no BigBirdForPreTraining head, or config.json contradicts it.</exception>
    /// <exception cref="CheckpointFormatException">A weights file is missing or malformed.</exception>
    /// <exception cref="TensorMismatchException">The checkpoint lacks a tensor the head needs, or has it in another shape.</exception>
    /// <exception cref="BigBirdOptionsException"><paramref name="options"/> contradict each other.</exception>
    /// <exception cref="BigBirdException">The folder does not exist, or the backend lacks an operation the model needs.</exception>
    public static BigBirdForPreTraining FromPretrained(string directory, BigBirdModelOptions? options = null) =>
        LoadTyped<BigBirdForPreTraining>(directory, "BigBirdForPreTraining", options);

    internal BigBirdForPreTraining(BigBirdConfig config, ITensorReader reader, WeightLoader heads, bool ownsReader)
        : base(config, reader, heads, addPoolingLayer: true, ownsReader)
    {
        Cls = new BigBirdPreTrainingHeads(heads, config, Bert.Embeddings.WordEmbeddings, Lifetime);
    }

    private protected override BigBirdHeadOutput ForwardCore(BigBirdInputs inputs, BigBirdForwardOptions? options, CancellationToken cancellationToken)
    {
        int batch = inputs.BatchSize, seq = inputs.SequenceLength, vocab = Config.VocabSize;
        RejectDecoderInputs(inputs);
        Reject(inputs.FloatLabels is not null, "float labels (masked-LM labels are token ids)", Architecture);
        CheckCount(inputs.Labels, (long)batch * seq, "labels", $"[{batch}, {seq}]");
        CheckCount(inputs.NextSentenceLabel, batch, "next_sentence_label", $"[{batch}]");
        var outputs = Bert.ForwardLeased(inputs, options, cancellationToken);
        var prediction_scores = Cls.Predictions.ForwardLeased(outputs.LastHiddenState.Data, batch * seq);
        var seq_relationship_score = Cls.SeqRelationship.Forward(outputs.PoolerOutput!.Data, batch);

        float? total_loss = null;
        if (inputs.Labels is { } labels)
        {
            total_loss = Losses.CrossEntropy(prediction_scores, labels, vocab);
            if (inputs.NextSentenceLabel is { } nsp)
                total_loss += Losses.CrossEntropy(seq_relationship_score, nsp, 2, what: "next_sentence_label");
        }
        return Wrap(outputs, total_loss) with
        {
            PredictionLogits = new FloatTensor(prediction_scores, batch, seq, vocab),
            SeqRelationshipLogits = new FloatTensor(seq_relationship_score, batch, 2),
        };
    }
}
