using System.Text.Json;
using BigBirdSharp.IO;
using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Pegasus;
using BigBirdSharp.RandomAttention;
using BigBirdSharp.Tests.Parity;

namespace BigBirdSharp.Tests.Pegasus;

/// <summary>One case of fixtures/pegasus/cases (written by fixtures/pegasus/generate_pegasus.py from transformers 4.27.1).</summary>
internal sealed class PegasusFixture
{
    public static string Root => Path.Combine(RepoPaths.Fixtures, "pegasus");
    public static string ModelDir(string model) => Path.Combine(Root, "models", model);

    public static IEnumerable<string> Names(Func<PegasusFixture, bool> where) =>
        Directory.GetDirectories(Path.Combine(Root, "cases")).Select(Path.GetFileName).Order(StringComparer.Ordinal)
            .Select(n => Load(n!)).Where(where).Select(c => c.Name);

    public required string Name { get; init; }
    public required string Model { get; init; }
    public required string Architecture { get; init; }
    public required RandomAttentionSemantics Semantics { get; init; }
    public JsonElement? Generate { get; init; }
    public required int Batch { get; init; }
    public required int Seq { get; init; }
    public required int[] InputIds { get; init; }
    public int[]? AttentionMask { get; init; }
    public int[]? DecoderInputIds { get; init; }
    public int DecoderSeq { get; init; }
    public int[]? DecoderAttentionMask { get; init; }
    public int[]? Labels { get; init; }

    public string ExpectedPath => Path.Combine(Root, "cases", Name, "expected.safetensors");
    public string ModelPath => ModelDir(Model);

    public static PegasusFixture Load(string name)
    {
        string dir = Path.Combine(Root, "cases", name);
        using var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "case.json")));
        using var inputs = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "inputs.json")));
        var m = meta.RootElement;
        var i = inputs.RootElement;
        var ids = Rows(i, "input_ids")!;
        var dec = Rows(i, "decoder_input_ids");
        var labels = Rows(i, "labels");
        return new PegasusFixture
        {
            Name = name,
            Model = m.GetProperty("model").GetString()!,
            Architecture = m.GetProperty("architecture").GetString()!,
            Semantics = m.GetProperty("random_attention").GetString() == "seeded" ? RandomAttentionSemantics.Seeded : RandomAttentionSemantics.Deterministic,
            Generate = m.TryGetProperty("generate", out var g) ? g.Clone() : null,
            Batch = ids.Length,
            Seq = ids[0].Length,
            InputIds = ids.SelectMany(r => r).ToArray(),
            AttentionMask = Rows(i, "attention_mask")?.SelectMany(r => r).ToArray(),
            DecoderInputIds = dec?.SelectMany(r => r).ToArray(),
            DecoderSeq = dec?[0].Length ?? labels?[0].Length ?? 0,
            DecoderAttentionMask = Rows(i, "decoder_attention_mask")?.SelectMany(r => r).ToArray(),
            Labels = labels?.SelectMany(r => r).ToArray(),
        };
    }

    private static int[][]? Rows(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) ? v.EnumerateArray().Select(r => r.EnumerateArray().Select(x => x.GetInt32()).ToArray()).ToArray() : null;

    public BigBirdPegasusInputs Inputs(BigBirdPegasusKeyValueCache? cache = null) => new(Batch, Seq)
    {
        InputIds = InputIds, AttentionMask = AttentionMask, DecoderInputIds = DecoderInputIds, DecoderSequenceLength = DecoderSeq,
        DecoderAttentionMask = DecoderAttentionMask, Labels = Labels, PastKeyValues = cache,
    };

    public BigBirdForwardOptions Options => new() { RandomAttention = Semantics };

    /// <summary>The expected float tensor <paramref name="name"/>.</summary>
    public float[] Expected(string name)
    {
        using var reader = CheckpointLoader.Open(ExpectedPath);
        return reader.ReadFloat32(name).ToArray();
    }

    public bool Has(string name)
    {
        using var reader = CheckpointLoader.Open(ExpectedPath);
        return reader.TryGetInfo(name, out _);
    }

    public long[] ExpectedSequences(out int[] shape)
    {
        var (values, s) = HeadFixtureCase.ReadInt64(ExpectedPath, "sequences");
        shape = s;
        return values;
    }
}
