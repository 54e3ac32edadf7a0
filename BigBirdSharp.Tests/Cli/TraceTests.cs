using System.Text.Json;
using BigBirdSharp.Cli;
using BigBirdSharp.IO;
using BigBirdSharp.Serialization;

namespace BigBirdSharp.Tests.Cli;

/// <summary><c>bigbird trace</c> against PyTorch forward-hook traces, and <c>--compare</c> finding divergences.</summary>
public sealed class TraceTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "bigbird-trace-" + Guid.NewGuid().ToString("N"));
    private static string CaseDir(string name) => Path.Combine(RepoPaths.Fixtures, "trace", name);

    public TraceTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, true);

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var d in Directory.GetDirectories(Path.Combine(RepoPaths.Fixtures, "trace")).Order(StringComparer.Ordinal))
            data.Add(Path.GetFileName(d));
        return data;
    }

    private (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = BigBirdCli.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private string[] TraceArgs(string name, string output)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(CaseDir(name), "case.json")));
        var root = doc.RootElement;
        return
        [
            "trace", "--model", Path.Combine(RepoPaths.Models, root.GetProperty("model").GetString()!),
            "--inputs", Path.Combine(CaseDir(name), "inputs.json"), "--output", output,
            "--attention-type", root.GetProperty("attention_type").GetString()!,
            "--random-attention", root.GetProperty("random_attention").GetString()!,
        ];
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Trace_matches_pytorch_module_by_module(string name)
    {
        string output = Path.Combine(_dir, "ours.safetensors"), expected = Path.Combine(CaseDir(name), "expected.safetensors");
        var (code, stdout, stderr) = Run([.. TraceArgs(name, output), "--compare", expected]);
        Assert.True(code == BigBirdCli.Ok, stdout + stderr);
        Assert.Contains("all 17 tensors match", stdout);
        // the same check done here, tensor by tensor, with the shared tolerance
        using var ours = CheckpointLoader.Open(output);
        using var theirs = CheckpointLoader.Open(expected);
        Assert.Equal(theirs.Names.Order(StringComparer.Ordinal), ours.Names.Order(StringComparer.Ordinal));
        foreach (var n in theirs.Names)
            Tolerance.AssertAllClose(ours.ReadFloat32(n).Span, theirs.ReadFloat32(n).Span, $"{name}/{n}");
    }

    [Fact]
    public void Compare_names_the_first_divergence_in_forward_order_and_where()
    {
        string expected = Path.Combine(CaseDir("full_padbatch"), "expected.safetensors");
        using var reader = CheckpointLoader.Open(expected);
        var entries = reader.Names.Select(n =>
        {
            reader.TryGetInfo(n, out var info);
            return new SafeTensorsWriter.Entry(n, info.Shape.Select(d => (int)d).ToArray(), reader.ReadFloat32(n).ToArray());
        }).ToList();
        // perturb one element of layer 1's intermediate and of the pooler; drop layer 0's value projection
        var inter = entries.Single(e => e.Name == "encoder.layer.1.intermediate");
        int[] s = inter.Shape; // [2, 20, 96]
        inter.Data[(1 * s[1] + 7) * s[2] + 3] += 0.5f;
        entries.Single(e => e.Name == "pooler").Data[0] += 1f;
        entries.RemoveAll(e => e.Name == "encoder.layer.0.attention.self.value");
        string theirs = Path.Combine(_dir, "theirs.safetensors");
        SafeTensorsWriter.Write(theirs, entries);

        var (code, stdout, _) = Run([.. TraceArgs("full_padbatch", Path.Combine(_dir, "ours.safetensors")), "--compare", theirs]);
        Assert.Equal(BigBirdCli.Diverged, code);
        Assert.Contains("MISSING encoder.layer.0.attention.self.value: only in ours", stdout);
        Assert.Contains("DIFF    encoder.layer.1.intermediate [2, 20, 96]: 1 of 3840 elements beyond tolerance; first at [1, 7, 3]", stdout);
        Assert.Contains("DIFF    pooler", stdout);
        Assert.Contains("OK      embeddings", stdout);
        Assert.EndsWith("first divergence in forward order: encoder.layer.0.attention.self.value" + Environment.NewLine, stdout);
    }

    [Fact]
    public void Forward_order_puts_embeddings_first_layers_in_order_and_the_pooler_last()
    {
        string[] names = ["pooler", "encoder.layer.10.output", "encoder.layer.2.attention.self", "encoder.layer.2.attention.self.query", "embeddings", "activation"];
        Assert.Equal(["embeddings", "encoder.layer.2.attention.self.query", "encoder.layer.2.attention.self", "encoder.layer.10.output", "pooler", "activation"],
                     names.OrderBy(TraceComparison.ForwardOrder).ToArray());
    }

    [Theory]
    [InlineData("--compare", "missing.safetensors", BigBirdCli.Failed)]
    [InlineData("--atol", "-1", BigBirdCli.Usage)]
    [InlineData("--bogus", "1", BigBirdCli.Usage)]
    public void Trace_rejects_bad_arguments(string option, string value, int exitCode)
    {
        var (code, _, stderr) = Run([.. TraceArgs("full_padbatch", Path.Combine(_dir, "o.safetensors")), option, value]);
        Assert.True(code == exitCode, stderr);
        Assert.StartsWith("bigbird: ", stderr);
    }
}
