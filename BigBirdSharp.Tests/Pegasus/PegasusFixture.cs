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
    /// <summary>labels given as floats (sequence classification: regression or multi-label), flattened.</summary>
    public float[]? FloatLabels { get; init; }
    public int[]? StartPositions { get; init; }
    public int[]? EndPositions { get; init; }
    /// <summary>The causal LM's encoder_hidden_states, flattened, and their length per row.</summary>
    public float[]? EncoderHiddenStates { get; init; }
    public int EncoderSeq { get; init; }
    public int[]? EncoderAttentionMask { get; init; }
    /// <summary>case.json's past_split: the causal LM runs this many tokens, then the rest against the cache.</summary>
    public int? PastSplit { get; init; }

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
        // labels: [batch, decoder_seq] token ids, [batch] class ids, or floats ([batch] or [batch, num_labels])
        bool hasLabels = i.TryGetProperty("labels", out var labelsElement);
        bool floatLabels = hasLabels && Numbers(labelsElement).Any(n => n.GetRawText().Contains('.') || n.GetRawText().Contains('e'));
        int[][]? labels = hasLabels && !floatLabels && labelsElement[0].ValueKind == JsonValueKind.Array ? Rows(i, "labels") : null;
        bool hasEncoder = i.TryGetProperty("encoder_hidden_states", out var encoderElement);
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
            Labels = hasLabels && !floatLabels ? Numbers(labelsElement).Select(n => n.GetInt32()).ToArray() : null,
            FloatLabels = floatLabels ? Numbers(labelsElement).Select(n => (float)n.GetDouble()).ToArray() : null,
            StartPositions = i.TryGetProperty("start_positions", out var sp) ? Numbers(sp).Select(n => n.GetInt32()).ToArray() : null,
            EndPositions = i.TryGetProperty("end_positions", out var ep) ? Numbers(ep).Select(n => n.GetInt32()).ToArray() : null,
            // (float)GetDouble(): the decimal text to double to float, as torch.tensor(list, dtype=float32) reads it
            EncoderHiddenStates = hasEncoder ? Numbers(encoderElement).Select(n => (float)n.GetDouble()).ToArray() : null,
            EncoderSeq = hasEncoder ? encoderElement[0].GetArrayLength() : 0,
            EncoderAttentionMask = Rows(i, "encoder_attention_mask")?.SelectMany(r => r).ToArray(),
            PastSplit = m.TryGetProperty("past_split", out var split) ? split.GetInt32() : null,
        };
    }

    private static IEnumerable<JsonElement> Numbers(JsonElement e) =>
        e.ValueKind == JsonValueKind.Array ? e.EnumerateArray().SelectMany(Numbers) : [e];

    private static int[][]? Rows(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) ? v.EnumerateArray().Select(r => r.EnumerateArray().Select(x => x.GetInt32()).ToArray()).ToArray() : null;

    public BigBirdPegasusInputs Inputs(BigBirdPegasusKeyValueCache? cache = null) => new(Batch, Seq)
    {
        InputIds = InputIds, AttentionMask = AttentionMask, DecoderInputIds = DecoderInputIds, DecoderSequenceLength = DecoderSeq,
        DecoderAttentionMask = DecoderAttentionMask, Labels = Labels, FloatLabels = FloatLabels, StartPositions = StartPositions,
        EndPositions = EndPositions, PastKeyValues = cache,
    };

    /// <summary>The causal LM's inputs: tokens [from, to) of every row, the attention mask over [0, to), and the case's
    /// encoder states and labels (labels only for the whole sequence).</summary>
    public BigBirdPegasusCausalLMInputs CausalLMInputs(int from, int to, BigBirdPegasusKeyValueCache? cache = null)
    {
        int n = to - from;
        return new BigBirdPegasusCausalLMInputs(Batch, n)
        {
            InputIds = Columns(InputIds, from, to),
            AttentionMask = AttentionMask is null ? null : Columns(AttentionMask, 0, to),
            EncoderHiddenStates = EncoderHiddenStates, EncoderSequenceLength = EncoderSeq, EncoderAttentionMask = EncoderAttentionMask,
            Labels = from == 0 && to == Seq ? Labels : null,
            PastKeyValues = cache,
        };
    }

    private int[] Columns(int[] rows, int from, int to)
    {
        var result = new int[Batch * (to - from)];
        for (int b = 0; b < Batch; b++) rows.AsSpan(b * Seq + from, to - from).CopyTo(result.AsSpan(b * (to - from)));
        return result;
    }

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
