using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;
using BigBirdSharp.IO;
using BigBirdSharp.Modeling.Heads;

namespace BigBirdSharp.Modeling.EncoderDecoder;

/// <summary>
/// A BigBird encoder with a BigBird decoder that reads it through cross-attention. Ports <c>EncoderDecoderModel</c>
/// (transformers 4.27.1, <c>modeling_encoder_decoder.py</c>) for folders whose encoder is <see cref="BigBirdModel"/>
/// (block_sparse, with HF's fall-back to original_full for short inputs) and whose decoder is
/// <see cref="BigBirdForCausalLM"/> with <c>is_decoder</c> and <c>add_cross_attention</c>: the encoder runs, its
/// last hidden state goes through <c>enc_to_dec_proj</c> when the hidden sizes differ, and the decoder produces the
/// logits; with labels, decoder_input_ids default to <c>shift_tokens_right(labels)</c> and the loss is the mean
/// cross-entropy of the logits against the labels. A loaded model is immutable and safe to call from many threads.
/// </summary>
/// <remarks>
/// In 4.27.1, <c>BigBirdLayer</c> hands <c>encoder_hidden_states</c> to its self-attention as well as to its
/// cross-attention, so both sublayers of every decoder layer attend to the encoder (with the encoder's mask) and a
/// decoder position never attends to the other decoder positions: each position's logits depend only on its own token,
/// its position and the encoder. The decoder_attention_mask therefore changes nothing, and with a cache (generate's
/// default) the self-attention "cache" holds the encoder's keys, so every token after the first is embedded at
/// position encoder_length, not at its own index (see <see cref="Generate"/>). This port follows 4.27.1 exactly.
/// </remarks>
public sealed partial class EncoderDecoderModel : IDisposable
{
    /// <summary>HF's <c>config</c>.</summary>
    public EncoderDecoderConfig Config { get; }
    /// <summary>encoder: the BigBird encoder, over the checkpoint's <c>encoder.*</c> tensors.</summary>
    public BigBirdModel Encoder { get; }
    /// <summary>decoder: the BigBird decoder with its LM head, over the checkpoint's <c>decoder.*</c> tensors.</summary>
    public BigBirdForCausalLM Decoder { get; }
    /// <summary>enc_to_dec_proj ([decoder hidden, encoder hidden] + bias) when the hidden sizes differ; otherwise null.</summary>
    public Linear? EncToDecProj { get; }
    /// <summary>The backend every part runs on.</summary>
    public IComputeBackend Backend => Encoder.Backend;

    private readonly ITensorReader _reader;
    // the encoder's and the decoder's lifetimes each release once; the checkpoint is closed after both
    private int _pendingReleases = 2;

    /// <summary>The HF class name.</summary>
    public const string Architecture = "EncoderDecoderModel";

    private EncoderDecoderModel(EncoderDecoderConfig config, ITensorReader reader, BigBirdModelOptions? options, string directory)
    {
        Config = config;
        _reader = reader;
        // one backend for every part (a Threads option would otherwise make a CPU backend per part)
        var backend = BigBirdModel.CheckBackend(options);
        var shared = (options ?? new BigBirdModelOptions()) with { Backend = backend, Threads = null };
        Probe(reader, "encoder.embeddings.word_embeddings.weight", directory, "an encoder");
        Probe(reader, "decoder.cls.predictions.transform.dense.weight", directory, "a decoder LM head (BigBirdForCausalLM)");
        Encoder = Named("encoder.", directory, () => BigBirdModel.FromReader(config.Encoder, new SubmoduleTensorReader(reader, "encoder."), shared));
        try
        {
            var decoderView = config.TieEncoderDecoder
                ? new SubmoduleTensorReader(reader, "decoder.", tiedFrom: "bert.", tiedTo: "encoder.")
                : new SubmoduleTensorReader(reader, "decoder.");
            Decoder = Named("decoder.", directory,
                            () => (BigBirdForCausalLM)BigBirdPreTrainedModel.FromReader(config.Decoder, decoderView, "BigBirdForCausalLM", shared));
            try
            {
                if (config.HasEncoderToDecoderProjection)
                    EncToDecProj = Named("", directory, () => new Linear(new WeightLoader(reader, "", backend, shared), "enc_to_dec_proj",
                                                                         config.Encoder.HiddenSize, config.Decoder.HiddenSize));
            }
            catch
            {
                Decoder.Dispose();
                throw;
            }
        }
        catch
        {
            Encoder.Dispose();
            throw;
        }
        Encoder.Lifetime.OnRelease(ReleaseOne);
        Decoder.Bert.Lifetime.OnRelease(ReleaseOne);
    }

