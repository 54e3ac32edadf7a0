using System.Text.Json;

namespace BigBirdSharp.Tests.Parity;

/// <summary>The opt-in data behind docs/parity.md's picture: the worst element as a fraction of the tolerance.</summary>
public sealed class ParityReportTests
{
    private static readonly string CasePath = Path.Combine(RepoPaths.Cases, "some_case", "expected.safetensors");

    [Fact]
    public void Worst_ratio_is_the_largest_error_over_the_tolerance_of_its_element()
    {
        // errors 5e-5, 5e-3, 0; tolerances 2e-4, 1.01e-2, 3e-4: ratios 0.25, 0.495…, 0 — the largest error wins here,
        // but a small error on a small value can outweigh it:
        var line = ParityReport.Measure(CasePath, "last_hidden_state", [1.00005f, 100.005f, -2f], [1f, 100f, -2f]);
        Assert.Equal(1, line.WorstIndex);
        Assert.Equal(0.005 / (1e-4 + 1e-2), line.WorstRatio, 3);
        Assert.Equal(100.0, line.Expected);
        Assert.Equal(3, line.Values);

        var small = ParityReport.Measure(CasePath, "x", [0.00009f, 100.005f], [0f, 100f]);
        Assert.Equal(0, small.WorstIndex);
        Assert.Equal(0.9, small.WorstRatio, 3);
        Assert.Equal(9e-5, small.WorstAbsError, 7);
    }

    [Fact]
    public void A_nan_is_infinitely_far_and_the_set_is_the_fixtures_folder()
    {
        var line = ParityReport.Measure(CasePath, "logits", [0f, float.NaN], [0f, 1f]);
        Assert.Equal(1, line.WorstIndex);
        Assert.True(double.IsPositiveInfinity(line.WorstRatio));
        Assert.Equal("cases", line.Set);
        Assert.Equal("some_case", line.Fixture);

        var head = ParityReport.Measure(Path.Combine(RepoPaths.Fixtures, "heads", "cases", "qa_case", "expected.safetensors"), "start_logits", [1f], [1f]);
        Assert.Equal("heads/cases", head.Set);
        Assert.Equal("qa_case", head.Fixture);
        Assert.Equal(0, head.WorstRatio);
    }

    [Fact]
    public void Record_appends_one_json_line_per_comparison_and_nothing_when_off()
    {
        string file = Path.Combine(Path.GetTempPath(), $"bigbird-parity-{Guid.NewGuid():N}.jsonl");
        try
        {
            ParityReport.Record(null, CasePath, "a", [1f], [1f]);
            ParityReport.Record("", CasePath, "a", [1f], [1f]);
            Assert.False(File.Exists(file));

            ParityReport.Record(file, CasePath, "pooler_output", [1.0001f, 2f], [1f, 2f]);
            ParityReport.Record(file, CasePath, "logits", [0f, float.NaN], [0f, 1f]);
            var lines = File.ReadAllLines(file);
            Assert.Equal(2, lines.Length);
            using var first = JsonDocument.Parse(lines[0]);
            Assert.Equal("cases", first.RootElement.GetProperty("set").GetString());
            Assert.Equal("some_case", first.RootElement.GetProperty("fixture").GetString());
            Assert.Equal("pooler_output", first.RootElement.GetProperty("output").GetString());
            Assert.Equal(0.5, first.RootElement.GetProperty("worst_ratio").GetDouble(), 2);
            Assert.Equal(0, first.RootElement.GetProperty("worst_index").GetInt32());
            using var second = JsonDocument.Parse(lines[1]);
            Assert.Equal("Infinity", second.RootElement.GetProperty("worst_ratio").GetString());
        }
        finally
        {
            File.Delete(file);
        }
    }
}
