using BigBirdSharp.Configuration;
using BigBirdSharp.IO;
using BigBirdSharp.Modeling;
using BigBirdSharp.RandomAttention;
using BigBirdSharp.Serialization;

namespace BigBirdSharp.Tests.Parity;

/// <summary>Every golden case in fixtures/cases, run through the library and compared with PyTorch's outputs.</summary>
public sealed class FixtureParityTests
{
    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var name in FixtureCase.Names()) data.Add(name);
        return data;
    }

    /// <summary>Cases the CLI contract can express (head_mask is a library argument only).</summary>
    public static TheoryData<string> CliCases()
    {
        var data = new TheoryData<string>();
        foreach (var name in FixtureCase.Names())
            if (FixtureCase.Load(name).HeadMask is null) data.Add(name);
        return data;
    }

    [Fact]
    public void Fixture_set_is_present_and_covers_both_semantics_and_types()
    {
        var cases = FixtureCase.Names().Select(FixtureCase.Load).ToList();
        Assert.True(cases.Count >= 20, $"expected the golden fixture set under fixtures/cases, found {cases.Count} cases");
        Assert.Contains(cases, c => c.AttentionType == AttentionType.BlockSparse && !c.ExpectFallback && c.Semantics == RandomAttentionSemantics.Seeded);
        Assert.Contains(cases, c => c.AttentionType == AttentionType.BlockSparse && !c.ExpectFallback && c.Semantics == RandomAttentionSemantics.Deterministic);
        Assert.Contains(cases, c => c.ExpectFallback);
        Assert.Contains(cases, c => c.AttentionType == AttentionType.OriginalFull);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Library_matches_pytorch(string name)
    {
        var c = FixtureCase.Load(name);
        using var model = BigBirdModel.FromPretrained(c.ModelDir);
        var output = model.Forward(c.Inputs(), c.Options());
        Assert.Equal(c.ExpectFallback ? AttentionType.OriginalFull : c.AttentionType, output.AttentionType);
        ExpectedTensors.Compare(c.Name, c.ExpectedPath, SafeTensorsWriter.Entries(output).ToList());
    }

    [Theory]
    [MemberData(nameof(CliCases))]
    public void Cli_run_matches_pytorch(string name)
    {
        var c = FixtureCase.Load(name);
        string output = Path.Combine(Path.GetTempPath(), $"bigbird-{name}-{Guid.NewGuid():N}.safetensors");
        try
        {
            var args = new List<string>
            {
                "run", "--model", c.ModelDir, "--inputs", c.InputsPath, "--output", output, "--architecture", "BigBirdModel",
                "--attention-type", BigBirdConfig.AttentionTypeName(c.AttentionType),
                "--random-attention", c.Semantics == RandomAttentionSemantics.Seeded ? "seeded" : "deterministic",
            };
            if (c.OutputHiddenStates) args.Add("--output-hidden-states");
            if (c.OutputAttentions) args.Add("--output-attentions");
            var stderr = new StringWriter();
            int code = BigBirdSharp.Cli.BigBirdCli.Run(args.ToArray(), TextWriter.Null, stderr);
            Assert.True(code == 0, stderr.ToString());
            ExpectedTensors.Compare(c.Name, c.ExpectedPath, ExpectedTensors.ReadAll(output));
        }
        finally
        {
            File.Delete(output);
        }
    }
}
