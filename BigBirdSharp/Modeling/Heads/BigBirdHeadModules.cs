using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;
using BigBirdSharp.Kernels;

namespace BigBirdSharp.Modeling.Heads;

// The small HF modules the task heads are built from, one type each, under HF's names.

/// <summary>dense → hidden_act → LayerNorm. Ports <c>BigBirdPredictionHeadTransform</c>.</summary>
public sealed class BigBirdPredictionHeadTransform
{
    /// <summary>HF's <c>dense</c>: [hidden, hidden] + bias</summary>
    public Linear Dense { get; }
    /// <summary>LayerNorm over hidden_size.</summary>
    public LayerNorm LayerNorm { get; }
    private readonly ActivationKind _act;

    internal BigBirdPredictionHeadTransform(WeightLoader w, string path, BigBirdConfig config)
    {
        Dense = new Linear(w, $"{path}.dense", config.HiddenSize, config.HiddenSize);
        LayerNorm = new LayerNorm(w, $"{path}.LayerNorm", config.HiddenSize, config.LayerNormEps);
        _act = config.HiddenActKind;
    }

    /// <summary>y[rows, hidden] = LayerNorm(act(dense(x))), the activation fused into the product.</summary>
    internal void Forward(DeviceSpan y, DeviceSpan x, int rows)
    {
        Dense.Forward(y, x, rows, _act);
        LayerNorm.Forward(y, y, DeviceSpan.Empty, rows);
    }
}

/// <summary>
/// transform, then the decoder [vocab, hidden] tied to the word embeddings (when <c>tie_word_embeddings</c>, HF's
/// default) plus its own bias. Ports <c>BigBirdLMPredictionHead</c>.
/// </summary>
public sealed class BigBirdLMPredictionHead
{
    /// <summary>cls.predictions.transform</summary>
    public BigBirdPredictionHeadTransform Transform { get; }
    /// <summary>cls.predictions.decoder: weight = word_embeddings when tied, bias = cls.predictions.bias.</summary>
    public Linear Decoder { get; }

    internal BigBirdLMPredictionHead(WeightLoader w, string path, BigBirdConfig config, Embedding wordEmbeddings, ModelLifetime lifetime)
    {
        _lifetime = lifetime;
        Transform = new BigBirdPredictionHeadTransform(w, $"{path}.transform", config);
        // decoder.bias and bias are one parameter in HF; checkpoints hold either name (or both)
        var bias = w.Get($"{path}.bias", [$"{path}.decoder.bias"], config.VocabSize);
        var weight = config.TieWordEmbeddings ? wordEmbeddings.Weight : w.Get($"{path}.decoder.weight", config.VocabSize, config.HiddenSize);
        Decoder = new Linear(w.Backend, weight, bias, config.HiddenSize, config.VocabSize);
        _backend = w.Backend;
    }

    private readonly IComputeBackend _backend;
    private readonly ModelLifetime _lifetime;

    private const string Advice = "run fewer rows per call or a shorter input.";

    /// <summary>prediction_scores [rows, vocab] = decoder(transform(hidden [rows, hidden])), on the model's backend.</summary>
    /// <exception cref="ObjectDisposedException">The head has been disposed.</exception>
    public float[] Forward(ReadOnlySpan<float> hidden, int rows)
    {
        using var lease = _lifetime.Enter(this);
        return ForwardLeased(hidden, rows);
    }

    /// <summary><see cref="Forward(ReadOnlySpan{float}, int)"/> under the caller's lease.</summary>
    internal float[] ForwardLeased(ReadOnlySpan<float> hidden, int rows)
    {
        // [rows, vocab] grows fastest of all: batch × seq × vocab_size can pass one buffer while the encoder's do not
        int hiddenLength = TensorSize.ForInput("hidden_states", "[rows, hidden_size]", Advice, rows, Decoder.InFeatures);
        int scoresLength = TensorSize.ForInput("prediction_scores", "[batch·seq, vocab_size]", Advice, rows, Decoder.OutFeatures);
        using var stage = new HostStage(_backend);
        var hidden_states = stage.Upload(hidden[..hiddenLength]);
        var transformed = stage.Rent(hiddenLength);
        Transform.Forward(transformed, hidden_states, rows);
        var prediction_scores = stage.Rent(scoresLength);
        Decoder.Forward(prediction_scores, transformed, rows);
        return stage.Download(prediction_scores);
    }
}

/// <summary>cls.predictions. Ports <c>BigBirdOnlyMLMHead</c> (masked and causal LM).</summary>
public sealed class BigBirdOnlyMLMHead
{
    /// <summary>cls.predictions</summary>
    public BigBirdLMPredictionHead Predictions { get; }

    internal BigBirdOnlyMLMHead(WeightLoader w, BigBirdConfig config, Embedding wordEmbeddings, ModelLifetime lifetime) =>
        Predictions = new BigBirdLMPredictionHead(w, "cls.predictions", config, wordEmbeddings, lifetime);
}

