using BenchmarkDotNet.Running;

namespace BigBirdSharp.Bench;

/// <summary>
/// Entry point: <c>ort ...</c> times an ONNX Runtime peer (see <see cref="OnnxRuntimeCommand"/>), <c>breakdown ...</c>
/// splits a forward pass by operation (see <see cref="BreakdownCommand"/>); anything else goes to
/// BenchmarkDotNet's switcher, e.g. <c>--filter *Gemm* --job short</c>.
/// </summary>
public static class Program
{
    /// <summary>Runs the ONNX Runtime timing mode or the benchmarks chosen on the command line.</summary>
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "ort") return OnnxRuntimeCommand.Run(args, Console.Out, Console.Error);
        if (args.Length > 0 && args[0] == "breakdown") return BreakdownCommand.Run(args, Console.Out, Console.Error);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
