using SharpFuzz;

namespace BigBirdSharp.Fuzz;

/// <summary>
/// The fuzz driver. <c>BigBirdSharp.Fuzz TARGET</c> runs under afl-fuzz (SharpFuzz's persistent AFL mode; input on
/// standard input); <c>BigBirdSharp.Fuzz replay TARGET FILE|FOLDER...</c> runs files once each and prints every
/// crash with its stack (exit code 1 if any). Targets: see <see cref="FuzzHarness.Targets"/>.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length == 1 && FuzzHarness.Targets.Contains(args[0]))
        {
            using var harness = new FuzzHarness(FuzzFixtures());
            string target = args[0];
            Fuzzer.Run(stream =>
            {
                using var buffer = new MemoryStream();
                stream.CopyTo(buffer);
                harness.Run(target, buffer.ToArray());
            });
            return 0;
        }
        if (args.Length >= 3 && args[0] == "replay" && FuzzHarness.Targets.Contains(args[1]))
        {
            using var harness = new FuzzHarness(FuzzFixtures());
            int crashes = 0, count = 0;
            bool triage = Environment.GetEnvironmentVariable("BIGBIRD_FUZZ_TRIAGE") == "1";
            var groups = new SortedDictionary<string, List<string>>(StringComparer.Ordinal);
            foreach (var arg in args.Skip(2))
            {
                var files = Directory.Exists(arg) ? Directory.GetFiles(arg).Order(StringComparer.Ordinal).ToArray() : [arg];
                foreach (var file in files)
                {
                    count++;
                    try
                    {
                        harness.Run(args[1], File.ReadAllBytes(file));
                        if (Environment.GetEnvironmentVariable("BIGBIRD_FUZZ_VERBOSE") == "1")
                            Console.WriteLine($"{(harness.LastTypedError is { } t ? t.GetType().Name + ": " + t.Message : "loaded")}  <- {file}");
                    }
                    catch (Exception e)
                    {
                        crashes++;
                        if (!triage)
                        {
                            Console.WriteLine($"CRASH {file}\n{e}\n");
                            continue;
                        }
                        string signature = Signature(e);
                        if (!groups.TryGetValue(signature, out var list)) groups[signature] = list = [];
                        list.Add(file);
                    }
                }
            }
            foreach (var (signature, files) in groups)
                Console.WriteLine($"{files.Count,5} x {signature}\n        e.g. {files.MinBy(f => new FileInfo(f).Length)}");
            Console.WriteLine($"{args[1]}: {count} inputs, {crashes} crashes");
            return crashes == 0 ? 0 : 1;
        }
        Console.Error.WriteLine("usage: BigBirdSharp.Fuzz TARGET            (under afl-fuzz; see fixtures/fuzz/run.sh)");
        Console.Error.WriteLine("       BigBirdSharp.Fuzz replay TARGET FILE|FOLDER...");
        Console.Error.WriteLine("targets: " + string.Join(", ", FuzzHarness.Targets));
        return 2;
    }

    /// <summary>A crash's bucket: the exception type and the innermost BigBirdSharp frame it passed.</summary>
    private static string Signature(Exception e)
    {
        var frames = (e.StackTrace ?? "").Split('\n').Select(l => l.Trim());
        string top = frames.FirstOrDefault(l => l.StartsWith("at BigBirdSharp.", StringComparison.Ordinal)
                                                && !l.StartsWith("at BigBirdSharp.Fuzz.", StringComparison.Ordinal)) ?? frames.FirstOrDefault() ?? "";
        int inAt = top.IndexOf(" in ", StringComparison.Ordinal);
        return $"{e.GetType().FullName} {(inAt > 0 ? top[..inAt] : top)}";
    }

    /// <summary>The repository's fixtures/fuzz, found by walking up to BigBirdSharp.sln (or $BIGBIRD_FUZZ_FIXTURES).</summary>
    private static string FuzzFixtures()
    {
        if (Environment.GetEnvironmentVariable("BIGBIRD_FUZZ_FIXTURES") is { Length: > 0 } env) return env;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "BigBirdSharp.sln"))) return Path.Combine(dir.FullName, "fixtures", "fuzz");
        throw new InvalidOperationException("cannot find BigBirdSharp.sln above " + AppContext.BaseDirectory);
    }
}
