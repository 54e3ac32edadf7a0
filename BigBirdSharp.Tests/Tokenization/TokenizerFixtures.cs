using System.Collections.Concurrent;
using System.Text.Json;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Tests.Tokenization;

/// <summary>Loads fixtures/tokenizer: model folders and the HF oracle's outputs (generate_tokenizer.py).</summary>
internal static class TokenizerFixtures
{
    public static string Root => Path.Combine(RepoPaths.Fixtures, "tokenizer");
    public static string ModelDir(string name) => Path.Combine(Root, "models", name);

    public static readonly string[] ModelNames =
        ["bigbird_gpt2", "test_sentencepiece", "test_sentencepiece_added", "test_sentencepiece_bpe", "trained_bpe_bf", "trained_unigram_bf",
         "trained_bpe_raw", "trained_unigram_raw"];

    /// <summary>Fixture folders that borrow another folder's spiece.model rather than committing it twice.</summary>
    private static readonly Dictionary<string, string> sharedSpiece = new() { ["test_sentencepiece_added"] = "test_sentencepiece" };

    private static readonly string tempRoot = Path.Combine(Path.GetTempPath(), $"bbtok-fixtures-{Environment.ProcessId}");

    static TokenizerFixtures() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        try
        {
            if (Directory.Exists(tempRoot)) Directory.Delete(tempRoot, true);
        }
        catch (IOException)
        {
        }
    };

    /// <summary>A folder BigBirdTokenizer.FromPretrained can load for <paramref name="name"/>: the fixture folder itself, or a
    /// temporary copy with the shared spiece.model added.</summary>
    public static string LoadableDir(string name)
    {
        if (!sharedSpiece.TryGetValue(name, out var source)) return ModelDir(name);
        string dir = Path.Combine(tempRoot, name);
        lock (sharedSpiece)
        {
            if (!File.Exists(Path.Combine(dir, "spiece.model")))
            {
                Directory.CreateDirectory(dir);
                foreach (var f in Directory.GetFiles(ModelDir(name))) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)), true);
                File.Copy(Path.Combine(ModelDir(source), "spiece.model"), Path.Combine(dir, "spiece.model"), true);
            }
        }
        return dir;
    }

    public static IEnumerable<object[]> Models => ModelNames.Select(n => new object[] { n });

    private static readonly ConcurrentDictionary<string, BigBirdTokenizer> tokenizers = new();
    private static readonly ConcurrentDictionary<string, JsonDocument> cases = new();

    public static BigBirdTokenizer Tokenizer(string name) => tokenizers.GetOrAdd(name, n => BigBirdTokenizer.FromPretrained(LoadableDir(n)));

    public static JsonElement Cases(string name) =>
        cases.GetOrAdd(name, n => JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Root, "cases", n + ".json")))).RootElement;

    public static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();
    public static int[][] IntRows(JsonElement e) => e.EnumerateArray().Select(Ints).ToArray();
    public static string? Str(JsonElement e) => e.ValueKind == JsonValueKind.Null ? null : e.GetString();

    public static string Show(IEnumerable<int> xs) => "[" + string.Join(",", xs) + "]";

    /// <summary>Asserts no failures, listing the first few.</summary>
    public static void AssertNone(List<string> failures, int total)
    {
        Assert.True(failures.Count == 0,
            $"{failures.Count} of {total} differ:\n" + string.Join("\n", failures.Take(8)));
    }
}
