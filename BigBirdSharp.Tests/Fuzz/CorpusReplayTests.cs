using BigBirdSharp.Fuzz;

namespace BigBirdSharp.Tests.Fuzz;

/// <summary>
/// Replays the committed fuzz corpus (fixtures/fuzz/TARGET/{seeds,corpus,crashes}) through the same harness the fuzzer
/// runs: every file must end in success or a typed <see cref="BigBirdException"/>, never another exception. Crash
/// reproducers of findings that are still open are listed in fixtures/fuzz/known-open.txt and left out until fixed.
/// See docs/reliability.md.
/// </summary>
public sealed class CorpusReplayTests : IDisposable
{
    private static readonly string FuzzRoot = Path.Combine(RepoPaths.Fixtures, "fuzz");
    private static readonly string[] Folders = ["seeds", "corpus", "crashes"];
    private readonly FuzzHarness harness = new(FuzzRoot);

    public void Dispose() => harness.Dispose();

    /// <summary>The allowlist: paths relative to fixtures/fuzz, one a line; '#' starts a comment.</summary>
    private static HashSet<string> KnownOpen()
    {
        string file = Path.Combine(FuzzRoot, "known-open.txt");
        var set = new HashSet<string>(StringComparer.Ordinal);
        if (!File.Exists(file)) return set;
        foreach (var line in File.ReadAllLines(file))
        {
            string entry = line.Split('#')[0].Trim();
            if (entry.Length > 0) set.Add(entry);
        }
        return set;
    }

    private static IEnumerable<string> Files(string target, string folder)
    {
        string dir = Path.Combine(FuzzRoot, target, folder);
        return Directory.Exists(dir)
            ? Directory.GetFiles(dir).Select(f => Path.GetRelativePath(FuzzRoot, f).Replace('\\', '/')).Order(StringComparer.Ordinal)
            : [];
    }

    public static TheoryData<string, string> CorpusFiles()
    {
        var open = KnownOpen();
        var data = new TheoryData<string, string>();
        foreach (var target in FuzzHarness.Targets)
            foreach (var folder in Folders)
                foreach (var file in Files(target, folder))
                    if (!open.Contains(file)) data.Add(target, file);
        return data;
    }

    [Theory]
    [MemberData(nameof(CorpusFiles))]
    public void CorpusFileEndsInSuccessOrATypedError(string target, string file)
    {
        byte[] bytes = File.ReadAllBytes(Path.Combine(FuzzRoot, file));
        var error = Record.Exception(() => harness.Run(target, bytes));
        Assert.True(error is null, $"{file} through the {target} harness threw {error?.GetType().FullName}: {error}");
    }

    /// <summary>The seeds named valid_* load; those named hostile_* are refused with a typed error: the harness
    /// really reaches the loader (a harness that did nothing would pass the replay above).</summary>
    [Theory]
    [MemberData(nameof(NamedSeeds))]
    public void NamedSeedsLoadOrAreRefusedAsTheirNameSays(string target, string file)
    {
        harness.Run(target, File.ReadAllBytes(Path.Combine(FuzzRoot, file)));
        if (Path.GetFileName(file).StartsWith("valid_", StringComparison.Ordinal))
            Assert.True(harness.LastTypedError is null, $"{file} should load, but: {harness.LastTypedError?.Message}");
        else
            Assert.IsAssignableFrom<BigBirdException>(harness.LastTypedError);
    }

    public static TheoryData<string, string> NamedSeeds()
    {
        var data = new TheoryData<string, string>();
        foreach (var target in FuzzHarness.Targets)
            foreach (var file in Files(target, "seeds"))
                if (Path.GetFileName(file) is var n && (n.StartsWith("valid_", StringComparison.Ordinal) || n.StartsWith("hostile_", StringComparison.Ordinal)))
                    data.Add(target, file);
        return data;
    }

    [Fact]
    public void EveryTargetHasSeedsIncludingOneThatLoads()
    {
        foreach (var target in FuzzHarness.Targets)
        {
            var seeds = Files(target, "seeds").ToArray();
            Assert.True(seeds.Length > 0, $"fixtures/fuzz/{target}/seeds is empty");
            bool anyLoads = false;
            foreach (var seed in seeds)
            {
                harness.Run(target, File.ReadAllBytes(Path.Combine(FuzzRoot, seed)));
                anyLoads |= harness.LastTypedError is null;
            }
            Assert.True(anyLoads, $"no seed of {target} loads: the fuzzer would only explore error paths");
        }
    }

    [Fact]
    public void KnownOpenEntriesAreCrashReproducersThatExist()
    {
        foreach (var entry in KnownOpen())
        {
            Assert.Matches(@"^[a-z-]+/crashes/[^/]+$", entry);
            Assert.Contains(entry.Split('/')[0], FuzzHarness.Targets);
            Assert.True(File.Exists(Path.Combine(FuzzRoot, entry)), $"known-open.txt lists {entry}, which does not exist");
        }
    }

    [Fact]
    public void HarnessRejectsAnUnknownTargetAsACrash()
    {
        Assert.Throws<ArgumentException>(() => harness.Run("no-such-target", [1, 2, 3]));
    }

    [Fact]
    public void CorpusStaysSmall()
    {
        long total = Directory.GetFiles(FuzzRoot, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        Assert.True(total < 4L << 20, $"fixtures/fuzz holds {total} bytes; keep the committed corpus under 4 MiB (run afl-cmin)");
    }
}
