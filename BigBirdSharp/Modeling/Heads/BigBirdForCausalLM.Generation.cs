using BigBirdSharp.Configuration;
using BigBirdSharp.Generation;

namespace BigBirdSharp.Modeling.Heads;

public sealed partial class BigBirdForCausalLM
{
    /// <summary>
    /// Extends each prompt row as HF's <c>generate</c> does (transformers 4.27.1): greedy search, sampling, or beam search
    /// when <see cref="GenerationConfig.NumBeams"/> &gt; 1, with HF's logits processors; a finished row (one that produced
    /// EOS) gets pad tokens, and generation stops when every row has finished or at the maximum length.
    /// Returns HF's <c>sequences</c>, [batch × num_return_sequences, length] row-major, the prompt first.
    /// </summary>
    /// <remarks>
    /// Attention is original_full (causal) at every step. HF's block-sparse attention is neither causal nor cached,
    /// and HF itself falls back to full attention for the one-token steps; a long block_sparse prompt would give HF an
    /// unusable cache, so we do not follow it there. The prompt's <c>attention_mask</c> (left padding) is honoured and
    /// extended with ones, and positions are not shifted for padding, as in HF. Beam scores are normalised by the whole
    /// length, prompt included, as 4.27.1 does.
    /// </remarks>
    /// <param name="prompt">input_ids [batch, prompt] and optionally its attention_mask.</param>
    /// <param name="generation">The decoding settings.</param>
    /// <param name="options">Per-step forward settings; attention is original_full whatever they say.</param>
    /// <param name="cancellationToken">Checked before each step and between the layers of each step's forward.</param>
    /// <exception cref="BigBirdInputException">Bad prompt or settings, or a total length beyond max_position_embeddings.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; nothing is returned.</exception>
    /// <exception cref="ObjectDisposedException">The head has been disposed.</exception>
    public int[] Generate(BigBirdInputs prompt, GenerationConfig generation, BigBirdForwardOptions? options = null,
                          CancellationToken cancellationToken = default) =>
        GenerateOutput(prompt, generation, options, cancellationToken).Sequences;

