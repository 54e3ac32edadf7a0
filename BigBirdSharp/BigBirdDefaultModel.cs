namespace BigBirdSharp;

/// <summary>
/// Where the embedded default model lies: a small BigBird trained on the King James Bible (see
/// fixtures/default_model/MANIFEST.md), installed next to the application by the BigBirdSharp package and the
/// <c>bigbird</c> tool under <c>models/default</c> (one encoder with three heads: <c>BigBirdForMaskedLM</c>,
/// <c>BigBirdForSequenceClassification</c>, <c>BigBirdForQuestionAnswering</c>) and <c>models/default-causal</c>
/// (a <c>BigBirdForCausalLM</c>). Each is a Hugging Face checkpoint folder with its tokenizer, for any
/// <c>FromPretrained</c>: <c>BigBirdForMaskedLM.FromPretrained(BigBirdDefaultModel.Directory)</c>.
/// </summary>
public static class BigBirdDefaultModel
{
    /// <summary>The folder of the default encoder and its three heads: <c>models/default</c> under <see cref="AppContext.BaseDirectory"/>.</summary>
    /// <exception cref="DefaultModelNotFoundException">The folder or its config.json is missing; the message names the path.</exception>
    public static string Directory => Locate(AppContext.BaseDirectory, "default");

    /// <summary>The folder of the default causal LM: <c>models/default-causal</c> under <see cref="AppContext.BaseDirectory"/>.</summary>
    /// <exception cref="DefaultModelNotFoundException">The folder or its config.json is missing; the message names the path.</exception>
    public static string CausalDirectory => Locate(AppContext.BaseDirectory, "default-causal");

    /// <summary><c>models/<paramref name="name"/></c> under <paramref name="baseDirectory"/>, once it holds a config.json.</summary>
    internal static string Locate(string baseDirectory, string name)
    {
        string directory = Path.Combine(baseDirectory, "models", name);
        if (!File.Exists(Path.Combine(directory, "config.json")))
            throw new DefaultModelNotFoundException(directory,
                $"{directory}: the default model is not there (no config.json). It is copied next to the application by the " +
                "BigBirdSharp package and the bigbird tool; in a project that does not copy it, pass a Hugging Face checkpoint folder instead.");
        return directory;
    }
}
