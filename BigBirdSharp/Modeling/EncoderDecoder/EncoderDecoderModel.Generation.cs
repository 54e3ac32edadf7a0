using BigBirdSharp.Configuration;
using BigBirdSharp.Generation;
using BigBirdSharp.Modeling.Heads;

namespace BigBirdSharp.Modeling.EncoderDecoder;

public sealed partial class EncoderDecoderModel
{
    /// <summary>
    /// Starts an incremental decoding (HF's <c>_prepare_encoder_decoder_kwargs_for_generation</c> and
    /// <c>_expand_inputs_for_generation</c>): runs the encoder once over input_ids and attention_mask, applies
    /// enc_to_dec_proj, and makes <paramref name="rowsPerInput"/> decoder rows per input (row r reads input
    /// r / rowsPerInput, as <c>repeat_interleave</c>).
    /// </summary>
    /// <param name="inputs">input_ids (or encoder_outputs) and attention_mask; decoder inputs and labels must be absent.</param>
    /// <param name="rowsPerInput">Beams × sequences returned per input; 1 for greedy search.</param>
    /// <param name="useCache">HF's <c>use_cache</c> (see <see cref="EncoderDecoderDecodingState.UseCache"/>).</param>
    /// <param name="options">The encoder's attention type override and random-attention semantics.</param>
    /// <param name="cancellationToken">Checked between the encoder's layers.</param>
    /// <exception cref="BigBirdInputException">Bad inputs, or decoder inputs given.</exception>
    internal EncoderDecoderDecodingState BeginDecoding(EncoderDecoderInputs inputs, int rowsPerInput, bool useCache, BigBirdForwardOptions? options,
                                                       CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        using var encoderLease = Encoder.Acquire();
        cancellationToken.ThrowIfCancellationRequested();
        if (inputs.DecoderInputIds is not null || inputs.Labels is not null || inputs.DecoderAttentionMask is not null)
            throw new BigBirdInputException("generation makes its own decoder inputs; pass only input_ids (or encoder_outputs) and attention_mask.");
        if (rowsPerInput <= 0)
            throw new BigBirdInputException($"rows per input (beams × returned sequences) must be positive, got {rowsPerInput}.");
        _ = TensorSize.ForInput("decoder rows", "[batch · rows per input]", "generate for fewer inputs at a time.", inputs.BatchSize, rowsPerInput);
        var encoder = RunEncoder(inputs, options ?? BigBirdForwardOptions.Default, cancellationToken);
        var states = Project(encoder.LastHiddenState.Data, inputs.BatchSize * inputs.SequenceLength);
        return new EncoderDecoderDecodingState(states, inputs.AttentionMask, inputs.BatchSize, inputs.SequenceLength, Config.Decoder.HiddenSize,
                                               rowsPerInput, useCache, encoder.AttentionType);
    }

