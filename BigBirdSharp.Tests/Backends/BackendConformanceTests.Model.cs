using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Serialization;
using BigBirdSharp.Tests.Parity;

namespace BigBirdSharp.Tests.Backends;

// The whole model on the PyTorch fixtures through the backend, at the parity suites' tolerance (Tolerance: 1e-4 + 1e-4·|b|).
public abstract partial class BackendConformanceTests
{
    private BigBirdModelOptions Options(IComputeBackend backend) => new() { Backend = backend };

    private void RunFixtureCase(string name, IComputeBackend backend)
    {
        var c = FixtureCase.Load(name);
        using var model = BigBirdModel.FromPretrained(c.ModelDir, Options(backend));
        Assert.Same(backend, model.Backend);
        var output = model.Forward(c.Inputs(), c.Options());
        Assert.Equal(c.ExpectFallback ? AttentionType.OriginalFull : c.AttentionType, output.AttentionType);
        ExpectedTensors.Compare($"{backend.Name}/{c.Name}", c.ExpectedPath, SafeTensorsWriter.Entries(output).ToList());
    }

    [Theory]
    [MemberData(nameof(FixtureParityTests.Cases), MemberType = typeof(FixtureParityTests))]
    public void Model_matches_pytorch_on_every_fixture_case(string name) => RunFixtureCase(name, Backend);

    [Theory]
    [MemberData(nameof(HeadFixtureParityTests.ForwardCases), MemberType = typeof(HeadFixtureParityTests))]
    public void Head_matches_pytorch_on_every_fixture_case(string name)
    {
        var c = HeadFixtureCase.Load(name);
        using var head = BigBirdPreTrainedModel.Load(c.ModelDir, options: Options(Backend));
        Assert.Equal(c.Architecture, head.Architecture);
        var output = head.Forward(c.Inputs(), c.Options());
        Assert.Equal(c.ExpectFallback ? AttentionType.OriginalFull : c.AttentionType, output.AttentionType);
        ExpectedTensors.Compare($"{Backend.Name}/{c.Name}", c.ExpectedPath, SafeTensorsWriter.Entries(output).ToList());
    }

    [Theory]
    [MemberData(nameof(HeadFixtureParityTests.GenerationCases), MemberType = typeof(HeadFixtureParityTests))]
    public void Greedy_generation_matches_hf_generate_with_and_without_the_cache(string name)
    {
        var c = HeadFixtureCase.Load(name);
        using var head = (BigBirdForCausalLM)BigBirdPreTrainedModel.Load(c.ModelDir, options: Options(Backend));
        var (expected, shape) = HeadFixtureCase.ReadInt64(c.ExpectedPath, "sequences");
        foreach (bool useCache in new[] { true, false })
        {
            var sequences = head.Generate(c.Inputs(), c.Generation! with { UseCache = useCache });
            Assert.Equal(shape[0] * shape[1], sequences.Length);
            Assert.Equal(expected, sequences.Select(x => (long)x).ToArray());
        }
    }

    /// <summary>
    /// The same cases through <see cref="IsolatingBackend"/> around the backend under test: every buffer and weight the model
    /// touches then belongs to the wrapper, so a module computing anywhere but on its load-time backend, or reading a buffer
    /// behind the seam, fails here (as it would with a device backend). Every operation must have run at least once. The
    /// 1024-token old-plan cases are left out for time: they run the same operations as the shorter block-sparse cases.
    /// </summary>
    [Fact]
    public void Model_computes_only_through_its_backend()
    {
        var isolated = new IsolatingBackend(Backend);
        foreach (var name in FixtureCase.Names().Where(n => !n.StartsWith("oldplan_", StringComparison.Ordinal)))
            RunFixtureCase(name, isolated);
        foreach (var name in HeadFixtureCase.Names())
        {
            var c = HeadFixtureCase.Load(name);
            using var head = BigBirdPreTrainedModel.Load(c.ModelDir, options: Options(isolated));
            if (c.Generation is { } generation)
            {
                var (expected, _) = HeadFixtureCase.ReadInt64(c.ExpectedPath, "sequences");
                Assert.Equal(expected, ((BigBirdForCausalLM)head).Generate(c.Inputs(), generation).Select(x => (long)x).ToArray());
                continue;
            }
            ExpectedTensors.Compare($"{isolated.Name}/{c.Name}", c.ExpectedPath, SafeTensorsWriter.Entries(head.Forward(c.Inputs(), c.Options())).ToList());
        }
        foreach (var op in BigBirdModel.RequiredOps)
            Assert.True(isolated.Calls[(int)op] > 0, $"the fixtures never ran {op}");
    }

    /// <summary>The operations BigBird loads with; BigBirdPegasus needs <see cref="BackendOp.Add"/> as well.</summary>
    public static TheoryData<BackendOp> Ops() => new(BigBirdModel.RequiredOps);

    [Fact]
    public void Every_operation_is_needed_by_some_model()
    {
        var needed = BigBirdModel.RequiredOps.Concat(BigBirdSharp.Modeling.Pegasus.BigBirdPegasusModel.RequiredOps).ToHashSet();
        Assert.Equal(Enum.GetValues<BackendOp>().ToHashSet(), needed);
    }

    [Fact]
    public void Loading_BigBirdPegasus_on_a_backend_without_Add_fails_naming_it()
    {
        var backend = new MissingOpBackend(Backend, BackendOp.Add);
        string dir = Path.Combine(RepoPaths.Fixtures, "pegasus", "models", "cg_bs");
        var e = Assert.Throws<BigBirdException>(() => BigBirdSharp.Modeling.Pegasus.BigBirdPegasusForConditionalGeneration.FromPretrained(dir, Options(backend)));
        Assert.Contains("Add", e.Message);
        Assert.Contains("BigBirdPegasus", e.Message);
        Assert.Contains(backend.Name, e.Message);
    }

    [Theory]
    [MemberData(nameof(Ops))]
    public void Loading_on_a_backend_without_an_operation_fails_naming_it(BackendOp missing)
    {
        var backend = new MissingOpBackend(Backend, missing);
        var model = FixtureCase.Load(FixtureCase.Names().First()).ModelDir;
        var e = Assert.Throws<BigBirdException>(() => BigBirdModel.FromPretrained(model, Options(backend)));
        Assert.Contains(missing.ToString(), e.Message);
        Assert.Contains(backend.Name, e.Message);
        var headDir = HeadFixtureCase.Load(HeadFixtureCase.Names().First()).ModelDir;
        var headError = Assert.Throws<BigBirdException>(() => BigBirdPreTrainedModel.Load(headDir, options: Options(backend)));
        Assert.Contains(missing.ToString(), headError.Message);
        // an op the backend lacks and the model never uses would be harmless; every op is used (see the isolation test)
        var complete = new MissingOpBackend(Backend, (BackendOp)1234);
        using var loaded = BigBirdModel.FromPretrained(model, Options(complete));
        Assert.Same(complete, loaded.Backend);
    }
}
