using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;
using BigBirdSharp.Generation;
using BigBirdSharp.Modeling.Heads;

namespace BigBirdSharp.Modeling.Pegasus;

public sealed partial class BigBirdPegasusForConditionalGeneration
{
    /// <summary>
    /// HF's <c>generate</c> for an encoder-decoder (transformers 4.27.1): greedy search, sampling, or beam search when
    /// <see cref="GenerationConfig.NumBeams"/> &gt; 1, with HF's logits processors. The encoder runs once and its output is
    /// repeated per beam; each row's decoder sequence starts with decoder_start_token_id; the decoder's self-attention
    /// keys/values and the cross-attention keys/values are cached across steps unless <see cref="GenerationConfig.UseCache"/>
    /// is false, and beam search moves only the self-attention rows whose beam changed. Use
    /// <see cref="GenerationConfig.FromPretrained"/> for the checkpoint's own settings (num_beams, length_penalty…).
    /// </summary>
    /// <param name="inputs">input_ids [batch, seq] and optionally attention_mask (without one, pad tokens are masked, as HF);
    /// decoder inputs and labels must be absent.</param>
    /// <param name="generation">The decoding settings.</param>
    /// <param name="options">Attention type override and random-attention semantics of the encoder.</param>
    /// <param name="cancellationToken">Checked before each step and between the layers of each forward.</param>
    /// <returns>HF's <c>sequences</c>, [batch × num_return_sequences, length] row-major, the decoder start token first;
    /// beam hypotheses shorter than the longest are padded with pad_token_id after their EOS.</returns>
    /// <exception cref="BigBirdInputException">Bad inputs or settings (HF's checks on num_beams, num_return_sequences,
    /// min_length…), or more tokens than max_position_embeddings.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled; nothing is returned.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public int[] Generate(BigBirdPegasusInputs inputs, GenerationConfig generation, BigBirdForwardOptions? options = null,
                          CancellationToken cancellationToken = default) =>
        GenerateOutput(inputs, generation, options, cancellationToken).Sequences;

    /// <summary><see cref="Generate"/> with HF's <c>sequences_scores</c> of beam search.</summary>
    internal GenerationOutput GenerateOutput(BigBirdPegasusInputs inputs, GenerationConfig generation, BigBirdForwardOptions? options,
                                             CancellationToken cancellationToken, bool beamSearchWithOneBeam = false)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(generation);
        using var lease = Model.Lifetime.Enter(this);
        cancellationToken.ThrowIfCancellationRequested();
        if (inputs.InputIds is null) throw new BigBirdInputException("generation needs input_ids (the document to encode).");
        if (inputs.DecoderInputIds is not null || inputs.Labels is not null || inputs.PastKeyValues is not null || inputs.DecoderAttentionMask is not null)
            throw new BigBirdInputException("generation makes its own decoder inputs and cache; pass only input_ids and attention_mask.");
        Model.Validate(inputs, null, 0, requireDecoderIds: false);
        var plan = GenerationPlan.Resolve(generation, inputs.BatchSize, 1, Config.VocabSize, Config.PadTokenId, Config.MaxPositionEmbeddings,
                                          "max_position_embeddings");
        if (beamSearchWithOneBeam) plan = plan.WithBeamSearch();
        int start = generation.DecoderStartTokenId ?? Config.DecoderStartTokenId;
        if ((uint)start >= (uint)Config.VocabSize)
            throw new BigBirdInputException($"decoder_start_token_id {start} is outside the vocabulary [0, {Config.VocabSize}).");
        using var call = Model.NewCall(cancellationToken);
        var session = new DecodingSession(this, call, inputs, plan, options ?? BigBirdForwardOptions.Default);
        var starts = new int[inputs.BatchSize];
        Array.Fill(starts, start);
        return GenerationSearch.Generate(session, plan, starts, cancellationToken);
    }

    /// <summary>
    /// The decoder side of one generation: the encoder's output (run once, then repeated per expanded row, as HF's
    /// <c>_expand_inputs_for_generation</c>), the cache, and the work space of every step, prepared once so that a step
    /// allocates nothing.
    /// </summary>
    private sealed class DecodingSession : IDecodingSession
    {
        private readonly BigBirdPegasusForConditionalGeneration _owner;
        private readonly BigBirdPegasusCall _call;
        private readonly BigBirdPegasusKeyValueCache? _cache;
        private readonly BigBirdPegasusScratch _scratch;
        private readonly DeviceSpan _encoder, _hidden, _selfMask, _crossMask, _last, _logits;
        private readonly int _encoderLength;
        private readonly int[] _ids, _positions;
        private readonly float[] _scores;

        public int Rows { get; }
        public int VocabSize { get; }

        public DecodingSession(BigBirdPegasusForConditionalGeneration owner, BigBirdPegasusCall call, BigBirdPegasusInputs inputs, GenerationPlan plan,
                               BigBirdForwardOptions options)
        {
            _owner = owner;
            _call = call;
            var config = owner.Config;
            var backend = owner.Model.Backend;
            int batch = inputs.BatchSize, seq = inputs.SequenceLength, d = config.DModel, expand = plan.ExpandSize;
            Rows = plan.Rows;
            VocabSize = config.VocabSize;
            _encoderLength = seq;
            // _prepare_attention_mask_for_generation: without a mask, pad tokens are masked (unless pad is eos)
            int[]? mask = inputs.AttentionMask;
            if (mask is null)
            {
                int pad = plan.PadTokenId;
                if (inputs.InputIds!.Contains(pad) && pad != plan.EosTokenId)
                    mask = Array.ConvertAll(inputs.InputIds!, id => id == pad ? 0 : 1);
            }
            // the encoder runs once, on the input rows (_prepare_encoder_decoder_kwargs_for_generation)
            var encoder = owner.Model.Encoder.Forward(call, inputs.InputIds!, mask, batch, seq, options, out _);
            _encoder = encoder;
            if (expand > 1)
            {
                // encoder_outputs and attention_mask .repeat_interleave(expand, dim=0)
                _encoder = call.Rent(TensorSize.ForInput("encoder_outputs", "[batch × beams, seq, d_model]", "generate for fewer rows or beams.", Rows, seq, d));
                for (int b = 0; b < batch; b++)
                    backend.Copy(_encoder.Slice(b * expand * seq * d, expand * seq * d), seq * d, encoder.Slice(b * seq * d, seq * d), 0, expand, seq * d);
                if (mask is not null)
                {
                    var expanded = new int[Rows * seq];
                    for (int r = 0; r < Rows; r++) mask.AsSpan(r / expand * seq, seq).CopyTo(expanded.AsSpan(r * seq));
                    mask = expanded;
                }
            }
            int maxLength = plan.MaxLength;
            _cache = plan.Settings.UseCache ? new BigBirdPegasusKeyValueCache(config, Rows, maxLength, backend) : null;
            // with a cache each step feeds one token per row; without one the whole sequence so far
            int stepRows = TensorSize.ForInput("decoder_input_ids", "[batch × beams, max_length]", "generate for fewer rows or beams.",
                                               Rows, _cache is null ? maxLength : 1);
            _scratch = BigBirdPegasusScratch.Rent(call, stepRows, Rows * seq, d, config.DecoderFfnDim);
            _hidden = call.Rent(stepRows * d);
            // no decoder_attention_mask in generation: the self-attention mask is zeros over whatever the keys are
            _selfMask = call.Upload(new float[Rows * maxLength]);
            _crossMask = call.AdditiveMask(mask, Rows * seq);
            _ids = new int[stepRows];
            _positions = new int[stepRows];
            _last = call.Rent(Rows * d);
            _logits = call.Rent(TensorSize.ForInput("logits", "[batch × beams, vocab_size]", "generate for fewer rows or beams.", Rows, VocabSize));
            _scores = new float[Rows * VocabSize];
        }

        public Span<float> NextTokenLogits(int[] sequences, int stride, int length)
        {
            var model = _owner.Model;
            int d = _owner.Config.DModel, rows = Rows;
            // prepare_inputs_for_generation: with a cache only the tokens it has not seen go in
            int past = _cache?.Length ?? 0, newTokens = length - past;
            for (int r = 0; r < rows; r++)
                for (int t = 0; t < newTokens; t++)
                {
                    _ids[r * newTokens + t] = sequences[r * stride + past + t];
                    _positions[r * newTokens + t] = past + t;
                }
            model.Decoder.Forward(_call, _scratch, _hidden, _ids.AsSpan(0, rows * newTokens), _positions.AsSpan(0, rows * newTokens), rows, newTokens,
                                  _selfMask.Slice(0, rows * length), _encoder, _encoderLength, _crossMask, _cache);
            // outputs.logits[:, -1, :]
            model.Backend.Copy(_last, d, _hidden.Slice((newTokens - 1) * d), newTokens * d, rows, d);
            _owner.LmHead.Forward(_logits, _last, rows);
            model.Backend.Download(_logits, _scores);
            return _scores;
        }

        public void ReorderCache(ReadOnlySpan<int> beamIndices) => _cache?.Reorder(beamIndices);
    }
}
