using System.Text.Json;
using BigBirdSharp.Cli;
using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling;
using BigBirdSharp.RandomAttention;

namespace BigBirdSharp.Tests.Parity;

/// <summary>One golden case from fixtures/cases: the model, the inputs, the options, and PyTorch's outputs.</summary>
internal sealed record FixtureCase(
    string Name, string ModelDir, string Architecture, AttentionType AttentionType, RandomAttentionSemantics Semantics,
    bool OutputHiddenStates, bool OutputAttentions, float[]? HeadMask, bool ExpectFallback, string InputsPath, string ExpectedPath)
{
    public static IEnumerable<string> Names() =>
        Directory.Exists(RepoPaths.Cases)
            ? Directory.GetDirectories(RepoPaths.Cases).Where(d => File.Exists(Path.Combine(d, "case.json")))
                       .Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)
            : [];

    public static FixtureCase Load(string name)
    {
        string dir = Path.Combine(RepoPaths.Cases, name);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "case.json")));
        var root = doc.RootElement;
        float[]? headMask = null;
        if (root.TryGetProperty("head_mask", out var hm) && hm.ValueKind == JsonValueKind.Array)
            headMask = Flatten(hm).ToArray();
        return new FixtureCase(
            name,
            Path.Combine(RepoPaths.Models, root.GetProperty("model").GetString()!),
            root.TryGetProperty("architecture", out var a) ? a.GetString()! : "BigBirdModel",
            BigBirdConfig.ParseAttentionType(root.GetProperty("attention_type").GetString()!),
            root.GetProperty("random_attention").GetString() == "seeded" ? RandomAttentionSemantics.Seeded : RandomAttentionSemantics.Deterministic,
            Bool(root, "output_hidden_states"), Bool(root, "output_attentions"), headMask, Bool(root, "expect_fallback"),
            Path.Combine(dir, "inputs.json"), Path.Combine(dir, "expected.safetensors"));
    }

    public BigBirdInputs Inputs()
    {
        var inputs = BigBirdCli.ReadInputs(InputsPath);
        return HeadMask is null ? inputs : new BigBirdInputs(inputs.BatchSize, inputs.SequenceLength)
        {
            InputIds = inputs.InputIds, AttentionMask = inputs.AttentionMask, TokenTypeIds = inputs.TokenTypeIds,
            PositionIds = inputs.PositionIds, HeadMask = HeadMask,
        };
    }

    public BigBirdForwardOptions Options() => new()
    {
        AttentionType = AttentionType,
        RandomAttention = Semantics,
        OutputHiddenStates = OutputHiddenStates,
        OutputAttentions = OutputAttentions,
    };

    private static bool Bool(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;

    private static IEnumerable<float> Flatten(JsonElement e)
    {
        if (e.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in e.EnumerateArray())
                foreach (var x in Flatten(item)) yield return x;
        }
        else yield return e.GetSingle();
    }
}
