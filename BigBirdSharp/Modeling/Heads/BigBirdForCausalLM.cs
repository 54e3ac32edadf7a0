using BigBirdSharp.Configuration;
using BigBirdSharp.IO;

namespace BigBirdSharp.Modeling.Heads;

/// <summary>
/// BigBird as a decoder with the LM head. Ports <c>BigBirdForCausalLM</c>: logits [batch, seq, vocab]; loss = cross-entropy
/// of logits[:, :-1] against labels[:, 1:] (next-token prediction). With <c>is_decoder</c> the self-attention is causal,
/// with <c>add_cross_attention</c> each layer also attends to <c>encoder_hidden_states</c>, and a
/// <see cref="BigBirdKeyValueCache"/> in <see cref="BigBirdInputs.PastKeyValues"/> makes it incremental.
/// <see cref="Generate"/> generates tokens with it.
/// </summary>
public sealed partial class BigBirdForCausalLM : BigBirdPreTrainedModel
{
    /// <summary>cls (cls.predictions)</summary>
    public BigBirdOnlyMLMHead Cls { get; }

    /// <inheritdoc/>
    public override string Architecture => "BigBirdForCausalLM";

    /// <summary>
    /// Loads a BigBirdForCausalLM from a Hugging Face checkpoint folder (HF's <c>BigBirdForCausalLM.from_pretrained</c>): config.json and
    /// model.safetensors, a sharded safetensors index, or pytorch_model.bin.
    /// </summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <param name="options">The backend, threads and other load-time settings; null for the CPU backend on every processor.</param>
    /// <returns>The loaded head; dispose it to release the memory-mapped weights.</returns>
    /// <exception cref="BigBirdConfigException">config.json is missing or invalid.</exception>
    /// <exception cref="BigBirdArchitectureException">The checkpoint holds no BigBirdForCausalLM head, or config.json contradicts it.</exception>
    /// <exception cref="CheckpointFormatException">A weights file is missing or malformed.</exception>
    /// <exception cref="TensorMismatchException">The checkpoint lacks a tensor the head needs, or has it in another shape.</exception>
    /// <exception cref="BigBirdOptionsException"><paramref name="options"/> contradict each other.</exception>
    /// <exception cref="BigBirdException">The folder does not exist, or the backend lacks an operation the model needs.</exception>
    public static BigBirdForCausalLM FromPretrained(string directory, BigBirdModelOptions? options = null) =>
        LoadTyped<BigBirdForCausalLM>(directory, "BigBirdForCausalLM", options);

    internal BigBirdForCausalLM(BigBirdConfig config, ITensorReader reader, WeightLoader heads, bool ownsReader)
        : base(config, reader, heads, addPoolingLayer: false, ownsReader)
    {
        Cls = new BigBirdOnlyMLMHead(heads, config, Bert.Embeddings.WordEmbeddings, Lifetime);
    }

    private protected override BigBirdHeadOutput ForwardCore(BigBirdInputs inputs, BigBirdForwardOptions? options, CancellationToken cancellationToken)
    {
        int batch = inputs.BatchSize, seq = inputs.SequenceLength, vocab = Config.VocabSize;
        Reject(inputs.FloatLabels is not null, "float labels (causal-LM labels are token ids)", Architecture);
        CheckCount(inputs.Labels, (long)batch * seq, "labels", $"[{batch}, {seq}]");
        var outputs = Bert.ForwardLeased(inputs, options, cancellationToken);
        var prediction_scores = Cls.Predictions.ForwardLeased(outputs.LastHiddenState.Data, batch * seq);

        float? lm_loss = null;
        if (inputs.Labels is { } labels)
        {
            // shift: position t predicts labels[t + 1]; the last position has no target
            var shiftedScores = new float[batch * (seq - 1) * vocab];
            var shiftedLabels = new int[batch * (seq - 1)];
            for (int b = 0; b < batch; b++)
            {
                prediction_scores.AsSpan(b * seq * vocab, (seq - 1) * vocab).CopyTo(shiftedScores.AsSpan(b * (seq - 1) * vocab));
                labels.AsSpan(b * seq + 1, seq - 1).CopyTo(shiftedLabels.AsSpan(b * (seq - 1)));
            }
            lm_loss = Losses.CrossEntropy(shiftedScores, shiftedLabels, vocab);
        }
        return Wrap(outputs, lm_loss) with { Logits = new FloatTensor(prediction_scores, batch, seq, vocab) };
    }

    /// <summary>
    /// Scores of the last position of every row only ([batch, vocab]): what a generation step needs, without
    /// computing [batch, seq, vocab].
    /// </summary>
    internal float[] NextTokenLogits(BigBirdInputs inputs, BigBirdForwardOptions options, CancellationToken cancellationToken)
    {
        int batch = inputs.BatchSize, seq = inputs.SequenceLength, hidden = Config.HiddenSize;
        var outputs = Bert.ForwardLeased(inputs, options, cancellationToken);
        var last = new float[batch * hidden];
        for (int b = 0; b < batch; b++)
            outputs.LastHiddenState.Data.AsSpan(((b + 1) * seq - 1) * hidden, hidden).CopyTo(last.AsSpan(b * hidden));
        return Cls.Predictions.ForwardLeased(last, batch);
    }
}
