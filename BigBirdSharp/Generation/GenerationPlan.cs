using System.Globalization;
using BigBirdSharp.Modeling.Heads;

namespace BigBirdSharp.Generation;

/// <summary>How generate will run, resolved once from a <see cref="GenerationConfig"/> and what the model says
/// (its pad token, vocabulary and positions), with HF's validation of the settings.</summary>
internal sealed class GenerationPlan
{
    public required GenerationConfig Settings { get; init; }
    /// <summary>Input rows.</summary>
    public required int Batch { get; init; }
    /// <summary>Tokens every row starts with: the prompt, or the decoder start token.</summary>
    public required int StartLength { get; init; }
    /// <summary>The sequences' final length at most (HF's max_length after max_new_tokens).</summary>
    public required int MaxLength { get; init; }
    public required int? EosTokenId { get; init; }
    public required int PadTokenId { get; init; }
    public required int VocabSize { get; init; }
    /// <summary>Rows per input row in the session: num_beams for beam search, num_return_sequences for sampling.</summary>
    public int ExpandSize => IsBeamSearch ? Settings.NumBeams : Settings.DoSample ? Settings.NumReturnSequences : 1;
    public int Rows => Batch * ExpandSize;
    public bool IsBeamSearch => Settings.NumBeams > 1 || BeamSearchWithOneBeam;
    /// <summary>Runs beam search even with one beam (HF refuses it; the property "one beam equals greedy" needs it).</summary>
    public bool BeamSearchWithOneBeam { get; init; }
    /// <summary>length_penalty as the Python float HF reads from JSON (0.8, not 0.8f widened).</summary>
    public double LengthPenalty => double.Parse(Settings.LengthPenalty.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    /// <summary>This plan, run as beam search whatever num_beams says.</summary>
    public GenerationPlan WithBeamSearch() => new()
    {
        Settings = Settings, Batch = Batch, StartLength = StartLength, MaxLength = MaxLength, EosTokenId = EosTokenId, PadTokenId = PadTokenId,
        VocabSize = VocabSize, BeamSearchWithOneBeam = true,
    };

    /// <summary>Validates <paramref name="g"/> and resolves it for a model.</summary>
    /// <param name="g">The settings.</param>
    /// <param name="batch">Input rows.</param>
    /// <param name="startLength">Tokens every row starts with.</param>
    /// <param name="vocabSize">The model's vocabulary.</param>
    /// <param name="configPadTokenId">config.pad_token_id, used when the settings have none.</param>
    /// <param name="maxPositions">The most tokens the model can hold, and how to name that limit.</param>
    /// <param name="positionsName">e.g. "max_position_embeddings".</param>
    /// <exception cref="BigBirdInputException">An invalid or contradictory setting.</exception>
    public static GenerationPlan Resolve(GenerationConfig g, int batch, int startLength, int vocabSize, int? configPadTokenId, int maxPositions,
                                         string positionsName)
    {
        ArgumentNullException.ThrowIfNull(g);
        if (g.MaxNewTokens < 0) throw new BigBirdInputException($"max_new_tokens must be non-negative, got {g.MaxNewTokens}.");
        if (g.MaxNewTokens is null && g.MaxLength <= 0) throw new BigBirdInputException($"max_length must be positive, got {g.MaxLength}.");
        if (g.MinLength < 0) throw new BigBirdInputException($"min_length must be non-negative, got {g.MinLength}.");
        if (g.MinNewTokens < 0) throw new BigBirdInputException($"min_new_tokens must be non-negative, got {g.MinNewTokens}.");
        if (g.DoSample && !(g.Temperature > 0)) throw new BigBirdInputException($"temperature must be positive, got {g.Temperature}.");
        if (g.DoSample && !(g.TopP > 0 && g.TopP <= 1)) throw new BigBirdInputException($"top_p must be in (0, 1], got {g.TopP}.");
        if (g.TopK < 0) throw new BigBirdInputException($"top_k must be non-negative, got {g.TopK}.");
        if (!(g.RepetitionPenalty > 0) || float.IsInfinity(g.RepetitionPenalty))
            throw new BigBirdInputException($"repetition_penalty must be a positive number, got {g.RepetitionPenalty}.");
        if (g.NoRepeatNgramSize < 0) throw new BigBirdInputException($"no_repeat_ngram_size must be non-negative, got {g.NoRepeatNgramSize}.");
        if (g.NumBeams < 1) throw new BigBirdInputException($"num_beams must be at least 1, got {g.NumBeams}.");
        if (g.NumReturnSequences < 1) throw new BigBirdInputException($"num_return_sequences must be at least 1, got {g.NumReturnSequences}.");
        if (!float.IsFinite(g.LengthPenalty)) throw new BigBirdInputException($"length_penalty must be a finite number, got {g.LengthPenalty}.");
        if (g.NumBeams > 1 && g.DoSample)
            throw new BigBirdInputException(
                $"beam sampling (num_beams {g.NumBeams} with do_sample) is not supported; use num_beams 1 to sample, or do_sample false for beam search.");
        if (g.NumBeams == 1 && !g.DoSample && g.NumReturnSequences > 1)
            throw new BigBirdInputException(
                $"num_return_sequences has to be 1, but is {g.NumReturnSequences} when doing greedy search (as HF); use num_beams or do_sample.");
        if (g.NumBeams > 1 && g.NumReturnSequences > g.NumBeams)
            throw new BigBirdInputException(
                $"num_return_sequences ({g.NumReturnSequences}) has to be smaller or equal to num_beams ({g.NumBeams}), as HF requires.");
        void CheckToken(int? id, string name)
        {
            if (id is int v && (uint)v >= (uint)vocabSize)
                throw new BigBirdInputException($"{name} {v} is outside the vocabulary [0, {vocabSize}).");
        }
        CheckToken(g.EosTokenId, "eos_token_id");
        CheckToken(g.PadTokenId, "pad_token_id");
        CheckToken(g.ForcedBosTokenId, "forced_bos_token_id");
        CheckToken(g.ForcedEosTokenId, "forced_eos_token_id");
        if (batch <= 0 || startLength <= 0)
            throw new BigBirdInputException($"generation needs at least one row of at least one token, got batch {batch} and length {startLength}.");
        long maxLength = g.MaxNewTokens is int n ? (long)startLength + n : g.MaxLength;
        if (g.MinLength > maxLength)
            throw new BigBirdInputException(
                $"unfeasible length constraints: min_length ({g.MinLength}) is larger than the maximum length ({maxLength}), as HF reports.");
        maxLength = Math.Max(maxLength, startLength);
        if (maxLength > maxPositions)
            throw new BigBirdInputException(
                g.MaxNewTokens is int m
                    ? $"{startLength} start tokens + {m} new tokens exceed {positionsName} {maxPositions}; ask for fewer tokens or shorten the input."
                    : $"max_length {maxLength} exceeds {positionsName} {maxPositions}; ask for a shorter max_length or set max_new_tokens.");
        int? pad = g.PadTokenId ?? configPadTokenId ?? g.EosTokenId;
        if (pad is null && g.EosTokenId is not null)
            throw new BigBirdInputException("eos_token_id is set but there is no pad_token_id (nor in the config): finished rows need one.");
        var plan = new GenerationPlan
        {
            Settings = g, Batch = batch, StartLength = startLength, MaxLength = (int)maxLength, EosTokenId = g.EosTokenId,
            PadTokenId = pad ?? 0, VocabSize = vocabSize,
        };
        CheckToken(plan.PadTokenId, "pad_token_id (from the config)");
        _ = Modeling.TensorSize.ForInput("sequences", "[batch × beams, max_length]", "generate for fewer rows at a time.", plan.Rows, plan.MaxLength);
        return plan;
    }
}