    private void ReleaseOne()
    {
        if (Interlocked.Decrement(ref _pendingReleases) == 0) _reader.Dispose();
    }

    /// <summary>Builds a submodule, naming a tensor it misses by the checkpoint's own name (with the submodule's prefix)
    /// and the folder, rather than by the submodule's view of it.</summary>
    private static T Named<T>(string prefix, string directory, Func<T> build)
    {
        try
        {
            return build();
        }
        catch (TensorMismatchException e)
        {
            string name = prefix + e.TensorName;
            string message = e.Message.Replace($"'{e.TensorName}'", $"'{name}'", StringComparison.Ordinal);
            throw new TensorMismatchException(name, message.Contains(directory, StringComparison.Ordinal) ? message : $"{directory}: {message}");
        }
    }

    private static void Probe(ITensorReader reader, string name, string directory, string what)
    {
        if (!reader.TryGetInfo(name, out _))
            throw new BigBirdArchitectureException(directory, Architecture,
                $"the checkpoint has no {name} tensor, so it holds no {what}; an EncoderDecoderModel folder saved by HF stores the " +
                "encoder under 'encoder.' and the decoder (BigBirdForCausalLM) under 'decoder.'. First tensors found: " +
                string.Join(", ", reader.Names.Take(5)));
    }

