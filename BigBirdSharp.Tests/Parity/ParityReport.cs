using System.Text.Json;
using System.Text.Json.Serialization;

namespace BigBirdSharp.Tests.Parity;

/// <summary>The data of docs/parity.md's picture. Off unless the environment variable <c>BIGBIRD_PARITY_REPORT</c>
/// names a file: then every comparison of an output tensor with a PyTorch fixture (<see cref="ExpectedTensors.Compare"/>)
/// appends one JSON line to it, with the worst element's error as a fraction of the tolerance,
/// |a − b| / (1e-4 + 1e-4·|b|); 1 is the limit the test enforces. A relative path is taken from the repository root.
/// docs/plot_parity.py draws the picture from that file.</summary>
internal static class ParityReport
{
    public const string Variable = "BIGBIRD_PARITY_REPORT";

    private static readonly Lock Gate = new();

    private static readonly JsonSerializerOptions Json = new()
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>One line of the report.</summary>
    /// <param name="Set">The fixture set: the folder of the fixture's folder, under fixtures/ (<c>cases</c>, <c>heads/cases</c>).</param>
    /// <param name="Fixture">The fixture's folder name.</param>
    /// <param name="Output">The output tensor's name in expected.safetensors.</param>
    /// <param name="Values">How many elements were compared.</param>
    /// <param name="WorstRatio">The largest |a − b| / (atol + rtol·|b|) over the elements (infinity for a NaN).</param>
    /// <param name="WorstIndex">The flat index of that element.</param>
    /// <param name="WorstAbsError">Its |a − b|.</param>
    /// <param name="Expected">Its PyTorch value b.</param>
    internal sealed record Line(
        [property: JsonPropertyName("set")] string Set,
        [property: JsonPropertyName("fixture")] string Fixture,
        [property: JsonPropertyName("output")] string Output,
        [property: JsonPropertyName("values")] int Values,
        [property: JsonPropertyName("worst_ratio")] double WorstRatio,
        [property: JsonPropertyName("worst_index")] int WorstIndex,
        [property: JsonPropertyName("worst_abs_error")] double WorstAbsError,
        [property: JsonPropertyName("expected")] double Expected);

    /// <summary>Appends the comparison's line when the report is on; does nothing otherwise.</summary>
    public static void Record(string expectedPath, string output, ReadOnlySpan<float> actual, ReadOnlySpan<float> expected) =>
        Record(Environment.GetEnvironmentVariable(Variable), expectedPath, output, actual, expected);

    /// <summary><see cref="Record(string, string, ReadOnlySpan{float}, ReadOnlySpan{float})"/> into <paramref name="file"/> (null or empty: off).</summary>
    internal static void Record(string? file, string expectedPath, string output, ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        if (string.IsNullOrEmpty(file)) return;
        var line = Measure(expectedPath, output, actual, expected);
        string text = JsonSerializer.Serialize(line, Json) + "\n";
        lock (Gate) File.AppendAllText(Path.Combine(RepoPaths.Root, file), text);
    }

    /// <summary>The line for one comparison (the lengths must agree; the assertion that follows reports if not).</summary>
    internal static Line Measure(string expectedPath, string output, ReadOnlySpan<float> actual, ReadOnlySpan<float> expected,
                                 double atol = Tolerance.Absolute, double rtol = Tolerance.Relative)
    {
        string fixtureDir = Path.GetDirectoryName(Path.GetFullPath(expectedPath))!;
        string set = Path.GetRelativePath(RepoPaths.Fixtures, Path.GetDirectoryName(fixtureDir)!).Replace('\\', '/');
        int n = Math.Min(actual.Length, expected.Length), worst = -1;
        double worstRatio = 0;
        for (int i = 0; i < n; i++)
        {
            double err = Math.Abs((double)actual[i] - expected[i]);
            double ratio = double.IsNaN(err) ? double.PositiveInfinity : err / (atol + rtol * Math.Abs((double)expected[i]));
            if (worst < 0 || ratio > worstRatio) (worst, worstRatio) = (i, ratio);
        }
        return worst < 0
            ? new Line(set, Path.GetFileName(fixtureDir), output, n, 0, -1, 0, 0)
            : new Line(set, Path.GetFileName(fixtureDir), output, n, worstRatio, worst,
                       Math.Abs((double)actual[worst] - expected[worst]), expected[worst]);
    }
}
