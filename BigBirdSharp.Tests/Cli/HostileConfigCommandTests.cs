using System.Text.Json.Nodes;
using BigBirdSharp.Cli;

namespace BigBirdSharp.Tests.Cli;

/// <summary>The text commands on a copy of the default model whose config.json holds hostile sizes.</summary>
public sealed class HostileConfigCommandTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "bigbird-hostile-" + Guid.NewGuid().ToString("N"));

    public HostileConfigCommandTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, true);

    private string CopyWith(string field, long value)
    {
        string folder = Path.Combine(_dir, $"{field}-{value}");
        Directory.CreateDirectory(folder);
        foreach (var f in Directory.GetFiles(TextCommandTests.DefaultModelSource)) File.Copy(f, Path.Combine(folder, Path.GetFileName(f)));
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!.AsObject();
        json[field] = value;
        File.WriteAllText(Path.Combine(folder, "config.json"), json.ToJsonString());
        return folder;
    }

    /// <summary>HF falls back to original_full for any input no longer than (5 + 2·num_random_blocks)·block_size; so do we.</summary>
    [Theory]
    [InlineData("block_size", 268435456)]
    [InlineData("block_size", 1048576)]
    [InlineData("num_random_blocks", 100000000)]
    public void Fill_mask_with_a_huge_block_geometry_runs_and_equals_original_full(string field, long value)
    {
        string text = "And God said, Let there be light: and there was [MASK].";
        var expected = TextCommandTests.Run(["fill-mask", "--model", TextCommandTests.DefaultModelSource, "--attention-type", "original_full", "--json", text]);
        var actual = TextCommandTests.Run(["fill-mask", "--model", CopyWith(field, value), "--json", text]);
        Assert.True(actual.Code == 0, actual.Err);
        Assert.Equal(0, expected.Code);
        Assert.Equal(expected.Out, actual.Out);
    }

    [Fact]
    public void A_config_claiming_two_billion_layers_is_a_missing_tensor_not_an_internal_error()
    {
        var (code, _, err) = TextCommandTests.Run(["fill-mask", "--model", CopyWith("num_hidden_layers", int.MaxValue), "The [MASK] is here."]);
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains("missing tensor 'bert.encoder.layer.4.attention.self.query.weight'", err);
        Assert.DoesNotContain("internal error", err);
    }

    [Fact]
    public void A_vocabulary_too_large_for_one_buffer_is_a_config_error_naming_the_fields()
    {
        var (code, _, err) = TextCommandTests.Run(["fill-mask", "--model", CopyWith("vocab_size", 100000000), "The [MASK] is here."]);
        Assert.Equal(BigBirdCli.Failed, code);
        Assert.Contains("config.json: embeddings.word_embeddings.weight [vocab_size, hidden_size] = [100000000, 256]", err);
    }
}
