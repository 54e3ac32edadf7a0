using System.Text.Json;
using BigBirdSharp.IO;
using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.EncoderDecoder;
using BigBirdSharp.RandomAttention;
using BigBirdSharp.Tests.Parity;

namespace BigBirdSharp.Tests.EncoderDecoder;

/// <summary>One case of fixtures/encoder_decoder/cases (written by fixtures/encoder_decoder/generate_encoder_decoder.py
/// from transformers 4.27.1).</summary>
internal sealed class EncoderDecoderFixture
{
    public static string Root => Path.Combine(RepoPaths.Fixtures, "encoder_decoder");
    public static string ModelDir(string model) => Path.Combine(Root, "models", model);

    public static IEnumerable<string> Names(Func<EncoderDecoderFixture, bool> where) =>
        Directory.GetDirectories(Path.Combine(Root, "cases")).Select(Path.GetFileName).Order(StringComparer.Ordinal)
            .Select(n => Load(n!)).Where(where).Select(c => c.Name);

    public required string Name { get; init; }
    public required string Model { get; init; }
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
    public int NumBeams => Generate?.GetProperty("num_beams").GetInt32() ?? 0;

    public static EncoderDecoderFixture Load(string name)
    {
        string dir = Path.Combine(Root, "cases", name);
        using var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "case.json")));
        using var inputs = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "inputs.json")));
        var m = meta.RootElement;
        var i = inputs.RootElement;
        var ids = Rows(i, "input_ids")!;
        var dec = Rows(i, "decoder_input_ids");
        var labels = Rows(i, "labels");
        return new EncoderDecoderFixture
        {
            Name = name,
            Model = m.GetProperty("model").GetString()!,
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

    public EncoderDecoderInputs Inputs() => new(Batch, Seq)
    {
        InputIds = InputIds, AttentionMask = AttentionMask, DecoderInputIds = DecoderInputIds, DecoderSequenceLength = DecoderSeq,
        DecoderAttentionMask = DecoderAttentionMask, Labels = Labels,
    };

    /// <summary>The encoder's inputs only, as generation takes them.</summary>
    public EncoderDecoderInputs EncoderInputs() => new(Batch, Seq) { InputIds = InputIds, AttentionMask = AttentionMask };

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

    public int[] ExpectedSequences(string name, out int[] shape)
    {
        var (values, s) = HeadFixtureCase.ReadInt64(ExpectedPath, name);
        shape = s;
        return values.Select(v => (int)v).ToArray();
    }
}
