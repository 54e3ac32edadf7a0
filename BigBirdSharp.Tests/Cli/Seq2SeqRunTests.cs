using BigBirdSharp.Cli;
using BigBirdSharp.Configuration;
using BigBirdSharp.IO;
using BigBirdSharp.Modeling;
using BigBirdSharp.RandomAttention;
using BigBirdSharp.Tests.Parity;
using BigBirdSharp.Tests.Pegasus;

namespace BigBirdSharp.Tests.Cli;

/// <summary><c>bigbird run</c> on BigBirdPegasus folders, against the transformers 4.27.1 fixtures of fixtures/pegasus.</summary>
public sealed class Seq2SeqRunTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "bigbird-s2s-" + Guid.NewGuid().ToString("N"));

    public Seq2SeqRunTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = BigBirdCli.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private string Inputs(string json)
    {
        string path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".json");
        File.WriteAllText(path, json);
        return path;
    }

    private static string Semantics(PegasusFixture c) => c.Semantics == RandomAttentionSemantics.Seeded ? "seeded" : "deterministic";

    public static TheoryData<string> ForwardCases() => new(PegasusFixture.Names(c => c.Generate is null));
    public static TheoryData<string> GenerateCases() => new(PegasusFixture.Names(c => c.Generate is not null));

    [Theory]
    [MemberData(nameof(ForwardCases))]
    public void Run_writes_hf_fields_equal_to_pytorch(string name)
    {
        var c = PegasusFixture.Load(name);
        string output = Path.Combine(_dir, "out.safetensors");
        var (code, stdout, stderr) = Run("run", "--model", c.ModelPath, "--input", Path.Combine(PegasusFixture.Root, "cases", name, "inputs.json"),
                                         "--output", output, "--random-attention", Semantics(c), "--architecture", c.Architecture);
        Assert.True(code == 0, stderr);
        Assert.Contains(c.Architecture, stdout);
        using var written = CheckpointLoader.Open(output);
        string[] fields = c.Architecture switch
        {
            "BigBirdPegasusModel" => ["last_hidden_state", "encoder_last_hidden_state"],
            "BigBirdPegasusForCausalLM" => ["logits", .. c.Has("loss") ? new[] { "loss" } : []],
            _ => ["logits", "encoder_last_hidden_state", .. c.Has("loss") ? new[] { "loss" } : []],
        };
        Assert.Equal(fields.Order(StringComparer.Ordinal), written.Names.Order(StringComparer.Ordinal));
        foreach (string field in fields)
            Tolerance.AssertAllClose(written.ReadFloat32(field).ToArray(), c.Expected(field), $"{name}: {field}");
    }

    [Theory]
    [MemberData(nameof(GenerateCases))]
    public void Run_generate_writes_hf_sequences(string name)
    {
        var c = PegasusFixture.Load(name);
        var g = c.Generate!.Value;
        string output = Path.Combine(_dir, "seq.safetensors");
        var args = new List<string>
        {
            "run", "--model", c.ModelPath, "--input", Path.Combine(PegasusFixture.Root, "cases", name, "inputs.json"), "--output", output,
            "--random-attention", Semantics(c), "--generate", g.GetProperty("max_new_tokens").GetInt32().ToString(),
        };
        if (g.GetProperty("eos_token_id").ValueKind == System.Text.Json.JsonValueKind.Number)
            args.AddRange(["--eos-token-id", g.GetProperty("eos_token_id").GetInt32().ToString()]);
        var (code, _, stderr) = Run(args.ToArray());
        Assert.True(code == 0, stderr);
        var expected = c.ExpectedSequences(out int[] shape);
        var (actual, actualShape) = HeadFixtureCase.ReadInt64(output, "sequences");
        Assert.Equal(shape, actualShape);
        Assert.Equal(expected, actual);
    }

    private static string CgBs => PegasusFixture.ModelDir("cg_bs");

    [Theory]
    [InlineData("""{"input_ids": [[5, 6, 7]], "labels": [3]}""", "labels must be [batch][decoder_seq] token ids")]
    [InlineData("""{"input_ids": [[5, 6, 7]], "labels": [[3.5, 4]]}""", "labels must be [batch][decoder_seq] token ids")]
    [InlineData("""{"input_ids": [[5, 6, 7]], "decoder_input_ids": [[2, 5]], "labels": [[3, 4, 5]]}""", "labels have 3 positions per row but decoder_input_ids have 2")]
    [InlineData("""{"input_ids": [[5, 6, 7]], "decoder_input_ids": [[2], [3]]}""", "decoder_input_ids must be [1][decoder_seq]")]
    [InlineData("""{"input_ids": [[5, 6, 7]], "decoder_input_ids": [[2, 4]], "decoder_attention_mask": [1, 1]}""", "decoder_attention_mask must be [1][decoder_seq]")]
    [InlineData("""{"input_ids": [[5, 6, 7]], "start_positions": [1], "end_positions": [2]}""", "start_positions and end_positions go with a question-answering head")]
    [InlineData("""{"input_ids": [5, 6, 7]}""", "input_ids must be [batch][seq]")]
    [InlineData("""{"input_ids": [[5, 6, 7]], "token_type_ids": [[0, 0, 0]]}""", "unknown input 'token_type_ids'")]
    [InlineData("""{"decoder_input_ids": [[2]]}""", "input_ids is required")]
    public void Bad_seq2seq_inputs_are_typed_errors(string json, string message)
    {
        var (code, _, stderr) = Run("run", "--model", CgBs, "--input", Inputs(json), "--output", Path.Combine(_dir, "o.safetensors"));
        Assert.Equal(1, code);
        Assert.Contains(message, stderr);
        Assert.False(File.Exists(Path.Combine(_dir, "o.safetensors")));
    }

    [Fact]
    public void Generate_refuses_decoder_inputs_and_the_bare_model()
    {
        var (code, _, stderr) = Run("run", "--model", CgBs, "--input", Inputs("""{"input_ids": [[5, 6, 7]], "decoder_input_ids": [[2]]}"""),
                                    "--output", Path.Combine(_dir, "o.safetensors"), "--generate", "3");
        Assert.Equal(1, code);
        Assert.Contains("--generate makes its own decoder inputs", stderr);
        (code, _, stderr) = Run("run", "--model", CgBs, "--input", Inputs("""{"input_ids": [[5, 6, 7]]}"""),
                                "--output", Path.Combine(_dir, "o.safetensors"), "--generate", "3", "--architecture", "BigBirdPegasusModel");
        Assert.Equal(2, code);
        Assert.Contains("--generate needs BigBirdPegasusForConditionalGeneration", stderr);
    }

    [Fact]
    public void Unsupported_architecture_and_hidden_state_outputs_are_refused()
    {
        var (code, _, stderr) = Run("run", "--model", CgBs, "--input", Inputs("""{"input_ids": [[5, 6, 7]]}"""),
                                    "--output", Path.Combine(_dir, "o.safetensors"), "--architecture", "BigBirdForMaskedLM");
        Assert.NotEqual(0, code);
        Assert.Contains("architecture 'BigBirdForMaskedLM' is not supported for a bigbird_pegasus folder", stderr);
        (code, _, stderr) = Run("run", "--model", CgBs, "--input", Inputs("""{"input_ids": [[5, 6, 7]]}"""),
                                "--output", Path.Combine(_dir, "o.safetensors"), "--output-hidden-states");
        Assert.Equal(2, code);
        Assert.Contains("not done for encoder-decoders", stderr);
    }

    [Fact]
    public void Bare_model_refuses_labels()
    {
        var (code, _, stderr) = Run("run", "--model", PegasusFixture.ModelDir("model_bs"), "--input", Inputs("""{"input_ids": [[5, 6, 7]], "labels": [[3, 4]]}"""),
                                    "--output", Path.Combine(_dir, "o.safetensors"));
        Assert.Equal(1, code);
        Assert.Contains("BigBirdPegasusModel computes no loss", stderr);
    }

    [Fact]
    public void A_bigbird_loader_names_the_class_that_reads_a_pegasus_folder()
    {
        var e = Assert.Throws<BigBirdConfigException>(() => BigBirdModel.FromPretrained(CgBs));
        Assert.Contains("model_type is 'bigbird_pegasus'", e.Message);
        Assert.Contains("BigBirdPegasusForConditionalGeneration.FromPretrained", e.Message);
    }

    [Theory]
    [InlineData("""{"model_type": 7}""", "model_type must be a string")]
    [InlineData("""[1, 2]""", "expected a JSON object at the top level")]
    [InlineData("""{"model_type": "big_bird" """, "not valid JSON")]
    [InlineData("""{"model_type": "\ud800"}""", "lone surrogate")]
    public void Model_type_of_a_bad_config_is_a_typed_error(string json, string message)
    {
        File.WriteAllText(Path.Combine(_dir, "config.json"), json);
        var e = Assert.Throws<BigBirdConfigException>(() => ConfigFile.ModelTypeOf(_dir));
        Assert.Contains(message, e.Message);
        Assert.Contains("config.json", e.Message);
    }

    [Fact]
    public void Model_type_is_read_and_absent_is_null()
    {
        File.WriteAllText(Path.Combine(_dir, "config.json"), """{"model_type": "encoder-decoder"}""");
        Assert.Equal("encoder-decoder", ConfigFile.ModelTypeOf(_dir));
        File.WriteAllText(Path.Combine(_dir, "config.json"), """{"hidden_size": 32}""");
        Assert.Null(ConfigFile.ModelTypeOf(_dir));
    }
}
