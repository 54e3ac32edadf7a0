using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling.Heads;

namespace BigBirdSharp.Modeling.Pegasus;

/// <summary>
/// BigBirdPegasus with its language-modeling head, for summarization. Ports
/// <c>BigBirdPegasusForConditionalGeneration</c> (transformers 4.27.1): <c>model</c>, then
/// lm_logits = lm_head(decoder output) + final_logits_bias, lm_head tied to <c>model.shared</c> unless
/// tie_word_embeddings is false, and the mean cross-entropy when labels are given. A loaded model is immutable and safe
/// to call from many threads.
/// </summary>
public sealed partial class BigBirdPegasusForConditionalGeneration : IDisposable
{
    /// <summary>model</summary>
    public BigBirdPegasusModel Model { get; }
    /// <summary>lm_head [vocab_size, d_model] with final_logits_bias [1, vocab_size] as its bias.</summary>
    public Linear LmHead { get; }
    /// <summary>final_logits_bias [1, vocab_size] (zeros when the checkpoint has none, as HF).</summary>
    public ReadOnlyMemory<float> FinalLogitsBias { get; }
    /// <summary>The configuration.</summary>
    public BigBirdPegasusConfig Config => Model.Config;

    private BigBirdPegasusForConditionalGeneration(BigBirdPegasusConfig config, WeightLoader w)
    {
        Model = new BigBirdPegasusModel(config, w, "model.", new ModelLifetime());
        int d = config.DModel, vocab = config.VocabSize;
        FinalLogitsBias = w.Has("final_logits_bias") ? w.Get("final_logits_bias", 1, vocab) : new float[vocab];
        var weight = config.TieWordEmbeddings ? Model.Shared.Weight : w.GetForBinding("lm_head.weight", vocab, d);
        LmHead = new Linear(w.Backend, weight, FinalLogitsBias, d, vocab);
    }

    /// <summary>Loads <c>config.json</c> and the weights of a Hugging Face BigBirdPegasusForConditionalGeneration folder
    /// (such as <c>google/bigbird-pegasus-large-arxiv</c>), binding them to the options' backend.</summary>
    /// <exception cref="BigBirdConfigException">config.json is missing or invalid.</exception>
    /// <exception cref="CheckpointFormatException">A weights file is missing or malformed.</exception>
    /// <exception cref="TensorMismatchException">A tensor is missing or has the wrong shape; the message names the file and the tensor.</exception>
    /// <exception cref="BigBirdException">The folder does not exist, or the backend lacks an operation the model needs.</exception>
    public static BigBirdPegasusForConditionalGeneration FromPretrained(string directory, BigBirdModelOptions? options = null) =>
        BigBirdPegasusModel.Load(directory, options, (config, reader, w, lifetime) =>
        {
            var model = new BigBirdPegasusForConditionalGeneration(config, w);
            model.Model.Lifetime.OnRelease(reader.Dispose);
            return model;
        });

    /// <summary>Releases the weights; see <see cref="BigBirdPegasusModel.Dispose"/>.</summary>
    public void Dispose() => Model.Dispose();

    /// <summary>
    /// HF's <c>forward</c>: with labels, decoder_input_ids default to shift_tokens_right(labels) and the loss is the mean
    /// cross-entropy over the labels that are not -100.
    /// </summary>
    /// <param name="inputs">The call's inputs.</param>
    /// <param name="options">Attention type override and random-attention semantics (default: deterministic, as current HF).</param>
    /// <param name="cancellationToken">Checked between layers.</param>
    /// <exception cref="BigBirdInputException">Bad shapes, ids, masks or labels, or neither decoder_input_ids nor labels.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public BigBirdPegasusSeq2SeqLMOutput Forward(BigBirdPegasusInputs inputs, BigBirdForwardOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        using var lease = Model.Lifetime.Enter(this);
        cancellationToken.ThrowIfCancellationRequested();
        int batch = inputs.BatchSize, vocab = Config.VocabSize, d = Config.DModel;
        int[]? decoderIds = inputs.DecoderInputIds;
        int decoderSeq = inputs.DecoderSequenceLength;
        if (inputs.Labels is { } labels)
        {
            if (decoderIds is null)
            {
                if (labels.Length % batch != 0 || labels.Length == 0)
                    throw new BigBirdInputException($"labels has {labels.Length} values, not a whole number of rows for batch {batch}.");
                decoderSeq = labels.Length / batch;
                decoderIds = BigBirdPegasusInputs.ShiftTokensRight(labels, batch, decoderSeq, Config.PadTokenId, Config.DecoderStartTokenId);
            }
            if (labels.Length != (long)batch * decoderSeq)
                throw new BigBirdInputException($"labels has {labels.Length} values, expected {(long)batch * decoderSeq} for shape [{batch}, {decoderSeq}].");
        }
        if (decoderIds is null)
            throw new BigBirdInputException("give decoder_input_ids or labels: BigBirdPegasusForConditionalGeneration derives decoder inputs only from labels.");
        Model.Validate(inputs, decoderIds, decoderSeq, requireDecoderIds: true);
        using var call = Model.NewCall(cancellationToken);
        var run = Model.Run(call, inputs, decoderIds, decoderSeq, options ?? BigBirdForwardOptions.Default);
        int rows = batch * decoderSeq;
        // lm_logits = self.lm_head(outputs[0]) + self.final_logits_bias
        var lm_logits = call.Rent(TensorSize.ForInput("logits", "[batch, decoder_seq, vocab_size]", "run fewer rows per call.", rows, vocab));
        LmHead.Forward(lm_logits, run.Decoder, rows);
        var logits = call.Download(lm_logits);
        float? loss = inputs.Labels is { } l ? Losses.CrossEntropy(logits, l, vocab) : null;
        return new BigBirdPegasusSeq2SeqLMOutput
        {
            Loss = loss,
            Logits = new FloatTensor(logits, batch, decoderSeq, vocab),
            DecoderLastHiddenState = new FloatTensor(call.Download(run.Decoder), batch, decoderSeq, d),
            EncoderLastHiddenState = new FloatTensor(call.Download(run.Encoder), batch, inputs.SequenceLength, d),
            PastKeyValues = inputs.PastKeyValues,
            EncoderAttentionType = run.AttentionType,
        };
    }
}