/// <summary>cls.predictions and cls.seq_relationship ([2, hidden] over the pooled output). Ports <c>BigBirdPreTrainingHeads</c>.</summary>
public sealed class BigBirdPreTrainingHeads
{
    /// <summary>cls.predictions</summary>
    public BigBirdLMPredictionHead Predictions { get; }
    /// <summary>cls.seq_relationship: the next-sentence classifier.</summary>
    public Linear SeqRelationship { get; }

    internal BigBirdPreTrainingHeads(WeightLoader w, BigBirdConfig config, Embedding wordEmbeddings, ModelLifetime lifetime)
    {
        Predictions = new BigBirdLMPredictionHead(w, "cls.predictions", config, wordEmbeddings, lifetime);
        SeqRelationship = new Linear(w, "cls.seq_relationship", config.HiddenSize, 2);
    }
}

/// <summary>
/// features[:, 0] → dropout → dense → hidden_act → dropout → out_proj. Ports <c>BigBirdClassificationHead</c>
/// (dropout is the identity at inference).
/// </summary>
public sealed class BigBirdClassificationHead
{
    /// <summary>classifier.dense [hidden, hidden]</summary>
    public Linear Dense { get; }
    /// <summary>classifier.out_proj [num_labels, hidden]</summary>
    public Linear OutProj { get; }
    private readonly ActivationKind _act;
    private readonly ModelLifetime _lifetime;

    internal BigBirdClassificationHead(WeightLoader w, BigBirdConfig config, ModelLifetime lifetime)
    {
        _lifetime = lifetime;
        Dense = new Linear(w, "classifier.dense", config.HiddenSize, config.HiddenSize);
        OutProj = new Linear(w, "classifier.out_proj", config.HiddenSize, config.NumLabels);
        _act = config.HiddenActKind;
    }

    /// <summary>logits[batch, num_labels] from the first token of each row of features[batch, seq, hidden].</summary>
    /// <exception cref="ObjectDisposedException">The head has been disposed.</exception>
    public float[] Forward(FloatTensor features)
    {
        using var lease = _lifetime.Enter(this);
        return ForwardLeased(features);
    }

    /// <summary><see cref="Forward(FloatTensor)"/> under the caller's lease.</summary>
    internal float[] ForwardLeased(FloatTensor features)
    {
        int batch = features.Shape[0], seq = features.Shape[1], hidden = features.Shape[2];
        using var stage = new HostStage(Dense.Bound.Backend);
        var all = stage.Upload(features.Data);
        var x = stage.Rent(batch * hidden);
        stage.Backend.Copy(x, hidden, all, seq * hidden, batch, hidden); // x = features[:, 0, :] (take <s> / [CLS])
        var h = stage.Rent(batch * hidden);
        Dense.Forward(h, x, batch, _act);
        var logits = stage.Rent(TensorSize.ForInput("logits", "[batch, num_labels]", "run fewer rows per call.", batch, OutProj.OutFeatures));
        OutProj.Forward(logits, h, batch);
        return stage.Download(logits);
    }
}

/// <summary>
/// intermediate → output (residual + LayerNorm) → qa_outputs [2, hidden]. Ports <c>BigBirdForQuestionAnsweringHead</c>.
/// </summary>
public sealed class BigBirdForQuestionAnsweringHead
{
    /// <summary>qa_classifier.intermediate</summary>
    public BigBirdIntermediate Intermediate { get; }
    /// <summary>qa_classifier.output</summary>
    public BigBirdOutput Output { get; }
    /// <summary>qa_classifier.qa_outputs [num_labels = 2, hidden]</summary>
    public Linear QaOutputs { get; }

    private readonly ModelLifetime _lifetime;

    internal BigBirdForQuestionAnsweringHead(WeightLoader w, BigBirdConfig config, ModelLifetime lifetime)
    {
        _lifetime = lifetime;
        Intermediate = new BigBirdIntermediate(w, "qa_classifier.intermediate", config);
        Output = new BigBirdOutput(w, "qa_classifier.output", config);
        QaOutputs = new Linear(w, "qa_classifier.qa_outputs", config.HiddenSize, 2);
    }

    /// <summary>logits[rows, 2] of encoder_output[rows, hidden].</summary>
    /// <exception cref="ObjectDisposedException">The head has been disposed.</exception>
    public float[] Forward(ReadOnlySpan<float> encoderOutput, int rows)
    {
        using var lease = _lifetime.Enter(this);
        return ForwardLeased(encoderOutput, rows);
    }

    /// <summary><see cref="Forward(ReadOnlySpan{float}, int)"/> under the caller's lease.</summary>
    internal float[] ForwardLeased(ReadOnlySpan<float> encoder_output, int rows)
    {
        using var stage = new HostStage(QaOutputs.Bound.Backend);
        var encoded = stage.Upload(encoder_output);
        var inter = stage.Rent(TensorSize.ForInput("qa_classifier.intermediate", "[batch·seq, intermediate_size]",
                                                   "run fewer rows per call or a shorter input.", rows, Intermediate.Dense.OutFeatures));
        Intermediate.Forward(inter, encoded, rows);
        var hidden_states = stage.Rent(encoder_output.Length);
        Output.Forward(hidden_states, inter, encoded, rows);
        var logits = stage.Rent(rows * 2);
        QaOutputs.Forward(logits, hidden_states, rows);
        return stage.Download(logits);
    }
}
