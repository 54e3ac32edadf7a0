using BigBirdSharp.Backends;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Generation;

namespace BigBirdSharp.Modeling.Pegasus;

public sealed partial class BigBirdPegasusForCausalLM
{
    /// <summary>
    /// Extends each prompt row as HF's <c>generate</c> does for this decoder-only model (transformers 4.27.1): greedy
    /// search, sampling, or beam search when <see cref="GenerationConfig.NumBeams"/> &gt; 1, with HF's logits processors;
    /// a finished row (one that produced EOS) gets pad tokens, and generation stops when every row has finished or at the
    /// maximum length. Returns HF's <c>sequences</c>, [batch × num_return_sequences, length] row-major, the prompt first.
    /// </summary>
    /// <remarks>
    /// As HF's <c>prepare_inputs_for_generation</c> for this class: the first step runs the whole prompt, later steps only
    /// the last token against the self-attention cache (every step runs the whole sequence when
    /// <see cref="GenerationConfig.UseCache"/> is false); the prompt's attention_mask (left padding) is honoured and
    /// extended with ones, without one pad tokens in the prompt are masked (unless pad is eos), and positions are not
    /// shifted for padding. There is no cross-attention. Beam search moves only the cache rows whose beam changed, and
    /// scores beams by the whole length, prompt included, as 4.27.1 does.
    /// </remarks>
    /// <param name="prompt">input_ids [batch, prompt] and optionally its attention_mask; no cache, labels or encoder inputs.</param>
    /// <param name="generation">The decoding settings; <see cref="GenerationConfig.FromPretrained"/> gives a checkpoint's own.</param>
    /// <param name="cancellationToken">Checked before each step and between the layers of each step.</param>
    /// <exception cref="BigBirdInputException">A bad prompt or bad settings (HF's checks on num_beams, num_return_sequences,
    /// min_length…), or a total length beyond max_position_embeddings.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; nothing is returned.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public int[] Generate(BigBirdPegasusCausalLMInputs prompt, GenerationConfig generation, CancellationToken cancellationToken = default) =>
        GenerateOutput(prompt, generation, cancellationToken).Sequences;

