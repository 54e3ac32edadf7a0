using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling.Heads;

namespace BigBirdSharp.Modeling.Pegasus;

/// <summary>
/// BigBirdPegasus with a sentence-level classification head. Ports <c>BigBirdPegasusForSequenceClassification</c>
/// (transformers 4.27.1): <c>model</c> (decoder inputs default to shift_tokens_right(input_ids)), then the decoder's
/// last hidden state at the last eos_token_id of each row of input_ids goes through
/// <see cref="BigBirdPegasusClassificationHead"/>. Every row must hold the same number of eos tokens, as HF requires.
/// The loss follows HF's problem_type: config.json's, or inferred: num_labels = 1 → regression (MSE); integer labels →
/// single_label_classification (cross-entropy); float labels → multi_label_classification (BCE with logits).
/// A loaded model is immutable and safe to call from many threads.
/// </summary>
public sealed class BigBirdPegasusForSequenceClassification : IDisposable
{
    /// <summary>model</summary>
    public BigBirdPegasusModel Model { get; }
    /// <summary>classification_head</summary>
    public BigBirdPegasusClassificationHead ClassificationHead { get; }
    /// <summary>The configuration.</summary>
    public BigBirdPegasusConfig Config => Model.Config;

    private BigBirdPegasusForSequenceClassification(BigBirdPegasusConfig config, WeightLoader w)
    {
        Model = new BigBirdPegasusModel(config, w, "model.", new ModelLifetime());
        ClassificationHead = new BigBirdPegasusClassificationHead(w, "classification_head", config.DModel, config.DModel, config.NumLabels);
    }

    /// <summary>Loads <c>config.json</c> and the weights of a Hugging Face BigBirdPegasusForSequenceClassification folder
    /// (tensors <c>model.*</c> and <c>classification_head.*</c>), binding them to the options' backend.</summary>
    /// <exception cref="BigBirdConfigException">config.json is missing or invalid.</exception>
    /// <exception cref="CheckpointFormatException">A weights file is missing or malformed.</exception>
    /// <exception cref="TensorMismatchException">A tensor is missing or has the wrong shape; the message names the file and the tensor.</exception>
    /// <exception cref="BigBirdException">The folder does not exist, or the backend lacks an operation the model needs.</exception>
    public static BigBirdPegasusForSequenceClassification FromPretrained(string directory, BigBirdModelOptions? options = null) =>
        BigBirdPegasusModel.Load(directory, options, (config, reader, w, lifetime) =>
        {
            var model = new BigBirdPegasusForSequenceClassification(config, w);
            model.Model.Lifetime.OnRelease(reader.Dispose);
            return model;
        });

    /// <summary>Releases the weights; see <see cref="BigBirdPegasusModel.Dispose"/>.</summary>
    public void Dispose() => Model.Dispose();

    /// <summary>HF's problem_type for these labels: config's, or inferred from num_labels and the labels' type.</summary>
    public string ProblemType(bool integerLabels) =>
        Config.ProblemType ?? (Config.NumLabels == 1 ? "regression"
            : integerLabels ? "single_label_classification" : "multi_label_classification");

    /// <summary>
    /// HF's <c>forward</c>: logits [batch, num_labels] from the decoder state at each row's last eos token, and the loss
    /// when labels are given (<see cref="BigBirdPegasusInputs.Labels"/> as class ids, or
    /// <see cref="BigBirdPegasusInputs.FloatLabels"/>).
    /// </summary>
    /// <param name="inputs">input_ids (required: the eos positions come from them), attention_mask, optionally
    /// decoder_input_ids of the same length as input_ids, and labels.</param>
    /// <param name="options">Attention type override and random-attention semantics (default: deterministic, as current HF).</param>
    /// <param name="cancellationToken">Checked between layers.</param>
    /// <exception cref="BigBirdInputException">Bad shapes, ids, masks or labels; no input_ids; rows with different numbers of
    /// eos tokens, or none; decoder inputs of another length than input_ids; a cache (HF's head takes none).</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public BigBirdPegasusSeq2SeqSequenceClassifierOutput Forward(BigBirdPegasusInputs inputs, BigBirdForwardOptions? options = null,
                                                                 CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        using var lease = Model.Lifetime.Enter(this);
        cancellationToken.ThrowIfCancellationRequested();
        int batch = inputs.BatchSize, seq = inputs.SequenceLength, d = Config.DModel, num_labels = Config.NumLabels;
        if (inputs.PastKeyValues is not null)
            throw new BigBirdInputException("BigBirdPegasusForSequenceClassification takes no past_key_values, as HF's forward; run without a cache.");
        if (inputs.StartPositions is not null || inputs.EndPositions is not null)
            throw new BigBirdInputException("start_positions and end_positions belong to BigBirdPegasusForQuestionAnswering; give labels here.");
        if (inputs.InputIds is null)
            throw new BigBirdInputException(
                "BigBirdPegasusForSequenceClassification needs input_ids: it pools the decoder state at each row's last eos token of input_ids, as HF.");
        var decoderIds = Model.DecoderInputIds(inputs, out int decoderSeq);
        Model.Validate(inputs, decoderIds, decoderSeq, requireDecoderIds: true);
        if (decoderSeq != seq)
            throw new BigBirdInputException(
                $"decoder_input_ids are [{batch}, {decoderSeq}] but input_ids are [{batch}, {seq}]: HF picks the decoder states at the eos " +
                "positions of input_ids, so both must have the same length (or leave decoder_input_ids out to use shift_tokens_right(input_ids)).");
        var eos_positions = LastEosPositions(inputs.InputIds, batch, seq);
        string? problem_type = CheckLabels(inputs, batch, num_labels);

