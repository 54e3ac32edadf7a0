using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace BigBirdSharp.Bench;

/// <summary>
/// GFLOP/s = 2·M·N·K / mean time, for benchmarks whose parameter is a <see cref="GemmShape"/>.
/// </summary>
public sealed class GflopsColumn : IColumn
{
    /// <inheritdoc />
    public string Id => "GFLOPs";
    /// <inheritdoc />
    public string ColumnName => "GFLOP/s";
    /// <inheritdoc />
    public bool AlwaysShow => true;
    /// <inheritdoc />
    public ColumnCategory Category => ColumnCategory.Custom;
    /// <inheritdoc />
    public int PriorityInCategory => 0;
    /// <inheritdoc />
    public bool IsNumeric => true;
    /// <inheritdoc />
    public UnitType UnitType => UnitType.Dimensionless;
    /// <inheritdoc />
    public string Legend => "Billions of floating-point operations per second, 2·M·N·K / mean";
    /// <inheritdoc />
    public bool IsAvailable(Summary summary) => true;
    /// <inheritdoc />
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    /// <inheritdoc />
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    /// <inheritdoc />
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var report = summary[benchmarkCase];
        if (report?.ResultStatistics is null)
        {
            return "NA";
        }
        foreach (var parameter in benchmarkCase.Parameters.Items)
        {
            if (parameter.Value is GemmShape shape)
            {
                double seconds = report.ResultStatistics.Mean * 1e-9;
                return (shape.Flops / seconds / 1e9).ToString("F1", System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        return "-";
    }
}