    /// <summary>
    /// One decoding step: <paramref name="newTokens"/> [rows, tokensPerRow] are appended to every row, and the decoder's
    /// logits of each row's last new token come back, [rows, decoder vocab_size]. The encoder does not run again.
    /// </summary>
    /// <remarks>
    /// Each 4.27.1 decoder position depends only on its own token, its position and the encoder (see
    /// <see cref="EncoderDecoderModel"/>), so only the last new token of each row runs through the decoder, at the
    /// position HF gives it (<see cref="EncoderDecoderDecodingState.LastPosition"/>): the logits are HF's
    /// <c>outputs.logits[:, -1, :]</c> of the same step, cached or not.
    /// </remarks>
    /// <exception cref="BigBirdInputException">A token outside the decoder's vocabulary, a wrong count, or a position beyond
    /// the decoder's max_position_embeddings.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled; the state is unchanged.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    internal float[] DecodeStep(EncoderDecoderDecodingState state, ReadOnlySpan<int> newTokens, int tokensPerRow, BigBirdForwardOptions? options,
                                CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(state);
        using var decoderLease = Decoder.Acquire();
        cancellationToken.ThrowIfCancellationRequested();
        int rows = state.Rows;
        if (tokensPerRow <= 0 || newTokens.Length != (long)rows * tokensPerRow)
            throw new BigBirdInputException(
                $"a decoding step takes [rows, new tokens] = [{rows}, {tokensPerRow}] ids, got {newTokens.Length} (tokens per row must be positive).");
        int position = state.LastPosition(tokensPerRow);
        if (position >= Config.Decoder.MaxPositionEmbeddings)
            throw new BigBirdInputException(
                $"the decoder would embed this step's token at position {position}, outside decoder max_position_embeddings " +
                $"{Config.Decoder.MaxPositionEmbeddings}" +
                (state.UseCache && state.Steps > 0
                    ? $": with a cache, transformers 4.27.1 places every token after the first at position encoder_length ({state.EncoderLength}), " +
                      "and fails there too. Use a shorter input, or decode without a cache."
                    : "; generate fewer tokens."));
        int vocab = Config.Decoder.VocabSize;
        foreach (int token in newTokens)
            if ((uint)token >= (uint)vocab)
                throw new BigBirdInputException($"decoder token {token} is outside [0, {vocab}) (decoder vocab_size).");
        var ids = new int[rows];
        for (int r = 0; r < rows; r++) ids[r] = newTokens[r * tokensPerRow + tokensPerRow - 1];
        var positions = new int[rows];
        Array.Fill(positions, position);
        var (states, mask) = state.RowEncoderStates();
        var inputs = new BigBirdInputs(rows, 1)
        {
            InputIds = ids,
            PositionIds = positions,
            EncoderHiddenStates = states,
            EncoderSequenceLength = state.EncoderLength,
            EncoderAttentionMask = mask,
        };
        var logits = Decoder.NextTokenLogits(inputs, DecoderOptions(options ?? BigBirdForwardOptions.Default), cancellationToken);
        state.Advance(tokensPerRow);
        return logits;
    }

    /// <summary>HF's <c>_reorder_cache</c>: row r continues row <paramref name="beamIdx"/>[r]. Copies nothing while the rows
    /// keep reading the same inputs (see <see cref="EncoderDecoderDecodingState"/>).</summary>
    /// <exception cref="BigBirdInputException"><paramref name="beamIdx"/> is not one row index per row.</exception>
    internal static void ReorderRows(EncoderDecoderDecodingState state, ReadOnlySpan<int> beamIdx)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (beamIdx.Length != state.Rows)
            throw new BigBirdInputException($"beam_idx has {beamIdx.Length} values; give one source row per row ({state.Rows}).");
        foreach (int i in beamIdx)
            if ((uint)i >= (uint)state.Rows)
                throw new BigBirdInputException($"beam_idx holds {i}, outside the rows [0, {state.Rows}).");
        state.Reorder(beamIdx);
    }

    /// <summary>
    /// HF's <c>generate</c> (transformers 4.27.1): greedy search, sampling, or beam search when
    /// <see cref="GenerationConfig.NumBeams"/> &gt; 1, with HF's logits processors. The encoder runs once and each input's
    /// decoder rows read its output (one row per beam); each row's decoder sequence starts with decoder_start_token_id (else
    /// bos_token_id). Without an attention_mask, pad tokens of input_ids are masked, as HF infers it. Use
    /// <see cref="GenerationConfig.FromPretrained"/> for the checkpoint's own settings.
    /// </summary>
    /// <remarks>
    /// With <see cref="GenerationConfig.UseCache"/> (HF's default) the ids are those of 4.27.1's cached decoding, where
    /// every token after the first is embedded at position encoder_length; without it, those of its uncached decoding,
    /// each token at its own index. The two differ in 4.27.1, and both are what HF returns (see docs/parity.md).
    /// </remarks>
    /// <param name="inputs">input_ids [batch, seq] (or encoder_outputs) and optionally attention_mask.</param>
    /// <param name="generation">The decoding settings.</param>
    /// <param name="options">The encoder's attention type override and random-attention semantics.</param>
    /// <param name="cancellationToken">Checked before each step and between the layers of each forward.</param>
    /// <returns>HF's <c>sequences</c>, [batch × num_return_sequences, length] row-major, the decoder start token first;
    /// beam hypotheses shorter than the longest are padded with pad_token_id after their EOS.</returns>
    /// <exception cref="BigBirdInputException">Bad inputs or settings, or a position beyond the decoder's max_position_embeddings.</exception>
    /// <exception cref="BigBirdConfigException">config.json has neither decoder_start_token_id nor bos_token_id.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled; nothing is returned.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public int[] Generate(EncoderDecoderInputs inputs, GenerationConfig generation, BigBirdForwardOptions? options = null,
                          CancellationToken cancellationToken = default) =>
        GenerateOutput(inputs, generation, options, cancellationToken).Sequences;

    /// <summary><see cref="Generate"/> with HF's <c>sequences_scores</c> of beam search.</summary>
    internal GenerationOutput GenerateOutput(EncoderDecoderInputs inputs, GenerationConfig generation, BigBirdForwardOptions? options,
                                             CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(generation);
        using var encoderLease = Encoder.Acquire();
        using var decoderLease = Decoder.Acquire();
        cancellationToken.ThrowIfCancellationRequested();
        // _get_decoder_start_token_id: decoder_start_token_id, else bos_token_id
        int start = generation.DecoderStartTokenId ?? Config.DecoderStartTokenId ?? generation.BosTokenId ?? Config.BosTokenId
            ?? throw new BigBirdConfigException(
                "config.json sets neither decoder_start_token_id nor bos_token_id, so generation has no first decoder token (HF: " +
                "'decoder_start_token_id or bos_token_id has to be defined for encoder-decoder generation').");
        int vocab = Config.Decoder.VocabSize;
        if ((uint)start >= (uint)vocab)
            throw new BigBirdInputException($"decoder_start_token_id {start} is outside the decoder's vocabulary [0, {vocab}).");
        // with a cache, 4.27.1 embeds every token after the first at position encoder_length (DecodeStep checks it);
        // without one, each at its own index, so the sequence must fit the decoder's positions
        int maxPositions = generation.UseCache ? int.MaxValue : Config.Decoder.MaxPositionEmbeddings;
        var plan = GenerationPlan.Resolve(generation, inputs.BatchSize, 1, vocab, Config.PadTokenId, maxPositions, "the decoder's max_position_embeddings");
        // _prepare_attention_mask_for_generation: without a mask, pad tokens of the input are masked (unless pad is eos)
        var encoderInputs = inputs;
        int? configPad = generation.PadTokenId ?? Config.PadTokenId;
        if (inputs.AttentionMask is null && inputs.InputIds is { } ids && inputs.EncoderOutputs is null && configPad is int padId
            && padId != plan.EosTokenId && ids.Contains(padId))
        {
            var inferred = new int[ids.Length];
            for (int i = 0; i < ids.Length; i++) inferred[i] = ids[i] == padId ? 0 : 1;
            encoderInputs = new EncoderDecoderInputs(inputs.BatchSize, inputs.SequenceLength) { InputIds = ids, AttentionMask = inferred };
        }
        // the encoder runs once; each input's rows (one per beam) read its output, as _expand_inputs_for_generation
        var state = BeginDecoding(encoderInputs, plan.ExpandSize, generation.UseCache, options, cancellationToken);
        var session = new DecodingSession(this, state, options, cancellationToken);
        var starts = new int[inputs.BatchSize];
        Array.Fill(starts, start);
        return GenerationSearch.Generate(session, plan, starts, cancellationToken);
    }

    /// <summary>The decoder side of one generation for the search: each step feeds every row's newest token.</summary>
    private sealed class DecodingSession(EncoderDecoderModel owner, EncoderDecoderDecodingState state, BigBirdForwardOptions? options,
                                         CancellationToken cancellationToken) : IDecodingSession
    {
        private readonly int[] _step = new int[state.Rows];

        public int Rows => state.Rows;
        public int VocabSize => owner.Config.Decoder.VocabSize;

        public Span<float> NextTokenLogits(int[] sequences, int stride, int length)
        {
            // prepare_inputs_for_generation: the last token of every row (DecodeStep keeps what came before)
            for (int r = 0; r < _step.Length; r++) _step[r] = sequences[r * stride + length - 1];
            return owner.DecodeStep(state, _step, 1, options, cancellationToken);
        }

        public void ReorderCache(ReadOnlySpan<int> beamIndices) => ReorderRows(state, beamIndices);
    }
}
