using System.Text.Json;

namespace BigBirdSharp.Tests.RandomAttention;

/// <summary>
/// Loads <c>fixtures/random_plans/random_plans.json</c>, produced by <c>fixtures/random_plans/generate.py</c>
/// from transformers 4.27.1 and numpy 1.24. The repository root is the first folder at or above
/// <see cref="AppContext.BaseDirectory"/> that contains <c>BigBirdSharp.sln</c>.
/// </summary>
internal static class RandomPlanData
{
    private static readonly Lazy<JsonElement> Root = new(Load);

    public static JsonElement Data => Root.Value;

    public static string FixturePath
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "BigBirdSharp.sln")))
            {
                dir = dir.Parent;
            }

            if (dir is null)
            {
                throw new InvalidOperationException(
                    $"No folder containing BigBirdSharp.sln at or above {AppContext.BaseDirectory}.");
            }

            return Path.Combine(dir.FullName, "fixtures", "random_plans", "random_plans.json");
        }
    }

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
