using BigBirdSharp.Configuration;
using BigBirdSharp.IO;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.RandomAttention;
using BigBirdSharp.Serialization;

namespace BigBirdSharp.Tests.Parity;

/// <summary>Every golden case in fixtures/heads/cases: task heads, losses, the decoder, and HF greedy generate.</summary>
public sealed class HeadFixtureParityTests
{
    public static TheoryData<string> ForwardCases() => Select(c => c.Generation is null);
    public static TheoryData<string> GenerationCases() => Select(c => c.Generation is not null);

    private static TheoryData<string> Select(Func<HeadFixtureCase, bool> predicate)
    {
        var data = new TheoryData<string>();
        foreach (var name in HeadFixtureCase.Names())
            if (predicate(HeadFixtureCase.Load(name))) data.Add(name);
        return data;
    }

    [Fact]
    public void Fixture_set_covers_every_head_loss_and_generation()
    {
        var cases = HeadFixtureCase.Names().Select(HeadFixtureCase.Load).ToList();
        foreach (var head in BigBirdPreTrainedModel.HeadArchitectures)
            Assert.Contains(cases, c => c.Architecture == head && c.Generation is null);
        Assert.Contains(cases, c => c.Generation is { EosTokenId: not null });
        Assert.Contains(cases, c => c.Generation is { EosTokenId: null });
        Assert.Contains(cases, c => c.Generation is null && c.AttentionType == AttentionType.BlockSparse && !c.ExpectFallback
                                    && c.Semantics == RandomAttentionSemantics.Seeded);
        Assert.Contains(cases, c => File.Exists(Path.Combine(c.ModelDir, "pytorch_model.bin")));
        Assert.Contains(cases, c => File.Exists(Path.Combine(c.ModelDir, "model.safetensors")));
        using var crossCase = CheckpointLoader.Open(HeadFixtureCase.Load("decoder_xattn_padbatch").ExpectedPath);
        Assert.Contains("cross_attentions.0", crossCase.Names);
    }

    [Theory]
    [MemberData(nameof(ForwardCases))]
    public void Library_head_matches_pytorch(string name)
    {
        var c = HeadFixtureCase.Load(name);
        using var head = BigBirdPreTrainedModel.Load(c.ModelDir);
        Assert.Equal(c.Architecture, head.Architecture);
        var output = head.Forward(c.Inputs(), c.Options());
        Assert.Equal(c.ExpectFallback ? AttentionType.OriginalFull : c.AttentionType, output.AttentionType);
        ExpectedTensors.Compare(c.Name, c.ExpectedPath, SafeTensorsWriter.Entries(output).ToList());
    }

    [Theory]
    [MemberData(nameof(GenerationCases))]
    public void Greedy_generation_equals_hf_generate(string name)
    {
        var c = HeadFixtureCase.Load(name);
        using var head = (BigBirdForCausalLM)BigBirdPreTrainedModel.Load(c.ModelDir);
        var (expected, shape) = HeadFixtureCase.ReadInt64(c.ExpectedPath, "sequences");
        foreach (bool useCache in new[] { true, false })
        {
            var sequences = head.Generate(c.Inputs(), c.Generation! with { UseCache = useCache });
            Assert.Equal(shape[0] * shape[1], sequences.Length);
            Assert.Equal(expected, sequences.Select(x => (long)x).ToArray());
        }
    }

    [Theory]
    [MemberData(nameof(ForwardCases))]
    [MemberData(nameof(GenerationCases))]
    public void Cli_run_matches_pytorch(string name)
    {
        var c = HeadFixtureCase.Load(name);
        string output = Path.Combine(Path.GetTempPath(), $"bigbird-{name}-{Guid.NewGuid():N}.safetensors");
        try
        {
            var args = new List<string>
            {
                "run", "--model", c.ModelDir, "--inputs", c.InputsPath, "--output", output,
                "--random-attention", c.Semantics == RandomAttentionSemantics.Seeded ? "seeded" : "deterministic",
            };
            if (c.OutputHiddenStates) args.Add("--output-hidden-states");
            if (c.OutputAttentions) args.Add("--output-attentions");
            if (c.Generation is { } g)
            {
                // the CLI pads finished rows with config.pad_token_id: the fixture must have used the same
                Assert.Equal(BigBirdConfig.FromFile(Path.Combine(c.ModelDir, "config.json")).PadTokenId, g.PadTokenId);
                args.AddRange(["--generate", g.MaxNewTokens!.Value.ToString()]);
                if (g.EosTokenId is int eos) args.AddRange(["--eos-token-id", eos.ToString()]);
            }
            var stderr = new StringWriter();
            int code = BigBirdSharp.Cli.BigBirdCli.Run(args.ToArray(), TextWriter.Null, stderr);
            Assert.True(code == 0, stderr.ToString());
            if (c.Generation is not null)
            {
                Assert.Equal(HeadFixtureCase.ReadInt64(c.ExpectedPath, "sequences"), HeadFixtureCase.ReadInt64(output, "sequences"),
                             new SequencesComparer());
                return;
            }
            ExpectedTensors.Compare(c.Name, c.ExpectedPath, ExpectedTensors.ReadAll(output));
        }
        finally
        {
            File.Delete(output);
        }
    }

    private sealed class SequencesComparer : IEqualityComparer<(long[] Values, int[] Shape)>
    {
        public bool Equals((long[] Values, int[] Shape) a, (long[] Values, int[] Shape) b) =>
            a.Values.SequenceEqual(b.Values) && a.Shape.SequenceEqual(b.Shape);
        public int GetHashCode((long[] Values, int[] Shape) x) => x.Values.Length;
    }
}
