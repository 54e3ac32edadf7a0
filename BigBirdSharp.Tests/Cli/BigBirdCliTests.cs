using System.Text.Json;
using BigBirdSharp.Cli;
using BigBirdSharp.IO;

namespace BigBirdSharp.Tests.Cli;

public sealed class BigBirdCliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "bigbird-cli-" + Guid.NewGuid().ToString("N"));
    private static readonly string Model = Path.Combine(RepoPaths.Models, "bs_h32_a4_l2_b4_r2");

    public BigBirdCliTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private (int Code, string Out, string Err) Run(params string[] args)
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

    [Fact]
    public void Run_writes_hf_named_tensors_at_hf_shapes()
    {
        string output = Path.Combine(_dir, "out.safetensors");
        var (code, stdout, stderr) = Run("run", "--model", Model, "--inputs", Inputs("""{"input_ids": [[65, 5, 6, 7, 66]]}"""),
                                         "--output", output, "--output-hidden-states", "--output-attentions");
        Assert.True(code == 0, stderr);
        Assert.Contains("original_full", stdout); // 5 tokens fall back from block_sparse
        using var reader = CheckpointLoader.Open(output);
        Assert.Equal(["attentions.0", "attentions.1", "hidden_states.0", "hidden_states.1", "hidden_states.2", "last_hidden_state", "pooler_output"],
                     reader.Names.Order(StringComparer.Ordinal));
        reader.TryGetInfo("attentions.1", out var info);
        Assert.Equal("[1, 4, 5, 5]", info.ShapeText);
        reader.TryGetInfo("pooler_output", out info);
        Assert.Equal("[1, 32]", info.ShapeText);
    }

    [Fact]
    public void Unknown_architecture_is_a_clear_error()
    {
        var (code, _, stderr) = Run("run", "--model", Model, "--inputs", Inputs("""{"input_ids": [[1, 2]]}"""),
                                    "--output", Path.Combine(_dir, "o.safetensors"), "--architecture", "BigBirdForTranslation");
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains("architecture 'BigBirdForTranslation' is not supported", stderr);
        Assert.Contains("BigBirdModel", stderr);
    }

    [Fact]
    public void Architecture_defaults_to_config_architectures()
    {
        // the pretraining checkpoint's config names BigBirdForPreTraining, so run writes its two heads' logits
        string output = Path.Combine(_dir, "o.safetensors");
        var (code, stdout, stderr) = Run("run", "--model", Path.Combine(RepoPaths.Models, "fmt_pretraining_bin"),
                                         "--inputs", Inputs("""{"input_ids": [[1, 2]]}"""), "--output", output);
        Assert.True(code == BigBirdCli.Ok, stderr);
        Assert.StartsWith("BigBirdForPreTraining", stdout);
        using var written = BigBirdSharp.IO.CheckpointLoader.Open(output);
        Assert.Equal(["prediction_logits", "seq_relationship_logits"], written.Names.Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("""{"input_ids": [[1, 2], [3]]}""", "ragged")]
    [InlineData("""{"input_ids": [[1, 2.5]]}""", "not a 32-bit integer")]
    [InlineData("""{"input_ids": [1, 2]}""", "must be [batch][seq]")]
    [InlineData("""{"inputs_embeds": [[1]]}""", "unknown input 'inputs_embeds'")]
    [InlineData("""{"attention_mask": [[1]]}""", "input_ids is required")]
    [InlineData("""{"input_ids": [[1, 9999]]}""", "outside [0, 100)")]
    [InlineData("""{"input_ids": []}""", "empty")]
    [InlineData("""not json""", "not valid JSON")]
    public void Bad_inputs_file_exits_1_with_a_message(string json, string fragment)
    {
        var (code, _, stderr) = Run("run", "--model", Model, "--inputs", Inputs(json), "--output", Path.Combine(_dir, "o.safetensors"));
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains(fragment, stderr);
    }

    [Theory]
    [InlineData(new[] { "run", "--model", "m", "--inputs", "i" }, "--output is required")]
    [InlineData(new[] { "frobnicate" }, "unknown command 'frobnicate'")]
    [InlineData(new[] { "run", "--model" }, "--model needs a value")]
    [InlineData(new[] { "run", "--model", "a", "--model", "b" }, "--model given twice")]
    [InlineData(new[] { "run", "--model", "m", "--inputs", "i", "--output", "o", "--random-attention", "lucky" }, "--random-attention must be")]
    [InlineData(new[] { "run", "--model", "m", "--inputs", "i", "--output", "o", "--colour", "red" }, "unknown option --colour")]
    [InlineData(new[] { "bench", "--model", "m", "--seq-len", "many" }, "--seq-len must be an integer")]
    [InlineData(new[] { "bench", "--model", "m" }, "--seq-len is required")]
    [InlineData(new[] { "bench", "--model", "m", "--seq-len", "2000000000", "--batch", "2000" }, "at most 16777216 tokens")]
    public void Usage_errors_exit_2(string[] args, string fragment)
    {
        var (code, _, stderr) = Run(args);
        Assert.Equal(BigBirdCli.Usage, code);
        Assert.Contains(fragment, stderr);
    }

    [Fact]
    public void Missing_model_folder_and_inputs_file_exit_1()
    {
        var (code, _, stderr) = Run("run", "--model", Model, "--inputs", Path.Combine(_dir, "none.json"), "--output", Path.Combine(_dir, "o.safetensors"));
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains("inputs file not found", stderr);
        (code, _, stderr) = Run("run", "--model", Path.Combine(_dir, "nothing"), "--inputs", Inputs("""{"input_ids": [[1]]}"""), "--output", "o");
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains("no such folder", stderr);
    }

    [Fact]
    public void Unwritable_output_path_exits_1()
    {
        var (code, _, stderr) = Run("run", "--model", Model, "--inputs", Inputs("""{"input_ids": [[1, 2]]}"""), "--output", "");
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.StartsWith("bigbird:", stderr);
    }

    [Fact]
    public void Bad_attention_type_is_a_usage_error()
    {
        var (code, _, stderr) = Run("run", "--model", Model, "--inputs", Inputs("""{"input_ids": [[1]]}"""), "--output", "o", "--attention-type", "sparse");
        Assert.Equal(BigBirdCli.Usage, code);
        Assert.Contains("--attention-type must be original_full or block_sparse, not 'sparse'", stderr);
    }

    [Fact]
    public void Bench_prints_one_json_line()
    {
        var (code, stdout, stderr) = Run("bench", "--model", Model, "--seq-len", "61", "--batch", "2", "--repeat", "3");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout.Trim());
        Assert.Equal(61, doc.RootElement.GetProperty("seq_len").GetInt32());
        Assert.Equal(2, doc.RootElement.GetProperty("batch").GetInt32());
        Assert.Equal("block_sparse", doc.RootElement.GetProperty("attention_type").GetString());
        Assert.True(doc.RootElement.GetProperty("median_s").GetDouble() > 0);
        Assert.True(doc.RootElement.GetProperty("tokens_per_s").GetDouble() > 0);
    }

    [Fact]
    public void No_arguments_prints_the_commands_and_exits_2()
    {
        var (code, stdout, _) = Run();
        Assert.Equal(BigBirdCli.Usage, code);
        foreach (var command in new[] { "fill-mask", "embed", "classify", "qa", "generate", "tokenize", "run", "trace", "bench" })
            Assert.Matches($@"(?m)^\s+{command}\s", stdout);
        Assert.Contains("Exit codes: 0 success", stdout);
    }
}
