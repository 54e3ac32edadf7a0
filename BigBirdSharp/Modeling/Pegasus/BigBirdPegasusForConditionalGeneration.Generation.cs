using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling.Heads;

namespace BigBirdSharp.Modeling.Pegasus;

public sealed partial class BigBirdPegasusForConditionalGeneration
{
    /// <summary>
    /// HF's <c>generate</c> for an encoder-decoder with greedy search (or sampling): the encoder runs once; each row's decoder
    /// sequence starts with decoder_start_token_id and grows by the argmax of the last position's logits (after HF's
    /// repetition-penalty and no-repeat-n-gram processors, when asked), a finished row (one that produced EOS) gets pad
    /// tokens, and generation stops when every row has finished or after <see cref="GenerationConfig.MaxNewTokens"/> new
    /// tokens. The decoder's self-attention keys/values and the cross-attention keys/values are cached across steps
    /// unless <see cref="GenerationConfig.UseCache"/> is false (then every step runs the whole decoder sequence).
    /// </summary>
    /// <param name="inputs">input_ids [batch, seq] and optionally attention_mask; decoder inputs and labels must be absent.</param>
    /// <param name="generation">The decoding settings (beam search is not done here).</param>
    /// <param name="options">Attention type override and random-attention semantics of the encoder.</param>
    /// <param name="cancellationToken">Checked before each step and between the layers of each forward.</param>
    /// <returns>HF's <c>sequences</c>, [batch, 1 + generated] row-major, the decoder start token first.</returns>
    /// <exception cref="BigBirdInputException">Bad inputs or settings, or more tokens than max_position_embeddings.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled; nothing is returned.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public int[] Generate(BigBirdPegasusInputs inputs, GenerationConfig generation, BigBirdForwardOptions? options = null,
                          CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(generation);
        using var lease = Model.Lifetime.Enter(this);
        cancellationToken.ThrowIfCancellationRequested();
        if (inputs.InputIds is null) throw new BigBirdInputException("generation needs input_ids (the document to encode).");
        if (inputs.DecoderInputIds is not null || inputs.Labels is not null || inputs.PastKeyValues is not null || inputs.DecoderAttentionMask is not null)
            throw new BigBirdInputException("generation makes its own decoder inputs and cache; pass only input_ids and attention_mask.");
        Model.Validate(inputs, null, 0, requireDecoderIds: false);
        if (generation.MaxNewTokens < 0)
            throw new BigBirdInputException($"max_new_tokens must be non-negative, got {generation.MaxNewTokens}.");
        if (generation.DoSample && !(generation.Temperature > 0))
            throw new BigBirdInputException($"temperature must be positive, got {generation.Temperature}.");
        if (generation.DoSample && !(generation.TopP > 0 && generation.TopP <= 1))
            throw new BigBirdInputException($"top_p must be in (0, 1], got {generation.TopP}.");
        if (generation.TopK < 0) throw new BigBirdInputException($"top_k must be non-negative, got {generation.TopK}.");
        if (!(generation.RepetitionPenalty > 0) || float.IsInfinity(generation.RepetitionPenalty))
            throw new BigBirdInputException($"repetition_penalty must be a positive number, got {generation.RepetitionPenalty}.");
        if (generation.NoRepeatNgramSize < 0)
            throw new BigBirdInputException($"no_repeat_ngram_size must be non-negative, got {generation.NoRepeatNgramSize}.");
        int batch = inputs.BatchSize, vocab = Config.VocabSize, d = Config.DModel;
        // max_length = max_new_tokens + the decoder's one start token
        int maxLength = 1 + generation.MaxNewTokens;
        if (maxLength > Config.MaxPositionEmbeddings)
            throw new BigBirdInputException(
                $"1 start token + {generation.MaxNewTokens} new tokens exceed max_position_embeddings {Config.MaxPositionEmbeddings}; ask for fewer tokens.");
        _ = TensorSize.ForInput("sequences", "[batch, 1 + max_new_tokens]", "generate for fewer rows at a time.", batch, maxLength);
        int pad = generation.PadTokenId ?? Config.PadTokenId;
        var stepOptions = options ?? BigBirdForwardOptions.Default;