    /// <summary>
    /// Loads <c>config.json</c> and the weights of a folder saved by HF's <c>EncoderDecoderModel.save_pretrained</c>
    /// (checkpoint paths <c>encoder.*</c>, <c>decoder.*</c> and <c>enc_to_dec_proj.*</c>), binding them to the options'
    /// backend. With <c>tie_encoder_decoder</c>, decoder tensors the file lacks are the encoder's, as HF ties them; the
    /// decoder's LM head is tied to its word embeddings when the decoder's <c>tie_word_embeddings</c> says so.
    /// </summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <param name="options">The backend, threads and other load-time settings; null for the CPU backend on every processor.</param>
    /// <returns>The loaded model; dispose it to release the memory-mapped weights.</returns>
    /// <exception cref="BigBirdConfigException">config.json is missing or invalid, or not a BigBird encoder-decoder.</exception>
    /// <exception cref="BigBirdArchitectureException">The checkpoint holds no encoder or no decoder LM head.</exception>
    /// <exception cref="CheckpointFormatException">A weights file is missing or malformed.</exception>
    /// <exception cref="TensorMismatchException">A tensor is missing or has the wrong shape; the message names the file and the tensor.</exception>
    /// <exception cref="BigBirdOptionsException"><paramref name="options"/> contradict each other.</exception>
    /// <exception cref="BigBirdException">The folder does not exist, or the backend lacks an operation the model needs.</exception>
    public static EncoderDecoderModel FromPretrained(string directory, BigBirdModelOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory))
            throw new BigBirdException($"{directory}: no such folder; pass a Hugging Face checkpoint folder (config.json + weights).");
        var config = EncoderDecoderConfig.FromFile(Path.Combine(directory, "config.json"));
        var reader = CheckpointLoader.Open(directory);
        try
        {
            return new EncoderDecoderModel(config, reader, options, directory);
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Releases the weights. Safe to call while other threads run <see cref="Forward"/> or <see cref="Generate"/>: calls
    /// already running finish normally and the memory is released when the last of them returns; calls begun afterwards
    /// throw <see cref="ObjectDisposedException"/>. Calling it again does nothing.
    /// </summary>
    public void Dispose()
    {
        Encoder.Dispose();
        Decoder.Dispose();
    }

    /// <summary>
    /// HF's <c>forward</c> in eval mode: encoder (unless <see cref="EncoderDecoderInputs.EncoderOutputs"/> is given),
    /// enc_to_dec_proj, then the decoder over decoder_input_ids (or shift_tokens_right(labels)) with the encoder's
    /// states and attention_mask; the loss, with labels, is the mean cross-entropy of the logits against them.
    /// </summary>
    /// <param name="inputs">The call's inputs.</param>
    /// <param name="options">The encoder's attention type override and random-attention semantics (default: deterministic, as
    /// current HF); the decoder always runs original_full. A trace receives HF's module paths inside EncoderDecoderModel
    /// (<c>encoder.…</c>, <c>decoder.bert.…</c>). Hidden states and attention maps are not returned.</param>
    /// <param name="cancellationToken">Checked before the call and between layers.</param>
    /// <exception cref="BigBirdInputException">Bad shapes, ids, masks or labels, or neither decoder_input_ids nor labels.</exception>
    /// <exception cref="BigBirdConfigException">Labels without decoder_input_ids, and config.json lacks decoder_start_token_id or pad_token_id.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public EncoderDecoderSeq2SeqLMOutput Forward(EncoderDecoderInputs inputs, BigBirdForwardOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        using var encoderLease = Encoder.Acquire();
        using var decoderLease = Decoder.Acquire();
        cancellationToken.ThrowIfCancellationRequested();
        options ??= BigBirdForwardOptions.Default;
        int batch = inputs.BatchSize, vocab = Config.Decoder.VocabSize;
        int[]? decoder_input_ids = inputs.DecoderInputIds;
        int decoderSeq = inputs.DecoderSequenceLength;
        if (inputs.Labels is { } labels)
        {
            if (decoder_input_ids is null)
            {
                if (batch <= 0 || labels.Length == 0 || labels.Length % batch != 0)
                    throw new BigBirdInputException($"labels has {labels.Length} values, not a whole number of rows for batch {batch}.");
                decoderSeq = labels.Length / batch;
                // decoder_input_ids = shift_tokens_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)
                decoder_input_ids = EncoderDecoderInputs.ShiftTokensRight(labels, batch, decoderSeq, Config.PadTokenId, Config.DecoderStartTokenId);
            }
            if (labels.Length != (long)batch * decoderSeq)
                throw new BigBirdInputException(
                    $"labels has {labels.Length} values, expected {(long)batch * decoderSeq} for shape [{batch}, {decoderSeq}] (the logits' rows).");
        }
        if (decoder_input_ids is null)
            throw new BigBirdInputException(
                "give decoder_input_ids or labels: EncoderDecoderModel derives decoder inputs only from labels (HF's decoder: 'You have to " +
                "specify either input_ids or inputs_embeds').");
        if (decoderSeq <= 0 || decoder_input_ids.Length != (long)batch * decoderSeq)
            throw new BigBirdInputException(
                $"decoder_input_ids has {decoder_input_ids.Length} values, expected {(long)batch * decoderSeq} for shape [{batch}, {decoderSeq}] " +
                "(set DecoderSequenceLength to the tokens per row).");

        CheckDecoderInputs(decoder_input_ids, inputs.DecoderAttentionMask, batch, decoderSeq);

        // encoder_outputs = self.encoder(input_ids, attention_mask)
        var encoder = RunEncoder(inputs, options, cancellationToken);
        // encoder_hidden_states = self.enc_to_dec_proj(encoder_hidden_states) when the hidden sizes differ
        var encoder_hidden_states = Project(encoder.LastHiddenState.Data, batch * inputs.SequenceLength);
        var decoderInputs = new BigBirdInputs(batch, decoderSeq)
        {
            InputIds = decoder_input_ids,
            AttentionMask = inputs.DecoderAttentionMask,
            EncoderHiddenStates = encoder_hidden_states,
            EncoderSequenceLength = inputs.SequenceLength,
            EncoderAttentionMask = inputs.AttentionMask,
        };
        // decoder_outputs = self.decoder(input_ids=decoder_input_ids, encoder_hidden_states=..., encoder_attention_mask=attention_mask)
        var decoder_outputs = Decoder.ForwardLeased(decoderInputs, DecoderOptions(options), cancellationToken);
        var logits = decoder_outputs.Logits!;
        // loss = CrossEntropyLoss()(logits.reshape(-1, vocab_size), labels.view(-1))
        float? loss = inputs.Labels is { } l ? Losses.CrossEntropy(logits.Data, l, vocab) : null;
        return new EncoderDecoderSeq2SeqLMOutput
        {
            Loss = loss,
            Logits = logits,
            EncoderLastHiddenState = encoder.LastHiddenState,
            EncoderAttentionType = encoder.AttentionType,
        };
    }

    /// <summary>decoder_input_ids within the decoder's vocabulary, and decoder_attention_mask of their shape, named as HF names
    /// them (the decoder's own checks would call them input_ids and attention_mask).</summary>
    private void CheckDecoderInputs(int[] decoder_input_ids, int[]? decoder_attention_mask, int batch, int decoderSeq)
    {
        int vocab = Config.Decoder.VocabSize;
        for (int i = 0; i < decoder_input_ids.Length; i++)
            if ((uint)decoder_input_ids[i] >= (uint)vocab)
                throw new BigBirdInputException(
                    $"decoder_input_ids[{i}] = {decoder_input_ids[i]} is outside [0, {vocab}) (decoder vocab_size); use the decoder's tokenizer.");
        if (decoder_attention_mask is null) return;
        if (decoder_attention_mask.Length != (long)batch * decoderSeq)
            throw new BigBirdInputException(
                $"decoder_attention_mask has {decoder_attention_mask.Length} values, expected {(long)batch * decoderSeq} for shape [{batch}, {decoderSeq}].");
        foreach (int m in decoder_attention_mask)
            if (m is not (0 or 1)) throw new BigBirdInputException($"decoder_attention_mask holds {m}; use 1 for tokens to attend and 0 for padding.");
    }

    /// <summary>The encoder's output: a run of the encoder, or the given encoder_outputs once checked.</summary>
    private (FloatTensor LastHiddenState, AttentionType AttentionType) RunEncoder(EncoderDecoderInputs inputs, BigBirdForwardOptions options,
                                                                                 CancellationToken cancellationToken)
    {
        int batch = inputs.BatchSize, seq = inputs.SequenceLength, hidden = Config.Encoder.HiddenSize;
        if (inputs.EncoderOutputs is { } given)
        {
            if (batch <= 0 || seq <= 0)
                throw new BigBirdInputException($"empty input (batch {batch}, length {seq}): give at least one sequence of at least one token.");
            if (given.Length != (long)batch * seq * hidden)
                throw new BigBirdInputException(
                    $"encoder_outputs has {given.Length} values, expected {(long)batch * seq * hidden} for shape [{batch}, {seq}, {hidden}] (encoder hidden_size).");
            if (inputs.AttentionMask is { } mask)
            {
                if (mask.Length != (long)batch * seq)
                    throw new BigBirdInputException($"attention_mask has {mask.Length} values, expected {(long)batch * seq} for shape [{batch}, {seq}].");
                foreach (int m in mask)
                    if (m is not (0 or 1)) throw new BigBirdInputException($"attention_mask holds {m}; use 1 for tokens to attend and 0 for padding.");
            }
            return (new FloatTensor(given, batch, seq, hidden), Encoder.EffectiveAttentionType(seq, options.AttentionType));
        }
        if (inputs.InputIds is null)
            throw new BigBirdInputException("give input_ids (the encoder's tokens) or encoder_outputs.");
        var encoderInputs = new BigBirdInputs(batch, seq) { InputIds = inputs.InputIds, AttentionMask = inputs.AttentionMask };
        var outputs = Encoder.ForwardLeased(encoderInputs, EncoderOptions(options), cancellationToken);
        return (outputs.LastHiddenState, outputs.AttentionType);
    }

    /// <summary>enc_to_dec_proj over [rows, encoder hidden] when the model has it; otherwise the states themselves.</summary>
    private float[] Project(float[] encoder_hidden_states, int rows) =>
        EncToDecProj is null ? encoder_hidden_states : EncToDecProj.Forward(encoder_hidden_states, rows);

    private static BigBirdForwardOptions EncoderOptions(BigBirdForwardOptions options) => options with
    {
        OutputAttentions = false,
        OutputHiddenStates = false,
        Trace = options.Trace is { } trace ? (name, tensor) => trace("encoder." + name, tensor) : null,
    };

    private static BigBirdForwardOptions DecoderOptions(BigBirdForwardOptions options) => options with
    {
        // the decoder has cross-attention, which HF runs original_full whatever the encoder does
        AttentionType = null,
        OutputAttentions = false,
        OutputHiddenStates = false,
        Trace = options.Trace is { } trace ? (name, tensor) => trace("decoder.bert." + name, tensor) : null,
    };
}
