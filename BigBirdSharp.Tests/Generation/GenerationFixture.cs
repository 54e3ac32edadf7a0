using System.Text.Json;
using BigBirdSharp.Generation;
using BigBirdSharp.IO;
using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Modeling.Pegasus;
using BigBirdSharp.RandomAttention;
using BigBirdSharp.Tests.Parity;

namespace BigBirdSharp.Tests.Generation;

/// <summary>One case of fixtures/generation/cases (written by fixtures/generation/generate_generation.py from transformers
/// 4.27.1's generate, every argument explicit).</summary>
internal sealed class GenerationFixture
{
    public static string Root => Path.Combine(RepoPaths.Fixtures, "generation");

    public static IEnumerable<string> Names() =>
        Directory.GetDirectories(Path.Combine(Root, "cases")).Select(d => Path.GetFileName(d)!).Order(StringComparer.Ordinal);

    public required string Name { get; init; }
    public required string Kind { get; init; }
    public required string Model { get; init; }
    public required RandomAttentionSemantics Semantics { get; init; }
    public required GenerationConfig Settings { get; init; }
    public required int Batch { get; init; }
    public required int Seq { get; init; }
    public required int[] InputIds { get; init; }
    public int[]? AttentionMask { get; init; }

    public string ModelPath => Kind is "pegasus" or "pegasus_clm"
        ? Path.Combine(RepoPaths.Fixtures, "pegasus", "models", Model)
        : Path.Combine(RepoPaths.Fixtures, "heads", "models", Model);

    public string ExpectedPath => Path.Combine(Root, "cases", Name, "expected.safetensors");

    public BigBirdForwardOptions Options => new() { RandomAttention = Semantics };

    public static GenerationFixture Load(string name)
    {
        string dir = Path.Combine(Root, "cases", name);
        using var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "case.json")));
        using var inputs = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "inputs.json")));
        var m = meta.RootElement;
        var g = m.GetProperty("generate");
        int? Int(string field) => g.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : null;
        float Float(string field) => g.GetProperty(field).GetSingle();
        var ids = Rows(inputs.RootElement, "input_ids")!;
        return new GenerationFixture
        {
            Name = name,
            Kind = m.GetProperty("kind").GetString()!,
            Model = m.GetProperty("model").GetString()!,
            Semantics = m.GetProperty("random_attention").GetString() == "seeded" ? RandomAttentionSemantics.Seeded : RandomAttentionSemantics.Deterministic,
            Settings = new GenerationConfig
            {
                MaxNewTokens = Int("max_new_tokens"),
                MaxLength = Int("max_length") ?? 20,
                MinLength = Int("min_length") ?? 0,
                MinNewTokens = Int("min_new_tokens") ?? 0,
                EosTokenId = Int("eos_token_id"),
                PadTokenId = Int("pad_token_id"),
                DecoderStartTokenId = Int("decoder_start_token_id"),
                ForcedBosTokenId = Int("forced_bos_token_id"),
                ForcedEosTokenId = Int("forced_eos_token_id"),
                DoSample = g.GetProperty("do_sample").GetBoolean(),
                NumBeams = Int("num_beams")!.Value,
                LengthPenalty = Float("length_penalty"),
                EarlyStopping = g.GetProperty("early_stopping").GetBoolean(),
                NumReturnSequences = Int("num_return_sequences")!.Value,
                RepetitionPenalty = Float("repetition_penalty"),
                NoRepeatNgramSize = Int("no_repeat_ngram_size")!.Value,
                UseCache = g.GetProperty("use_cache").GetBoolean(),
            },
            Batch = ids.Length,
            Seq = ids[0].Length,
            InputIds = ids.SelectMany(r => r).ToArray(),
            AttentionMask = Rows(inputs.RootElement, "attention_mask")?.SelectMany(r => r).ToArray(),
        };
    }

    private static int[][]? Rows(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) ? v.EnumerateArray().Select(r => r.EnumerateArray().Select(x => x.GetInt32()).ToArray()).ToArray() : null;

    /// <summary>HF's sequences, as ints, and their shape.</summary>
    public int[] ExpectedSequences(out int[] shape)
    {
        var (values, s) = HeadFixtureCase.ReadInt64(ExpectedPath, "sequences");
        shape = s;
        return values.Select(v => checked((int)v)).ToArray();
    }

    /// <summary>HF's sequences_scores, or null for greedy cases.</summary>
    public float[]? ExpectedScores()
    {
        using var reader = CheckpointLoader.Open(ExpectedPath);
        return reader.TryGetInfo("sequences_scores", out _) ? reader.ReadFloat32("sequences_scores").ToArray() : null;
    }

    /// <summary>Runs the case on a loaded model (a BigBirdPegasusForConditionalGeneration, a BigBirdPegasusForCausalLM or a
    /// BigBirdForCausalLM).</summary>
    public GenerationOutput Run(object model, GenerationConfig? settings = null, bool beamSearchWithOneBeam = false) => model switch
    {
        BigBirdPegasusForConditionalGeneration p => p.GenerateOutput(
            new BigBirdPegasusInputs(Batch, Seq) { InputIds = InputIds, AttentionMask = AttentionMask }, settings ?? Settings, Options,
            CancellationToken.None, beamSearchWithOneBeam),
        BigBirdPegasusForCausalLM l => l.GenerateOutput(
            new BigBirdPegasusCausalLMInputs(Batch, Seq) { InputIds = InputIds, AttentionMask = AttentionMask }, settings ?? Settings,
            CancellationToken.None, beamSearchWithOneBeam),
        BigBirdForCausalLM c => c.GenerateOutput(
            new BigBirdInputs(Batch, Seq) { InputIds = InputIds, AttentionMask = AttentionMask }, settings ?? Settings, Options,
            CancellationToken.None, beamSearchWithOneBeam),
        _ => throw new ArgumentException(model.GetType().Name),
    };

    public IDisposable LoadModel() => Kind switch
    {
        "pegasus" => BigBirdPegasusForConditionalGeneration.FromPretrained(ModelPath),
        "pegasus_clm" => BigBirdPegasusForCausalLM.FromPretrained(ModelPath),
        "causal" => BigBirdForCausalLM.FromPretrained(ModelPath),
        _ => throw new InvalidDataException($"{Name}: unknown kind '{Kind}' in case.json"),
    };
}