        using var call = Model.NewCall(cancellationToken);
        // _prepare_encoder_decoder_kwargs_for_generation: the encoder runs once
        var encoder = Model.RunEncoder(call, inputs, stepOptions, out _);
        var sequences = new int[batch * maxLength];
        for (int b = 0; b < batch; b++) sequences[b * maxLength] = Config.DecoderStartTokenId;
        var unfinished = new bool[batch];
        Array.Fill(unfinished, true);
        var cache = generation.UseCache ? new BigBirdPegasusKeyValueCache(Config, batch, maxLength, Model.Backend) : null;
        var sampler = generation.DoSample ? new Random(generation.Seed) : null;
        // the work space of every step, prepared once: with a cache each step feeds one token per row; without one the
        // whole sequence so far, at most maxLength tokens
        int stepRows = batch * (cache is null ? maxLength : 1);
        var scratch = BigBirdPegasusScratch.Rent(call, stepRows, batch * inputs.SequenceLength, d, Config.DecoderFfnDim);
        var hidden = call.Rent(stepRows * d);
        // no decoder_attention_mask in generation: the self-attention mask is zeros over whatever the keys are
        var self_mask = call.Upload(new float[batch * maxLength]);
        var cross_mask = call.AdditiveMask(inputs.AttentionMask, batch * inputs.SequenceLength);
        var ids = new int[stepRows];
        var positions = new int[stepRows];
        var last = call.Rent(batch * d);
        var next_token_logits = call.Rent(batch * vocab);
        var scores = new float[batch * vocab];
        int length = 1;
        for (int step = 0; step < generation.MaxNewTokens; step++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            // prepare_inputs_for_generation: with a cache only the last token goes in
            int newTokens = cache is null ? length : 1, past = cache?.Length ?? 0;
            for (int b = 0; b < batch; b++)
                for (int t = 0; t < newTokens; t++)
                {
                    ids[b * newTokens + t] = sequences[b * maxLength + length - newTokens + t];
                    positions[b * newTokens + t] = past + t;
                }
            Model.Decoder.Forward(call, scratch, hidden, ids.AsSpan(0, batch * newTokens), positions.AsSpan(0, batch * newTokens), batch, newTokens,
                                  self_mask.Slice(0, batch * (past + newTokens)), encoder, inputs.SequenceLength, cross_mask, cache);
            // outputs.logits[:, -1, :]
            Model.Backend.Copy(last, d, hidden.Slice((newTokens - 1) * d), newTokens * d, batch, d);
            LmHead.Forward(next_token_logits, last, batch);
            Model.Backend.Download(next_token_logits, scores);
            bool any = false;
            for (int b = 0; b < batch; b++)
            {
                var row = scores.AsSpan(b * vocab, vocab);
                var sequence = sequences.AsSpan(b * maxLength, length);
                if (generation.RepetitionPenalty != 1f) BigBirdForCausalLM.ApplyRepetitionPenalty(row, sequence, generation.RepetitionPenalty);
                if (generation.NoRepeatNgramSize > 0) BigBirdForCausalLM.BanRepeatedNgrams(row, sequence, generation.NoRepeatNgramSize);
                int next = sampler is null ? BigBirdForCausalLM.ArgMax(row) : BigBirdForCausalLM.Sample(row, generation, sampler);
                if (generation.EosTokenId is not null && !unfinished[b]) next = pad;
                sequences[b * maxLength + length] = next;
                if (generation.EosTokenId is int eos && next == eos) unfinished[b] = false;
                any |= unfinished[b];
            }
            length++;
            if (!any) break;
        }
        if (length == maxLength) return sequences;
        var trimmed = new int[batch * length];
        for (int b = 0; b < batch; b++) sequences.AsSpan(b * maxLength, length).CopyTo(trimmed.AsSpan(b * length));
        return trimmed;
    }
}
