using System.Text.Json;

namespace BigBirdSharp.Tests.RandomAttention;

/// <summary>
/// Loads <c>fixtures/random_plans/random_plans.json</c>, produced by <c>fixtures/random_plans/generate.py</c>
/// from transformers 4.27.1 and numpy 1.24; located through <see cref="RepoPaths"/>.
/// </summary>
internal static class RandomPlanData
{
    private static readonly Lazy<JsonElement> Root = new(Load);

    public static JsonElement Data => Root.Value;

    public static string FixturePath => Path.Combine(RepoPaths.Fixtures, "random_plans", "random_plans.json");

    public static JsonElement Section(string name) => Data.GetProperty(name);

    public static int[] Ints(JsonElement array)
    {
        var result = new int[array.GetArrayLength()];
        int k = 0;
        foreach (JsonElement item in array.EnumerateArray())
        {
            result[k++] = item.GetInt32();
        }

        return result;
    }

    private static JsonElement Load()
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(FixturePath));
        return doc.RootElement.Clone();
    }
}
