using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Attributes;
using BigBirdSharp.Kernels;

namespace BigBirdSharp.Bench;

/// <summary>
/// The machine's measured FMA peak, the denominator of the GEMM efficiency: a register-only loop of 12 independent
/// FMA chains (enough to cover the FMA latency on both FMA pipes) per thread, on 1 and on 2 threads (the
/// <see cref="ComputePool"/> runs one chain set per thread), for Vector256 and, where accelerated, Vector512.
/// FLOPs per invocation = threads · iterations · 12 chains · lanes · 2.
/// </summary>
[Config(typeof(FmaPeakConfig))]
public class FmaPeakBenchmarks
{
    private sealed class FmaPeakConfig : BenchmarkDotNet.Configs.ManualConfig
    {
        public FmaPeakConfig() => AddColumn(new FmaGflopsColumn());
    }

    /// <summary>Loop iterations per thread and invocation.</summary>
    internal const long Iterations = 4_000_000;

    /// <summary>Independent accumulator chains per thread.</summary>
    internal const int Chains = 12;

    private ComputePool? _pool;
    private FmaWork? _work;

    /// <summary>Threads running the loop at once.</summary>
    [Params(1, 2)]
    public int Threads { get; set; }

    /// <summary>Vector width in bits: 256 always, 512 only where hardware accelerated (the fallback would measure nothing useful).</summary>
    [ParamsSource(nameof(Widths))]
    public int Width { get; set; }

    /// <summary>The widths measured on this machine.</summary>
    public static IEnumerable<int> Widths() => Vector512.IsHardwareAccelerated ? [256, 512] : [256];

    /// <summary>A pool with exactly <see cref="Threads"/> threads.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _pool = new ComputePool(Threads);
        _work = new FmaWork(Width);
    }

    /// <summary>Stops the pool's workers.</summary>
    [GlobalCleanup]
    public void Cleanup() => _pool?.Dispose();

    /// <summary>One chain set per thread, all threads at once.</summary>
    [Benchmark]
    public float Fma()
    {
        _pool!.Run(_work!, Threads);
        return _work!.Sink;
    }

    private sealed class FmaWork(int width) : IComputeWork
    {
        public float Sink;

        public void Run(int item) => Sink = width == 512 ? Fma512(Iterations) : Fma256(Iterations);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    internal static float Fma256(long iterations)
    {
        Vector256<float> a = Vector256.Create(0.999999f), b = Vector256.Create(1e-7f);
        Vector256<float> c0 = Vector256.Create(1f), c1 = c0 + b, c2 = c1 + b, c3 = c2 + b, c4 = c3 + b, c5 = c4 + b;
        Vector256<float> c6 = c5 + b, c7 = c6 + b, c8 = c7 + b, c9 = c8 + b, c10 = c9 + b, c11 = c10 + b;
        for (long i = 0; i < iterations; i++)
        {
            c0 = Vector256.FusedMultiplyAdd(c0, a, b);
            c1 = Vector256.FusedMultiplyAdd(c1, a, b);
            c2 = Vector256.FusedMultiplyAdd(c2, a, b);
            c3 = Vector256.FusedMultiplyAdd(c3, a, b);
            c4 = Vector256.FusedMultiplyAdd(c4, a, b);
            c5 = Vector256.FusedMultiplyAdd(c5, a, b);
            c6 = Vector256.FusedMultiplyAdd(c6, a, b);
            c7 = Vector256.FusedMultiplyAdd(c7, a, b);
            c8 = Vector256.FusedMultiplyAdd(c8, a, b);
            c9 = Vector256.FusedMultiplyAdd(c9, a, b);
            c10 = Vector256.FusedMultiplyAdd(c10, a, b);
            c11 = Vector256.FusedMultiplyAdd(c11, a, b);
        }
        return Vector256.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    internal static float Fma512(long iterations)
    {
        Vector512<float> a = Vector512.Create(0.999999f), b = Vector512.Create(1e-7f);
        Vector512<float> c0 = Vector512.Create(1f), c1 = c0 + b, c2 = c1 + b, c3 = c2 + b, c4 = c3 + b, c5 = c4 + b;
        Vector512<float> c6 = c5 + b, c7 = c6 + b, c8 = c7 + b, c9 = c8 + b, c10 = c9 + b, c11 = c10 + b;
        for (long i = 0; i < iterations; i++)
        {
            c0 = Vector512.FusedMultiplyAdd(c0, a, b);
            c1 = Vector512.FusedMultiplyAdd(c1, a, b);
            c2 = Vector512.FusedMultiplyAdd(c2, a, b);
            c3 = Vector512.FusedMultiplyAdd(c3, a, b);
            c4 = Vector512.FusedMultiplyAdd(c4, a, b);
            c5 = Vector512.FusedMultiplyAdd(c5, a, b);
            c6 = Vector512.FusedMultiplyAdd(c6, a, b);
            c7 = Vector512.FusedMultiplyAdd(c7, a, b);
            c8 = Vector512.FusedMultiplyAdd(c8, a, b);
            c9 = Vector512.FusedMultiplyAdd(c9, a, b);
            c10 = Vector512.FusedMultiplyAdd(c10, a, b);
            c11 = Vector512.FusedMultiplyAdd(c11, a, b);
        }
        return Vector512.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }
}

/// <summary>GFLOP/s of <see cref="FmaPeakBenchmarks"/>: threads · iterations · chains · lanes · 2 / mean.</summary>
public sealed class FmaGflopsColumn : IColumn
{
    /// <inheritdoc />
    public string Id => "FmaGFLOPs";
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
    public string Legend => "Peak FMA throughput: threads · iterations · 12 chains · lanes · 2 / mean";
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
        int threads = 1, width = 256;
        foreach (var parameter in benchmarkCase.Parameters.Items)
        {
            if (parameter.Name == nameof(FmaPeakBenchmarks.Threads) && parameter.Value is int t)
            {
                threads = t;
            }
            else if (parameter.Name == nameof(FmaPeakBenchmarks.Width) && parameter.Value is int w)
            {
                width = w;
            }
        }
        double flops = threads * (double)FmaPeakBenchmarks.Iterations * FmaPeakBenchmarks.Chains * (width / 32) * 2;
        double seconds = report.ResultStatistics.Mean * 1e-9;
        return (flops / seconds / 1e9).ToString("F1", System.Globalization.CultureInfo.InvariantCulture);
    }
}
