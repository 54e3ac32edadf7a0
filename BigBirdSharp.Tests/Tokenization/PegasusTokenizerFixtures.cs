using System.Collections.Concurrent;
using System.Text.Json;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Tests.Tokenization;

/// <summary>Loads fixtures/pegasus_tokenizer: folders (their JSON files plus the spiece.model their SPIECE file names,
/// assembled in a temporary folder as a hub download would be) and the HF oracle's outputs
/// (generate_pegasus_tokenizer.py).</summary>
internal static class PegasusTokenizerFixtures
{
    public static string Root => Path.Combine(RepoPaths.Fixtures, "pegasus_tokenizer");

    public static readonly string[] ModelNames =
        ["trained_pegasus", "trained_pegasus_bare", "trained_pegasus_custom", "trained_pegasus_bigbird_style", "test_sentencepiece",
         "test_sentencepiece_bpe", "bigbird_gpt2"];

    public static IEnumerable<object[]> PegasusModels => ModelNames.Select(n => new object[] { n });

    private static readonly string tempRoot = Path.Combine(Path.GetTempPath(), $"bbpegtok-fixtures-{Environment.ProcessId}");

    static PegasusTokenizerFixtures() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        try
        {
            if (Directory.Exists(tempRoot)) Directory.Delete(tempRoot, true);
        }
        catch (IOException)
        {
        }
    };

    /// <summary>The spiece.model a fixture folder uses.</summary>
    public static string SpiecePath(string name) =>
        Path.Combine(RepoPaths.Fixtures, File.ReadAllText(Path.Combine(Root, "models", name, "SPIECE")).Trim());

    /// <summary>A folder PegasusTokenizer.FromPretrained can load for <paramref name="name"/>.</summary>
    public static string LoadableDir(string name)
    {
        string dir = Path.Combine(tempRoot, name);
        lock (tempRoot)
        {
            if (!File.Exists(Path.Combine(dir, "spiece.model")))
            {
                Directory.CreateDirectory(dir);
                CopyInto(name, dir);
            }
        }
        return dir;
    }

    /// <summary>Copies the folder's JSON files and its spiece.model into <paramref name="dir"/>.</summary>
    public static void CopyInto(string name, string dir)
    {
        foreach (var f in Directory.GetFiles(Path.Combine(Root, "models", name), "*.json"))
            File.Copy(f, Path.Combine(dir, Path.GetFileName(f)), true);
        File.Copy(SpiecePath(name), Path.Combine(dir, "spiece.model"), true);
    }

    private static readonly ConcurrentDictionary<string, PegasusTokenizer> tokenizers = new();
    private static readonly ConcurrentDictionary<string, JsonDocument> cases = new();

    public static PegasusTokenizer PegasusTok(string name) => tokenizers.GetOrAdd(name, n => PegasusTokenizer.FromPretrained(LoadableDir(n)));

    public static JsonElement PegasusCases(string name) =>
        cases.GetOrAdd(name, n => JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Root, "cases", n + ".json")))).RootElement;
}