    /// <summary><see cref="Generate"/> with HF's <c>sequences_scores</c> of beam search.</summary>
    internal GenerationOutput GenerateOutput(BigBirdPegasusCausalLMInputs prompt, GenerationConfig generation, CancellationToken cancellationToken,
                                             bool beamSearchWithOneBeam = false)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(generation);
        // one lease for the whole generation: a generation admitted before Dispose runs to its end
        using var lease = _lifetime.Enter(this);
        cancellationToken.ThrowIfCancellationRequested();
        if (prompt.PastKeyValues is not null)
            throw new BigBirdInputException("generation makes its own cache; pass the prompt without past_key_values.");
        if (prompt.Labels is not null)
            throw new BigBirdInputException("generation takes no labels; call Forward for the loss.");
        if (prompt.EncoderHiddenStates is not null || prompt.EncoderAttentionMask is not null)
            throw new BigBirdInputException(
                "generation takes no encoder_hidden_states or encoder_attention_mask: HF's BigBirdPegasusForCausalLM." +
                "prepare_inputs_for_generation drops them. Call Forward step by step to decode against an encoder.");
        Validate(prompt);
        var plan = GenerationPlan.Resolve(generation, prompt.BatchSize, prompt.SequenceLength, Config.VocabSize, Config.PadTokenId,
                                          Config.MaxPositionEmbeddings, "max_position_embeddings");
        if (beamSearchWithOneBeam) plan = plan.WithBeamSearch();
        using var call = NewCall(cancellationToken);
        var session = new DecodingSession(this, call, prompt, plan);
        return GenerationSearch.Generate(session, plan, prompt.InputIds, cancellationToken);
    }

    /// <summary>
    /// The decoder side of one generation: the prompt's additive mask per expanded row (extended with zeros, that is
    /// attended, up to the maximum length), the cache, and the work space of every step, prepared once so that a step
    /// allocates nothing.
    /// </summary>
    private sealed class DecodingSession : IDecodingSession
    {
        private readonly BigBirdPegasusForCausalLM _owner;
        private readonly BigBirdPegasusCall _call;
        private readonly BigBirdPegasusKeyValueCache? _cache;
        private readonly BigBirdPegasusScratch _scratch;
        private readonly DeviceSpan _hidden, _fullMask, _stepMask, _last, _logits;
        private readonly int _maxLength;
        private readonly int[] _ids, _positions;
        private readonly float[] _scores;

        public int Rows { get; }
        public int VocabSize { get; }

        public DecodingSession(BigBirdPegasusForCausalLM owner, BigBirdPegasusCall call, BigBirdPegasusCausalLMInputs prompt, GenerationPlan plan)
        {
            _owner = owner;
            _call = call;
            var config = owner.Config;
            int batch = prompt.BatchSize, length = prompt.SequenceLength, expand = plan.ExpandSize, pad = plan.PadTokenId, d = config.DModel;
            Rows = plan.Rows;
            VocabSize = config.VocabSize;
            _maxLength = plan.MaxLength;
            // _prepare_attention_mask_for_generation: without a mask, pad tokens in the prompt are masked (unless pad = eos);
            // then repeat_interleave per row; the tokens generated later are attended (the mask is extended with ones)
            var ids = prompt.InputIds;
            bool inferMask = prompt.AttentionMask is null && ids.Contains(pad) && pad != plan.EosTokenId;
            var mask = new float[TensorSize.ForInput("attention_mask", "[batch × beams, max_length]", "generate for fewer rows or beams.", Rows, _maxLength)];
            for (int r = 0; r < Rows; r++)
                for (int s = 0; s < length; s++)
                {
                    int i = r / expand * length + s;
                    bool attended = prompt.AttentionMask is { } m ? m[i] != 0 : !(inferMask && ids[i] == pad);
                    mask[r * _maxLength + s] = attended ? 0f : float.MinValue;
                }
            _fullMask = call.Upload(mask);
            _stepMask = call.Rent(mask.Length);
            _cache = plan.Settings.UseCache ? new BigBirdPegasusKeyValueCache(config, Rows, _maxLength, owner.Backend) : null;
            // with a cache the first step feeds the prompt and every later step one token; without one the whole sequence
            int stepRows = TensorSize.ForInput("input_ids", "[batch × beams, max_length]", "generate for fewer rows or beams.",
                                               Rows, _cache is null ? _maxLength : length);
            _scratch = BigBirdPegasusScratch.Rent(call, stepRows, 0, d, config.DecoderFfnDim);
            _hidden = call.Rent(TensorSize.ForInput("hidden_states", "[batch × beams, length, d_model]", "generate for fewer rows or beams.", stepRows, d));
            _ids = new int[stepRows];
            _positions = new int[stepRows];
            _last = call.Rent(Rows * d);
            _logits = call.Rent(TensorSize.ForInput("logits", "[batch × beams, vocab_size]", "generate for fewer rows or beams.", Rows, VocabSize));
            _scores = new float[Rows * VocabSize];
        }

        public Span<float> NextTokenLogits(int[] sequences, int stride, int length)
        {
            var backend = _owner.Backend;
            int d = _owner.Config.DModel, rows = Rows;
            // prepare_inputs_for_generation: with a cache only the tokens it has not seen (input_ids[:, -1:] after the
            // prompt); positions continue from the cache's length, unshifted by padding
            int past = _cache?.Length ?? 0, newTokens = length - past;
            for (int r = 0; r < rows; r++)
                for (int t = 0; t < newTokens; t++)
                {
                    _ids[r * newTokens + t] = sequences[r * stride + past + t];
                    _positions[r * newTokens + t] = past + t;
                }
            // attention_mask [rows, length]: the prompt's, then ones
            backend.Copy(_stepMask, length, _fullMask, _maxLength, rows, length);
            _owner.Model.Decoder.Forward(_call, _scratch, _hidden, _ids.AsSpan(0, rows * newTokens), _positions.AsSpan(0, rows * newTokens), rows,
                                         newTokens, _stepMask.Slice(0, rows * length), default, 0, default, _cache);
            // logits = lm_head(outputs[0])[:, -1, :]
            backend.Copy(_last, d, _hidden.Slice((newTokens - 1) * d), newTokens * d, rows, d);
            _owner.LmHead.Forward(_logits, _last, rows);
            backend.Download(_logits, _scores);
            return _scores;
        }

        // 4.27.1's _reorder_cache for this class moves every cached state, cross-attention included; without an encoder
        // there is none, so the self-attention rows are all there is to move
        public void ReorderCache(ReadOnlySpan<int> beamIndices) => _cache?.Reorder(beamIndices);
    }
}
