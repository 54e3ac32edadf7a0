using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BigBirdSharp.Cli;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.RandomAttention;
using BigBirdSharp.Tests.Generation;
using BigBirdSharp.Tests.Parity;

namespace BigBirdSharp.Tests.Cli;

/// <summary>
/// <c>bigbird run --generate N</c> with the decoding flags, on the transformers 4.27.1 cases of fixtures/generation (beam
/// search and HF's processors on BigBirdPegasus and BigBirdForCausalLM): the sequences must be HF's, token for token; and
/// the checkpoint's own settings are the defaults, as HF's generate takes them.
/// </summary>
public sealed class GenerateFlagsTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "bigbird-genflags-" + Guid.NewGuid().ToString("N"));

    public GenerateFlagsTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = BigBirdCli.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static string F(float x) => x.ToString("R", CultureInfo.InvariantCulture);

    public static TheoryData<string> Cases() => new(GenerationFixture.Names());

    [Theory]
    [MemberData(nameof(Cases))]
    public void Flags_give_pytorch_sequences(string name)
    {
        var c = GenerationFixture.Load(name);
        var g = c.Settings;
        // what the flags do not set comes from the checkpoint: it must be what the fixture used
        var folder = GenerationConfig.FromPretrained(c.ModelPath);
        Assert.Equal(folder.PadTokenId ?? 0, g.PadTokenId ?? 0);
        if (c.Kind == "pegasus") Assert.Equal(folder.DecoderStartTokenId, g.DecoderStartTokenId);
        int start = c.Kind == "pegasus" ? 1 : c.Seq;
        int newTokens = g.MaxNewTokens ?? g.MaxLength - start;
        string output = Path.Combine(_dir, "seq.safetensors");
        var args = new List<string>
        {
            "run", "--model", c.ModelPath, "--input", Path.Combine(GenerationFixture.Root, "cases", name, "inputs.json"), "--output", output,
            "--random-attention", c.Semantics == RandomAttentionSemantics.Seeded ? "seeded" : "deterministic",
            "--generate", newTokens.ToString(CultureInfo.InvariantCulture),
            "--num-beams", g.NumBeams.ToString(CultureInfo.InvariantCulture), "--length-penalty", F(g.LengthPenalty),
            "--early-stopping", g.EarlyStopping ? "true" : "false", "--min-length", g.MinLength.ToString(CultureInfo.InvariantCulture),
            "--min-new-tokens", g.MinNewTokens.ToString(CultureInfo.InvariantCulture),
            "--no-repeat-ngram-size", g.NoRepeatNgramSize.ToString(CultureInfo.InvariantCulture),
            "--repetition-penalty", F(g.RepetitionPenalty), "--num-return-sequences", g.NumReturnSequences.ToString(CultureInfo.InvariantCulture),
        };
        if (g.EosTokenId is int eos) args.AddRange(["--eos-token-id", eos.ToString(CultureInfo.InvariantCulture)]);
        else args.Add("--no-eos");
        if (g.ForcedBosTokenId is int fb) args.AddRange(["--forced-bos-token-id", fb.ToString(CultureInfo.InvariantCulture)]);
        if (g.ForcedEosTokenId is int fe) args.AddRange(["--forced-eos-token-id", fe.ToString(CultureInfo.InvariantCulture)]);
        var (code, _, stderr) = Run(args.ToArray());
        Assert.True(code == 0, stderr);
        var expected = c.ExpectedSequences(out var shape);
        var (actual, actualShape) = HeadFixtureCase.ReadInt64(output, "sequences");
        Assert.Equal(shape, actualShape);
        Assert.Equal(expected.Select(x => (long)x), actual);
    }

    [Fact]
    public void The_checkpoints_settings_are_the_defaults()
    {
        // peg_bs_beam3_early_min_ngram's settings written into the checkpoint's config.json, as the bigbird-pegasus-large
        // configs carry theirs: `--generate N` alone must then give PyTorch's sequences
        var c = GenerationFixture.Load("peg_bs_beam3_early_min_ngram");
        string model = Path.Combine(_dir, "model");
        Directory.CreateDirectory(model);
        foreach (var file in Directory.GetFiles(c.ModelPath)) File.Copy(file, Path.Combine(model, Path.GetFileName(file)));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(model, "config.json")))!.AsObject();
        var g = c.Settings;
        config["num_beams"] = g.NumBeams;
        config["length_penalty"] = g.LengthPenalty;
        config["early_stopping"] = g.EarlyStopping;
        config["min_length"] = g.MinLength;
        config["no_repeat_ngram_size"] = g.NoRepeatNgramSize;
        config["eos_token_id"] = g.EosTokenId;
        File.WriteAllText(Path.Combine(model, "config.json"), config.ToJsonString());
        string output = Path.Combine(_dir, "seq.safetensors");
        var (code, _, stderr) = Run("run", "--model", model, "--input", Path.Combine(GenerationFixture.Root, "cases", c.Name, "inputs.json"),
                                    "--output", output, "--random-attention", "seeded", "--generate", g.MaxNewTokens!.Value.ToString(CultureInfo.InvariantCulture));
        Assert.True(code == 0, stderr);
        Assert.Equal(c.ExpectedSequences(out _).Select(x => (long)x), HeadFixtureCase.ReadInt64(output, "sequences").Values);
        // and a flag overrides the checkpoint: one beam is a different search
        (code, _, stderr) = Run("run", "--model", model, "--input", Path.Combine(GenerationFixture.Root, "cases", c.Name, "inputs.json"),
                                "--output", output, "--random-attention", "seeded", "--generate", g.MaxNewTokens!.Value.ToString(CultureInfo.InvariantCulture),
                                "--num-beams", "1", "--no-repeat-ngram-size", "0", "--min-length", "0");
        Assert.True(code == 0, stderr);
        Assert.NotEqual(c.ExpectedSequences(out _).Select(x => (long)x), HeadFixtureCase.ReadInt64(output, "sequences").Values);
    }

    [Theory]
    [InlineData(new[] { "--num-beams", "0" }, "--num-beams must be at least 1, not 0")]
    [InlineData(new[] { "--num-return-sequences", "0" }, "--num-return-sequences must be at least 1, not 0")]
    [InlineData(new[] { "--min-length", "-1" }, "--min-length must be non-negative, not -1")]
    [InlineData(new[] { "--min-new-tokens", "-2" }, "--min-new-tokens must be non-negative, not -2")]
    [InlineData(new[] { "--no-repeat-ngram-size", "-1" }, "--no-repeat-ngram-size must be non-negative, not -1")]
    [InlineData(new[] { "--repetition-penalty", "0" }, "--repetition-penalty must be positive, not 0")]
    [InlineData(new[] { "--length-penalty", "NaN" }, "--length-penalty must be a number")]
    [InlineData(new[] { "--eos-token-id", "3", "--no-eos" }, "--eos-token-id and --no-eos contradict each other")]
    public void Bad_flags_are_usage_errors(string[] flags, string message)
    {
        var c = GenerationFixture.Load("peg_bs_greedy_minlen_b2");
        var (code, _, stderr) = Run(["run", "--model", c.ModelPath, "--input", Path.Combine(GenerationFixture.Root, "cases", c.Name, "inputs.json"),
                                     "--output", Path.Combine(_dir, "o.safetensors"), "--generate", "3", .. flags]);
        Assert.Equal(2, code);
        Assert.Contains(message, stderr);
    }

    [Theory]
    [InlineData("--num-beams", "3")]
    [InlineData("--no-eos", null)]
    [InlineData("--min-new-tokens", "2")]
    public void Decoding_flags_need_generate(string flag, string? value)
    {
        var c = GenerationFixture.Load("peg_bs_greedy_minlen_b2");
        var (code, _, stderr) = Run(["run", "--model", c.ModelPath, "--input", Path.Combine(GenerationFixture.Root, "cases", c.Name, "inputs.json"),
                                     "--output", Path.Combine(_dir, "o.safetensors"), flag, .. value is null ? Array.Empty<string>() : [value]]);
        Assert.Equal(2, code);
        Assert.Contains($"{flag} goes with --generate N", stderr);
    }

    [Fact]
    public void Settings_the_model_refuses_are_typed_errors()
    {
        // more return sequences than beams: HF's ValueError, ours a BigBirdInputException (exit 1)
        var c = GenerationFixture.Load("peg_bs_greedy_minlen_b2");
        var (code, _, stderr) = Run("run", "--model", c.ModelPath, "--input", Path.Combine(GenerationFixture.Root, "cases", c.Name, "inputs.json"),
                                    "--output", Path.Combine(_dir, "o.safetensors"), "--generate", "3", "--num-beams", "2", "--num-return-sequences", "3");
        Assert.Equal(1, code);
        Assert.Contains("num_return_sequences", stderr);
        Assert.False(File.Exists(Path.Combine(_dir, "o.safetensors")));
    }
}
