namespace BigBirdSharp.Tests;

/// <summary>Finds the repository's folders from the test binaries, by walking up to BigBirdSharp.sln.</summary>
internal static class RepoPaths
{
    private static readonly Lazy<string> root = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "BigBirdSharp.sln"))) return dir.FullName;
        throw new InvalidOperationException("cannot find BigBirdSharp.sln above " + AppContext.BaseDirectory);
    });

    public static string Root => root.Value;
    public static string Fixtures => Path.Combine(Root, "fixtures");
    public static string Models => Path.Combine(Fixtures, "models");
    public static string Cases => Path.Combine(Fixtures, "cases");
}