    /// <summary><see cref="Generate"/> with HF's <c>sequences_scores</c> of beam search.</summary>
    internal GenerationOutput GenerateOutput(BigBirdInputs prompt, GenerationConfig generation, BigBirdForwardOptions? options,
                                             CancellationToken cancellationToken, bool beamSearchWithOneBeam = false)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(generation);
        // one lease for the whole generation: a generation admitted before Dispose runs to its end
        using var lease = Lifetime.Enter(this);
        cancellationToken.ThrowIfCancellationRequested();
        if (prompt.InputIds is null)
            throw new BigBirdInputException("generation needs input_ids as the prompt.");
        if (prompt.PastKeyValues is not null)
            throw new BigBirdInputException("generation makes its own cache; pass the prompt without past_key_values.");
        Bert.Validate(prompt);
        if (prompt.EncoderHiddenStates is not null)
            throw new BigBirdInputException(
                "generation takes no encoder_hidden_states: HF's BigBirdForCausalLM.prepare_inputs_for_generation drops them, and its " +
                "decoder would attend to them in place of its own tokens. Call Forward step by step to decode against an encoder.");
        var plan = GenerationPlan.Resolve(generation, prompt.BatchSize, prompt.SequenceLength, Config.VocabSize, Config.PadTokenId,
                                          Config.MaxPositionEmbeddings, "max_position_embeddings");
        if (beamSearchWithOneBeam) plan = plan.WithBeamSearch();
        var stepOptions = (options ?? new BigBirdForwardOptions()) with
        {
            AttentionType = AttentionType.OriginalFull, OutputAttentions = false, OutputHiddenStates = false,
        };
        var session = new DecodingSession(this, prompt, plan, stepOptions, cancellationToken);
        return GenerationSearch.Generate(session, plan, prompt.InputIds, cancellationToken);
    }

    /// <summary>The causal LM side of one generation: the prompt's mask per expanded row, extended with ones, and the cache.</summary>
    private sealed class DecodingSession : IDecodingSession
    {
        private readonly BigBirdForCausalLM _owner;
        private readonly BigBirdForwardOptions _options;
        private readonly CancellationToken _cancellation;
        private readonly BigBirdKeyValueCache? _cache;
        private readonly int[] _promptMask;
        private readonly int _promptLength;
        private float[] _logits = [];

        public int Rows { get; }
        public int VocabSize { get; }

        public DecodingSession(BigBirdForCausalLM owner, BigBirdInputs prompt, GenerationPlan plan, BigBirdForwardOptions options,
                               CancellationToken cancellation)
        {
            _owner = owner;
            _options = options;
            _cancellation = cancellation;
            Rows = plan.Rows;
            VocabSize = owner.Config.VocabSize;
            int batch = prompt.BatchSize, length = prompt.SequenceLength, expand = plan.ExpandSize, pad = plan.PadTokenId;
            _promptLength = length;
            // _prepare_attention_mask_for_generation: without a mask, pad tokens in the prompt are masked (unless pad = eos);
            // then repeat_interleave per beam
            var ids = prompt.InputIds!;
            bool inferMask = prompt.AttentionMask is null && ids.Contains(pad) && pad != plan.EosTokenId;
            _promptMask = new int[Rows * length];
            for (int r = 0; r < Rows; r++)
                for (int s = 0; s < length; s++)
                {
                    int i = r / expand * length + s;
                    _promptMask[r * length + s] = prompt.AttentionMask?[i] ?? (inferMask && ids[i] == pad ? 0 : 1);
                }
            // HF keeps no cache for a model that is not a decoder (use_cache is forced off), so every step re-runs everything
            _cache = plan.Settings.UseCache && owner.Config.IsDecoder
                ? new BigBirdKeyValueCache(owner.Config, Rows, Math.Max(1, plan.MaxLength), owner.Bert.Backend)
                : null;
        }

        public Span<float> NextTokenLogits(int[] sequences, int stride, int length)
        {
            int rows = Rows;
            // prepare_inputs_for_generation: with a cache, only the tokens it has not seen; the mask covers everything
            int past = _cache?.Length ?? 0, newTokens = length - past;
            var ids = new int[rows * newTokens];
            var mask = new int[rows * length];
            for (int r = 0; r < rows; r++)
            {
                sequences.AsSpan(r * stride + past, newTokens).CopyTo(ids.AsSpan(r * newTokens));
                _promptMask.AsSpan(r * _promptLength, _promptLength).CopyTo(mask.AsSpan(r * length));
                mask.AsSpan(r * length + _promptLength, length - _promptLength).Fill(1);
            }
            var inputs = new BigBirdInputs(rows, newTokens) { InputIds = ids, AttentionMask = mask, PastKeyValues = _cache };
            _logits = _owner.NextTokenLogits(inputs, _options, _cancellation); // [rows, vocab]
            return _logits;
        }

        public void ReorderCache(ReadOnlySpan<int> beamIndices) => _cache?.Reorder(beamIndices);
    }

    /// <summary>HF's RepetitionPenaltyLogitsProcessor on one row (see <see cref="LogitsProcessorList"/>).</summary>
    internal static void ApplyRepetitionPenalty(Span<float> scores, ReadOnlySpan<int> sequence, float penalty) =>
        LogitsProcessorList.RepetitionPenaltyOnce(scores, sequence, penalty);

    /// <summary>HF's NoRepeatNGramLogitsProcessor on one row (see <see cref="LogitsProcessorList"/>).</summary>
    internal static void BanRepeatedNgrams(Span<float> scores, ReadOnlySpan<int> sequence, int n) =>
        LogitsProcessorList.NoRepeatNGram(scores, sequence, n);

    /// <summary>The first index of the largest score, as torch.argmax.</summary>
    internal static int ArgMax(ReadOnlySpan<float> scores) => GenerationSearch.ArgMax(scores);

    /// <summary>HF's warpers (temperature, top-k, top-p), then one draw (see <see cref="GenerationSearch.Sample"/>).</summary>
    internal static int Sample(ReadOnlySpan<float> logits, GenerationConfig g, Random random) => GenerationSearch.Sample(logits, g, random);
}
