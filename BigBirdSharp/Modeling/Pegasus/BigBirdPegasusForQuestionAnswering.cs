using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling.Heads;

namespace BigBirdSharp.Modeling.Pegasus;

/// <summary>
/// BigBirdPegasus with a span head for extractive question answering. Ports
/// <c>BigBirdPegasusForQuestionAnswering</c> (transformers 4.27.1): <c>model</c> (decoder inputs default to
/// shift_tokens_right(input_ids)), then qa_outputs [2, d_model] + bias over the decoder's last hidden state gives
/// start_logits and end_logits [batch, decoder_seq]. With start_positions and end_positions the loss is the mean of the
/// two cross-entropies, positions clamped to [0, decoder_seq] and decoder_seq ignored, as HF. A loaded model is
/// immutable and safe to call from many threads.
/// </summary>
public sealed class BigBirdPegasusForQuestionAnswering : IDisposable
{
    /// <summary>model</summary>
    public BigBirdPegasusModel Model { get; }
    /// <summary>qa_outputs: [num_labels = 2, d_model] + bias.</summary>
    public Linear QaOutputs { get; }
    /// <summary>The configuration.</summary>
    public BigBirdPegasusConfig Config => Model.Config;

    private BigBirdPegasusForQuestionAnswering(BigBirdPegasusConfig config, WeightLoader w)
    {
        Model = new BigBirdPegasusModel(config, w, "model.", new ModelLifetime());
        // HF's __init__ sets config.num_labels = 2 whatever config.json says
        QaOutputs = new Linear(w, "qa_outputs", config.DModel, 2);
    }

    /// <summary>Loads <c>config.json</c> and the weights of a Hugging Face BigBirdPegasusForQuestionAnswering folder
    /// (tensors <c>model.*</c> and <c>qa_outputs.*</c>), binding them to the options' backend.</summary>
    /// <exception cref="BigBirdConfigException">config.json is missing or invalid.</exception>
    /// <exception cref="CheckpointFormatException">A weights file is missing or malformed.</exception>
    /// <exception cref="TensorMismatchException">A tensor is missing or has the wrong shape; the message names the file and the tensor.</exception>
    /// <exception cref="BigBirdException">The folder does not exist, or the backend lacks an operation the model needs.</exception>
    public static BigBirdPegasusForQuestionAnswering FromPretrained(string directory, BigBirdModelOptions? options = null) =>
        BigBirdPegasusModel.Load(directory, options, (config, reader, w, lifetime) =>
        {
            var model = new BigBirdPegasusForQuestionAnswering(config, w);
            model.Model.Lifetime.OnRelease(reader.Dispose);
            return model;
        });

    /// <summary>Releases the weights; see <see cref="BigBirdPegasusModel.Dispose"/>.</summary>
    public void Dispose() => Model.Dispose();

    /// <summary>
    /// HF's <c>forward</c>: start_logits and end_logits [batch, decoder_seq], and the span loss when
    /// <see cref="BigBirdPegasusInputs.StartPositions"/> and <see cref="BigBirdPegasusInputs.EndPositions"/> are given.
    /// </summary>
    /// <param name="inputs">input_ids (or encoder_outputs with decoder_input_ids), attention_mask, optionally
    /// decoder_input_ids and decoder_attention_mask, and the positions.</param>
    /// <param name="options">Attention type override and random-attention semantics (default: deterministic, as current HF).</param>
    /// <param name="cancellationToken">Checked between layers.</param>
    /// <exception cref="BigBirdInputException">Bad shapes, ids or masks; only one of start_positions and end_positions, or
    /// either of the wrong length; labels (this head takes positions); a cache (HF's head takes none).</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public BigBirdPegasusSeq2SeqQuestionAnsweringModelOutput Forward(BigBirdPegasusInputs inputs, BigBirdForwardOptions? options = null,
                                                                     CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        using var lease = Model.Lifetime.Enter(this);
        cancellationToken.ThrowIfCancellationRequested();
        int batch = inputs.BatchSize, d = Config.DModel;
        if (inputs.PastKeyValues is not null)
            throw new BigBirdInputException("BigBirdPegasusForQuestionAnswering takes no past_key_values, as HF's forward; run without a cache.");
        if (inputs.Labels is not null || inputs.FloatLabels is not null)
            throw new BigBirdInputException("BigBirdPegasusForQuestionAnswering takes start_positions and end_positions, not labels.");
        if ((inputs.StartPositions is null) != (inputs.EndPositions is null))
            throw new BigBirdInputException("give both start_positions and end_positions for the span loss, or neither.");
        var decoderIds = Model.DecoderInputIds(inputs, out int decoderSeq);
        Model.Validate(inputs, decoderIds, decoderSeq, requireDecoderIds: true);
        if (inputs.StartPositions is { } sp && sp.Length != batch)
            throw new BigBirdInputException($"start_positions has {sp.Length} values, expected {batch} for shape [{batch}].");
        if (inputs.EndPositions is { } ep && ep.Length != batch)
            throw new BigBirdInputException($"end_positions has {ep.Length} values, expected {batch} for shape [{batch}].");

        using var call = Model.NewCall(cancellationToken);
        var run = Model.Run(call, inputs, decoderIds, decoderSeq, options ?? BigBirdForwardOptions.Default);
        int rows = batch * decoderSeq;
        // logits = self.qa_outputs(sequence_output); start_logits, end_logits = logits.split(1, dim=-1)
        var logits_device = call.Rent(rows * 2);
        QaOutputs.Forward(logits_device, run.Decoder, rows);
        var logits = call.Download(logits_device);
        var start_logits = new float[rows];
        var end_logits = new float[rows];
        for (int i = 0; i < rows; i++)
        {
            start_logits[i] = logits[2 * i];
            end_logits[i] = logits[2 * i + 1];
        }
        float? total_loss = null;
        if (inputs.StartPositions is { } starts && inputs.EndPositions is { } ends)
        {
            // positions outside the decoder sequence are clamped to its length, which the loss ignores
            int ignored_index = decoderSeq;
            var s = new int[batch];
            var e = new int[batch];
            for (int b = 0; b < batch; b++)
            {
                s[b] = Math.Clamp(starts[b], 0, ignored_index);
                e[b] = Math.Clamp(ends[b], 0, ignored_index);
            }
            float start_loss = Losses.CrossEntropy(start_logits, s, decoderSeq, ignored_index, "start_positions");
            float end_loss = Losses.CrossEntropy(end_logits, e, decoderSeq, ignored_index, "end_positions");
            total_loss = (start_loss + end_loss) / 2;
        }
        return new BigBirdPegasusSeq2SeqQuestionAnsweringModelOutput
        {
            Loss = total_loss,
            StartLogits = new FloatTensor(start_logits, batch, decoderSeq),
            EndLogits = new FloatTensor(end_logits, batch, decoderSeq),
            EncoderLastHiddenState = new FloatTensor(call.Download(run.Encoder), batch, inputs.SequenceLength, d),
            EncoderAttentionType = run.AttentionType,
        };
    }
}
