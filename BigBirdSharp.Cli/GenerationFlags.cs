using BigBirdSharp.Modeling.Heads;

namespace BigBirdSharp.Cli;

/// <summary>
/// The decoding flags of <c>bigbird run --generate N</c>, on causal LMs and encoder-decoders alike: the checkpoint's own
/// settings first (<see cref="GenerationConfig.FromPretrained"/>: generation_config.json, else config.json, as HF's
/// <c>generate</c> reads them), then every flag that was given on top, and N as max_new_tokens.
/// </summary>
internal static class GenerationFlags
{
    /// <summary>The flags that only mean something with <c>--generate</c>.</summary>
    public static readonly string[] Names =
    [
        "--eos-token-id", "--do-sample", "--temperature", "--top-k", "--top-p", "--seed", "--num-beams", "--length-penalty",
        "--no-repeat-ngram-size", "--min-length", "--early-stopping", "--num-return-sequences", "--repetition-penalty", "--min-new-tokens",
        "--forced-bos-token-id", "--forced-eos-token-id", "--no-eos",
    ];

    /// <summary>Refuses a decoding flag given without <c>--generate</c>.</summary>
    /// <exception cref="BigBirdCli.UsageException">One was given.</exception>
    public static void RequireGenerate(BigBirdCli.Options o)
    {
        var given = Names.Where(o.Given).ToArray();
        if (given.Length > 0) throw new BigBirdCli.UsageException($"{string.Join(", ", given)} go{(given.Length == 1 ? "es" : "")} with --generate N");
    }

    /// <summary>The settings of the checkpoint in <paramref name="model"/>, with the given flags on top and
    /// max_new_tokens <paramref name="maxNewTokens"/> (null: the checkpoint's max_length or max_new_tokens).</summary>
    /// <exception cref="BigBirdCli.UsageException">A flag out of its range.</exception>
    /// <exception cref="BigBirdSharp.Configuration.BigBirdConfigException">The folder's generation settings are invalid.</exception>
    public static GenerationConfig Read(BigBirdCli.Options o, string model, int? maxNewTokens)
    {
        var g = GenerationConfig.FromPretrained(model);
        if (maxNewTokens is not null) g = g with { MaxNewTokens = maxNewTokens };
        if (o.Given("--eos-token-id") && o.Flag("--no-eos")) throw new BigBirdCli.UsageException("--eos-token-id and --no-eos contradict each other; give one");
        if (o.Given("--eos-token-id")) g = g with { EosTokenId = o.Value<int?>("--eos-token-id") };
        if (o.Flag("--no-eos")) g = g with { EosTokenId = null };
        if (o.Given("--forced-bos-token-id")) g = g with { ForcedBosTokenId = o.Value<int?>("--forced-bos-token-id") };
        if (o.Given("--forced-eos-token-id")) g = g with { ForcedEosTokenId = o.Value<int?>("--forced-eos-token-id") };
        if (o.Given("--min-new-tokens")) g = g with { MinNewTokens = NonNegative(o, "--min-new-tokens") };
        if (o.Given("--do-sample")) g = g with { DoSample = o.Flag("--do-sample") };
        if (o.Given("--temperature")) g = g with { Temperature = o.Float("--temperature") };
        if (o.Given("--top-k")) g = g with { TopK = o.Value<int>("--top-k") };
        if (o.Given("--top-p")) g = g with { TopP = o.Float("--top-p") };
        if (o.Given("--seed")) g = g with { Seed = o.Value<int>("--seed") };
        if (o.Given("--num-beams")) g = g with { NumBeams = Positive(o, "--num-beams") };
        if (o.Given("--num-return-sequences")) g = g with { NumReturnSequences = Positive(o, "--num-return-sequences") };
        if (o.Given("--length-penalty")) g = g with { LengthPenalty = Finite(o, "--length-penalty") };
        if (o.Given("--no-repeat-ngram-size")) g = g with { NoRepeatNgramSize = NonNegative(o, "--no-repeat-ngram-size") };
        if (o.Given("--min-length")) g = g with { MinLength = NonNegative(o, "--min-length") };
        if (o.Given("--early-stopping")) g = g with { EarlyStopping = o.Flag("--early-stopping") };
        if (o.Given("--repetition-penalty"))
        {
            float penalty = Finite(o, "--repetition-penalty");
            if (!(penalty > 0)) throw new BigBirdCli.UsageException($"--repetition-penalty must be positive, not {penalty}");
            g = g with { RepetitionPenalty = penalty };
        }
        return g;
    }

    private static float Finite(BigBirdCli.Options o, string name)
    {
        float v = o.Value<float?>(name) ?? throw new BigBirdCli.UsageException($"{name} needs a value");
        return float.IsFinite(v) ? v : throw new BigBirdCli.UsageException($"{name} must be a number, not '{v}'");
    }

    private static int Positive(BigBirdCli.Options o, string name)
    {
        int v = o.Value<int?>(name) ?? throw new BigBirdCli.UsageException($"{name} needs a value");
        return v >= 1 ? v : throw new BigBirdCli.UsageException($"{name} must be at least 1, not {v}");
    }

    private static int NonNegative(BigBirdCli.Options o, string name)
    {
        int v = o.Value<int?>(name) ?? throw new BigBirdCli.UsageException($"{name} needs a value");
        return v >= 0 ? v : throw new BigBirdCli.UsageException($"{name} must be non-negative, not {v}");
    }
}
