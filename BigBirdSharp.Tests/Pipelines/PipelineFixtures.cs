using System.Text.Json;
using BigBirdSharp.Configuration;
using BigBirdSharp.IO;
using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Tests.Pipelines;

/// <summary>fixtures/pipelines: two tiny checkpoints and the outputs of HF's pipelines on them (generate_pipelines.py),
/// with the default model's vocabulary.</summary>
internal static class PipelineFixtures
{
    public static string Root => Path.Combine(RepoPaths.Fixtures, "pipelines");
    public static string Model(string name) => Path.Combine(Root, "models", name);

    private static readonly Lazy<BigBirdTokenizer> tokenizer =
        new(() => BigBirdTokenizer.FromPretrained(Path.Combine(RepoPaths.Fixtures, "default_model", "model")));
    public static BigBirdTokenizer Tokenizer => tokenizer.Value;

    private static readonly Dictionary<string, JsonElement> cases = [];

    /// <summary>The <c>cases</c> array of cases/<paramref name="name"/>.json.</summary>
    public static JsonElement Cases(string name)
    {
        lock (cases)
        {
            if (!cases.TryGetValue(name, out var c))
            {
                using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Root, "cases", name + ".json")));
                cases[name] = c = doc.RootElement.GetProperty("cases").Clone();
            }
            return c;
        }
    }

    public static BigBirdForwardOptions Options(JsonElement c) =>
        new() { AttentionType = BigBirdConfig.ParseAttentionType(c.GetProperty("attention_type").GetString()!) };

    public static float[] Floats(JsonElement e) =>
        e.ValueKind == JsonValueKind.Array
            ? [.. e.EnumerateArray().SelectMany(x => x.ValueKind == JsonValueKind.Array ? Floats(x) : [x.GetSingle()])]
            : [e.GetSingle()];

    public static int[] Ints(JsonElement e) =>
        [.. e.EnumerateArray().SelectMany(x => x.ValueKind == JsonValueKind.Array ? Ints(x) : [x.GetInt32()])];

    /// <summary>A head over the checkpoint of <paramref name="name"/> with its config changed by <paramref name="edit"/>
    /// (the reader is disposed with the returned handle).</summary>
    public static (BigBirdPreTrainedModel Model, IDisposable Reader) LoadEdited(string name, string architecture, Func<BigBirdConfig, BigBirdConfig> edit)
    {
        var config = edit(BigBirdConfig.FromFile(Path.Combine(Model(name), "config.json")));
        var reader = CheckpointLoader.Open(Model(name));
        return (BigBirdPreTrainedModel.FromReader(config, reader, architecture), reader);
    }

    public static CancellationToken Cancelled()
    {
        var source = new CancellationTokenSource();
        source.Cancel();
        return source.Token;
    }
}
