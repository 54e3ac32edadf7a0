using BenchmarkDotNet.Running;

namespace BigBirdSharp.Bench;

/// <summary>Entry point: pick benchmarks with BenchmarkDotNet's switcher, e.g. <c>--filter *Gemm* --job short</c>.</summary>
public static class Program
{
    /// <summary>Runs the benchmarks chosen on the command line.</summary>
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
