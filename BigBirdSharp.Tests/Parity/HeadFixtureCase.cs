using System.Buffers.Binary;
using System.Text.Json;
using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.RandomAttention;

namespace BigBirdSharp.Tests.Parity;

/// <summary>One golden case from fixtures/heads/cases: a task head (or HF greedy generate) and PyTorch's outputs.</summary>
internal sealed record HeadFixtureCase(
    string Name, string ModelDir, string Architecture, AttentionType AttentionType, RandomAttentionSemantics Semantics,
    bool OutputHiddenStates, bool OutputAttentions, bool ExpectFallback, GenerationConfig? Generation,
    string InputsPath, string ExpectedPath)
{
    public static string CasesDir => Path.Combine(RepoPaths.Fixtures, "heads", "cases");
    public static string ModelsDir => Path.Combine(RepoPaths.Fixtures, "heads", "models");

    public static IEnumerable<string> Names() =>
        Directory.Exists(CasesDir)
            ? Directory.GetDirectories(CasesDir).Where(d => File.Exists(Path.Combine(d, "case.json")))
                       .Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)
            : [];

    public static HeadFixtureCase Load(string name)
    {
        string dir = Path.Combine(CasesDir, name);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "case.json")));
        var root = doc.RootElement;
        GenerationConfig? generation = null;
        if (root.TryGetProperty("generate", out var g))
        {
            generation = new GenerationConfig
            {
                MaxNewTokens = g.GetProperty("max_new_tokens").GetInt32(),
                EosTokenId = g.TryGetProperty("eos_token_id", out var eos) && eos.ValueKind == JsonValueKind.Number ? eos.GetInt32() : null,
                PadTokenId = g.TryGetProperty("pad_token_id", out var pad) && pad.ValueKind == JsonValueKind.Number ? pad.GetInt32() : null,
            };
        }
        return new HeadFixtureCase(
            name,
            Path.Combine(ModelsDir, root.GetProperty("model").GetString()!),
            root.GetProperty("architecture").GetString()!,
            BigBirdConfig.ParseAttentionType(root.GetProperty("attention_type").GetString()!),
            root.GetProperty("random_attention").GetString() == "seeded" ? RandomAttentionSemantics.Seeded : RandomAttentionSemantics.Deterministic,
            Bool(root, "output_hidden_states"), Bool(root, "output_attentions"), Bool(root, "expect_fallback"), generation,
            Path.Combine(dir, "inputs.json"), Path.Combine(dir, "expected.safetensors"));
    }

    public BigBirdInputs Inputs() => BigBirdSharp.Cli.RunInputs.Read(InputsPath);

    /// <summary>The attention type is left to the model (config, forcing, fallback), which the test then checks.</summary>
    public BigBirdForwardOptions Options() => new()
    {
        RandomAttention = Semantics,
        OutputHiddenStates = OutputHiddenStates,
        OutputAttentions = OutputAttentions,
    };

    private static bool Bool(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;

    /// <summary>Reads an I64 tensor of a safetensors file (the library's readers serve floats only).</summary>
    public static (long[] Values, int[] Shape) ReadInt64(string path, string name)
    {
        var bytes = File.ReadAllBytes(path);
        int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        using var header = JsonDocument.Parse(bytes.AsMemory(8, headerLength));
        var info = header.RootElement.GetProperty(name);
        Assert.Equal("I64", info.GetProperty("dtype").GetString());
        var shape = info.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var offsets = info.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        int start = 8 + headerLength + (int)offsets[0];
        var values = new long[(offsets[1] - offsets[0]) / 8];
        for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(start + 8 * i));
        return (values, shape);
    }
}
