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
        ["bigbird_gpt2", "test_sentencepiece", "test_sentencepiece_bpe", "trained_bpe_bf", "trained_unigram_bf"];

    public static IEnumerable<object[]> Models => ModelNames.Select(n => new object[] { n });

    private static readonly ConcurrentDictionary<string, BigBirdTokenizer> tokenizers = new();
    private static readonly ConcurrentDictionary<string, JsonDocument> cases = new();

    public static BigBirdTokenizer Tokenizer(string name) => tokenizers.GetOrAdd(name, n => BigBirdTokenizer.FromFolder(ModelDir(n)));

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
