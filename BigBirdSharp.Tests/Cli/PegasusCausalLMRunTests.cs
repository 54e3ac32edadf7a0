using BigBirdSharp.Cli;
using BigBirdSharp.IO;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Modeling.Pegasus;

namespace BigBirdSharp.Tests.Cli;

/// <summary><c>bigbird run</c> on a BigBirdPegasusForCausalLM folder (the PyTorch parity of its logits, loss and
/// <c>--generate</c> runs in Seq2SeqRunTests and GenerateFlagsTests): what it writes without labels, and its refusals.</summary>
public sealed class PegasusCausalLMRunTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "bigbird-pclm-" + Guid.NewGuid().ToString("N"));
    private static readonly string Model = Path.Combine(RepoPaths.Fixtures, "pegasus", "models", "clm");

    public PegasusCausalLMRunTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private (int Code, string Out, string Err) Run(string inputs, params string[] extra)
    {
        string path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".json");
        File.WriteAllText(path, inputs);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = BigBirdCli.Run(["run", "--model", Model, "--input", path, "--output", Path.Combine(_dir, "out.safetensors"), .. extra], stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void Without_labels_it_writes_the_logits_of_forward_alone()
    {
        var (code, stdout, stderr) = Run("""{"input_ids": [[5, 9, 33, 4]], "attention_mask": [[1, 1, 1, 1]]}""");
        Assert.True(code == 0, stderr);
        Assert.Contains("BigBirdPegasusForCausalLM", stdout);
        using var written = CheckpointLoader.Open(Path.Combine(_dir, "out.safetensors"));
        Assert.Equal(["logits"], written.Names);
        using var model = BigBirdPegasusForCausalLM.FromPretrained(Model);
        var expected = model.Forward(new BigBirdPegasusCausalLMInputs(1, 4) { InputIds = [5, 9, 33, 4], AttentionMask = [1, 1, 1, 1] });
        Assert.Equal(expected.Logits.Data, written.ReadFloat32("logits").ToArray());
    }

    [Fact]
    public void Generate_writes_the_prompt_then_the_new_tokens()
    {
        var (code, _, stderr) = Run("""{"input_ids": [[5, 9, 33], [0, 7, 8]], "attention_mask": [[1, 1, 1], [0, 1, 1]]}""",
                                    "--generate", "4", "--num-beams", "3", "--num-return-sequences", "2", "--no-eos");
        Assert.True(code == 0, stderr);
        using var model = BigBirdPegasusForCausalLM.FromPretrained(Model);
        var expected = model.Generate(new BigBirdPegasusCausalLMInputs(2, 3) { InputIds = [5, 9, 33, 0, 7, 8], AttentionMask = [1, 1, 1, 0, 1, 1] },
                                      GenerationConfig.FromPretrained(Model) with { MaxNewTokens = 4, NumBeams = 3, NumReturnSequences = 2, EosTokenId = null });
        var (written, shape) = Parity.HeadFixtureCase.ReadInt64(Path.Combine(_dir, "out.safetensors"), "sequences");
        Assert.Equal([4, 7], shape);
        Assert.Equal(expected.Select(v => (long)v), written);
    }

    [Theory]
    [InlineData("""{"input_ids": [[5, 9]], "decoder_input_ids": [[2, 5]]}""", "a decoder alone")]
    [InlineData("""{"input_ids": [[5, 9]], "start_positions": [0]}""", "a decoder alone")]
    [InlineData("""{"input_ids": [[5, 9]], "labels": [1]}""", "labels must be [batch][seq] token ids")]
    [InlineData("""{"input_ids": [[5, 9]], "labels": [[0.5, 1.5]]}""", "labels must be [batch][seq] token ids")]
    public void It_refuses_inputs_a_decoder_does_not_take(string inputs, string message)
    {
        var (code, _, stderr) = Run(inputs);
        Assert.NotEqual(0, code);
        Assert.Contains(message, stderr);
    }

    [Fact]
    public void Generate_refuses_labels()
    {
        var (code, _, stderr) = Run("""{"input_ids": [[5, 9]], "labels": [[9, 4]]}""", "--generate", "3");
        Assert.NotEqual(0, code);
        Assert.Contains("--generate takes the prompt's input_ids and attention_mask, not labels", stderr);
    }
}