        using var call = Model.NewCall(cancellationToken);
        var run = Model.Run(call, inputs, decoderIds, decoderSeq, options ?? BigBirdForwardOptions.Default);
        // sentence_representation = hidden_states[eos_mask, :].view(batch, -1, d)[:, -1, :]
        var sentence_representation = call.Rent(batch * d);
        for (int b = 0; b < batch; b++)
            Model.Backend.Copy(sentence_representation.Slice(b * d), d, run.Decoder.Slice((b * decoderSeq + eos_positions[b]) * d), d, 1, d);
        var logits = call.Download(ClassificationHead.Forward(call, sentence_representation, batch));
        float? loss = problem_type switch
        {
            "regression" => Losses.MeanSquaredError(logits, inputs.FloatLabels),
            "single_label_classification" => Losses.CrossEntropy(logits, inputs.Labels, num_labels),
            "multi_label_classification" => Losses.BinaryCrossEntropyWithLogits(logits, inputs.FloatLabels),
            _ => null,
        };
        return new BigBirdPegasusSeq2SeqSequenceClassifierOutput
        {
            Loss = loss,
            Logits = new FloatTensor(logits, batch, num_labels),
            EncoderLastHiddenState = new FloatTensor(call.Download(run.Encoder), batch, seq, d),
            EncoderAttentionType = run.AttentionType,
        };
    }

    /// <summary>Each row's last position holding eos_token_id; HF's error when rows hold different numbers of them.</summary>
    private int[] LastEosPositions(int[] input_ids, int batch, int seq)
    {
        if (Config.EosTokenId is not int eos)
            throw new BigBirdInputException("config.json has no eos_token_id; BigBirdPegasusForSequenceClassification pools at the eos token and needs one.");
        var last = new int[batch];
        int count0 = -1;
        for (int b = 0; b < batch; b++)
        {
            int count = 0;
            last[b] = -1;
            for (int s = 0; s < seq; s++)
                if (input_ids[b * seq + s] == eos) { count++; last[b] = s; }
            if (b == 0) count0 = count;
            else if (count != count0)
                throw new BigBirdInputException(
                    $"All examples must have the same number of <eos> tokens (eos_token_id {eos}): row 0 has {count0}, row {b} has {count}.");
        }
        if (count0 == 0)
            throw new BigBirdInputException(
                $"input_ids hold no <eos> token (eos_token_id {eos}); end every row with it: the head classifies the decoder state there.");
        return last;
    }

    /// <summary>The problem type of the given labels (null without labels), after checking their kind and count.</summary>
    private string? CheckLabels(BigBirdPegasusInputs inputs, int batch, int num_labels)
    {
        if (inputs.Labels is not null && inputs.FloatLabels is not null)
            throw new BigBirdInputException("give labels either as integers or as floats, not both.");
        if (inputs.Labels is null && inputs.FloatLabels is null) return null;
        string problem_type = ProblemType(inputs.Labels is not null);
        switch (problem_type)
        {
            case "regression":
                if (inputs.FloatLabels is null)
                    throw new BigBirdInputException("regression (num_labels = 1 or problem_type regression) needs float labels, e.g. [0.5, 2.0].");
                if (inputs.FloatLabels.Length != (long)batch * num_labels)
                    throw new BigBirdInputException(
                        $"labels has {inputs.FloatLabels.Length} values, expected {(long)batch * num_labels} for shape [{batch}{(num_labels == 1 ? "" : $", {num_labels}")}].");
                break;
            case "single_label_classification":
                if (inputs.Labels is null)
                    throw new BigBirdInputException("single_label_classification needs integer class ids as labels, one per row.");
                if (inputs.Labels.Length != batch)
                    throw new BigBirdInputException($"labels has {inputs.Labels.Length} values, expected {batch} for shape [{batch}].");
                break;
            default: // multi_label_classification
                if (inputs.FloatLabels is null)
                    throw new BigBirdInputException($"multi_label_classification needs float 0/1 labels of shape [{batch}, {num_labels}].");
                if (inputs.FloatLabels.Length != (long)batch * num_labels)
                    throw new BigBirdInputException(
                        $"labels has {inputs.FloatLabels.Length} values, expected {(long)batch * num_labels} for shape [{batch}, {num_labels}].");
                break;
        }
        return problem_type;
    }
}
