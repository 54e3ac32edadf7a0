using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Pipelines;

/// <summary>One prompt's continuation.</summary>
/// <param name="Prompt">The prompt text.</param>
/// <param name="PromptIds">The ids the model was given: <c>bos_token_id</c> (when the config has one) and the prompt's pieces, no [CLS]/[SEP].</param>
/// <param name="GeneratedIds">The new ids (an EOS that ended generation included).</param>
/// <param name="GeneratedText">The new ids decoded without special tokens.</param>
/// <param name="StoppedAtEos">True when generation ended at <c>eos_token_id</c> rather than at the token limit.</param>
/// <param name="PromptTruncatedFrom">The prompt's length in tokens before its start was cut to fit, or null.</param>
public sealed record GenerationResult(string Prompt, int[] PromptIds, int[] GeneratedIds, string GeneratedText, bool StoppedAtEos, int? PromptTruncatedFrom);

/// <summary>HF's <c>text-generation</c> on a <see cref="BigBirdForCausalLM"/>: the prompt is <c>[bos] + pieces</c>,
/// generation stops at config <c>eos_token_id</c> or after <see cref="GenerationConfig.MaxNewTokens"/> (else what
/// <see cref="GenerationConfig.MaxLength"/> leaves after the prompt; cut so the total fits <c>max_position_embeddings</c>).
/// With beams, the result is the best one. Immutable and thread-safe.</summary>
public sealed class TextGenerationPipeline(BigBirdForCausalLM model, BigBirdTokenizer tokenizer)
{
    /// <summary>Continues <paramref name="prompt"/>. <see cref="GenerationConfig.EosTokenId"/>, when null, is the config's.</summary>
    /// <exception cref="BigBirdInputException">An empty prompt, or one too long under <see cref="OverlongInput.Reject"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (checked between generation steps and between layers).</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public GenerationResult Run(string prompt, GenerationConfig generation, OverlongInput overlong = OverlongInput.Truncate,
                                BigBirdForwardOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(generation);
        if (string.IsNullOrWhiteSpace(prompt)) throw new BigBirdInputException("the prompt is empty; give the text to continue.");
        var config = model.Config;
        var ids = new List<int>();
        if (config.BosTokenId is int bos) ids.Add(bos);
        ids.AddRange(tokenizer.Encode(prompt, null, new TokenizerEncodeOptions { AddSpecialTokens = false }).InputIds);
        int max = config.MaxPositionEmbeddings;
        int? truncatedFrom = null;
        // keep room for at least one new token; a prompt that long loses its start (the end is what gets continued)
        if (ids.Count >= max)
        {
            if (overlong == OverlongInput.Reject)
                throw new BigBirdInputException(
                    $"the prompt is {ids.Count} tokens; with the model's max_position_embeddings ({max}) no token can follow it. " +
                    "Shorten it, or allow truncation (drop --no-truncate).");
            truncatedFrom = ids.Count;
            int bosCount = config.BosTokenId is null ? 0 : 1; // [bos] stays, then as many of the last pieces as fit with one new token
            ids = [.. ids.Take(bosCount), .. ids.TakeLast(max - 1 - bosCount)];
        }
        var settings = generation with
        {
            // max_new_tokens, or what max_length leaves after the prompt
            MaxNewTokens = Math.Min(generation.MaxNewTokens ?? Math.Max(0, generation.MaxLength - ids.Count), max - ids.Count),
            EosTokenId = generation.EosTokenId ?? config.EosTokenId,
        };
        int[] promptIds = [.. ids];
        var sequences = model.Generate(new BigBirdInputs(1, promptIds.Length) { InputIds = promptIds }, settings, options, cancellationToken);
        // the first row: the best beam when num_return_sequences > 1
        var sequence = sequences.AsSpan(0, sequences.Length / settings.NumReturnSequences);
        var generated = sequence[promptIds.Length..].ToArray();
        // a beam shorter than the longest is padded after its EOS
        if (settings.EosTokenId is int end && Array.IndexOf(generated, end) is int at and >= 0) generated = generated[..(at + 1)];
        bool eos = settings.EosTokenId is int e && generated.Length > 0 && generated[^1] == e;
        return new GenerationResult(prompt, promptIds, generated, tokenizer.Decode(generated, skipSpecialTokens: true), eos, truncatedFrom);
    }
}
