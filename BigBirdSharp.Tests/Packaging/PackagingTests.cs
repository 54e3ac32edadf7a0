using System.Xml.Linq;

namespace BigBirdSharp.Tests.Packaging;

/// <summary>The packaging contract of docs/packaging.md, read from the project files: what `dotnet pack` packs, the
/// tool's command, the licence, and that the default models land where the library and the CLI look for them.
/// (The pack and install themselves are checked by hand, as docs/packaging.md says: they need minutes and NuGet.)</summary>
public sealed class PackagingTests
{
    private static XElement Project(string relativePath) => XDocument.Load(Path.Combine(RepoPaths.Root, relativePath)).Root!;

    /// <summary>The value of a property set without a condition on its PropertyGroup, or null.</summary>
    private static string? Property(XElement project, string name) =>
        project.Elements("PropertyGroup").Where(g => g.Attribute("Condition") is null)
               .Elements(name).Select(e => e.Value.Trim()).LastOrDefault();

    private static IEnumerable<XElement> Items(XElement project, string type) => project.Elements("ItemGroup").Elements(type);

    [Fact]
    public void Only_the_library_the_gpu_backend_and_the_cli_are_packable()
    {
        var props = Project("Directory.Build.props");
        Assert.Equal("false", Property(props, "IsPackable"));
        var projects = Directory.GetFiles(RepoPaths.Root, "*.csproj", SearchOption.AllDirectories)
                                .Where(p => !p.Split(Path.DirectorySeparatorChar).Any(d => d is "bin" or "obj"))
                                .ToList();
        Assert.True(projects.Count >= 5, $"expected the solution's projects under {RepoPaths.Root}, found {projects.Count}");
        var packable = projects.Where(p => (Property(XDocument.Load(p).Root!, "IsPackable") ?? Property(props, "IsPackable")) == "true")
                               .Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(["BigBirdSharp", "BigBirdSharp.Cli", "BigBirdSharp.Gpu"], packable);
    }

    [Fact]
    public void The_cli_packs_as_the_bigbird_tool()
    {
        var cli = Project("BigBirdSharp.Cli/BigBirdSharp.Cli.csproj");
        Assert.Equal("true", Property(cli, "PackAsTool"));
        Assert.Equal("bigbird", Property(cli, "ToolCommandName"));
        Assert.Equal("bigbird", Property(cli, "PackageId"));
        Assert.Equal("Exe", Property(cli, "OutputType"));
    }

    [Fact]
    public void Every_package_has_the_apache_licence_a_readme_and_metadata()
    {
        var props = Project("Directory.Build.props");
        Assert.Equal("Apache-2.0", Property(props, "PackageLicenseExpression"));
        Assert.Equal("README.md", Property(props, "PackageReadmeFile"));
        Assert.Equal("BigBirdSharp contributors", Property(props, "Authors"));
        Assert.Equal("git", Property(props, "RepositoryType"));
        Assert.Equal("true", Property(props, "PublishRepositoryUrl"));
        Assert.Equal("true", Property(props, "Deterministic"));
        Assert.Equal("snupkg", Property(props, "SymbolPackageFormat"));
        Assert.False(string.IsNullOrWhiteSpace(Property(props, "PackageTags")));
        var packed = Items(props, "None").Where(i => (string?)i.Attribute("Pack") == "true")
                                         .Select(i => (string)i.Attribute("Include")!).ToList();
        Assert.Contains("$(MSBuildThisFileDirectory)README.md", packed);
        Assert.Contains("$(MSBuildThisFileDirectory)LICENSE", packed);
        foreach (var path in new[] { "BigBirdSharp/BigBirdSharp.csproj", "BigBirdSharp.Cli/BigBirdSharp.Cli.csproj", "BigBirdSharp.Gpu/BigBirdSharp.Gpu.csproj" })
        {
            string? description = Property(Project(path), "Description");
            Assert.True(description is { Length: > 100 }, $"{path}: no package description");
        }

        string licence = File.ReadAllText(Path.Combine(RepoPaths.Root, "LICENSE"));
        Assert.StartsWith("Apache License", licence.TrimStart());
        Assert.Contains("Version 2.0, January 2004", licence);
        Assert.Contains("END OF TERMS AND CONDITIONS", licence);
    }

    [Theory]
    [InlineData("model", "default")]
    [InlineData("causal", "default-causal")]
    public void The_library_package_carries_each_default_model_and_copies_it_to_models(string fixture, string folder)
    {
        // the package holds fixtures/default_model/<fixture> under models/<folder> ...
        var library = Project("BigBirdSharp/BigBirdSharp.csproj");
        var packed = Items(library, "None").Single(i => ((string?)i.Attribute("Include") ?? "").Replace('\\', '/')
                                                            == $"../fixtures/default_model/{fixture}/*");
        Assert.Equal("true", (string?)packed.Attribute("Pack"));
        Assert.Equal($"models/{folder}/", (string?)packed.Attribute("PackagePath"));
        Assert.True(File.Exists(Path.Combine(RepoPaths.Fixtures, "default_model", fixture, "config.json")));

        // ... and the consumer's targets copy models/<folder> from the package root to models/<folder> in the output
        var targets = Project("BigBirdSharp/buildTransitive/BigBirdSharp.targets");
        var copied = Items(targets, "None").Single(i => (string?)i.Attribute("Include") == $"$(MSBuildThisFileDirectory)../models/{folder}/*");
        Assert.Equal($"models/{folder}/%(Filename)%(Extension)", (string?)copied.Attribute("Link"));
        Assert.Equal("PreserveNewest", (string?)copied.Attribute("CopyToOutputDirectory"));
        Assert.Equal("PreserveNewest", (string?)copied.Attribute("CopyToPublishDirectory"));
        var targetsItem = Items(library, "None").Single(i => (string?)i.Attribute("Update") == @"buildTransitive\BigBirdSharp.targets");
        Assert.Equal("buildTransitive/BigBirdSharp.targets;build/BigBirdSharp.targets", (string?)targetsItem.Attribute("PackagePath"));
    }

    [Theory]
    [InlineData("model", "default")]
    [InlineData("causal", "default-causal")]
    public void The_tool_carries_each_default_model_where_the_cli_looks(string fixture, string folder)
    {
        var cli = Project("BigBirdSharp.Cli/BigBirdSharp.Cli.csproj");
        var item = Items(cli, "None").Single(i => ((string?)i.Attribute("Include") ?? "").Replace('\\', '/')
                                                      == $"../fixtures/default_model/{fixture}/**/*");
        Assert.Equal($"models/{folder}", ((string?)item.Attribute("LinkBase"))?.Replace('\\', '/'));
        Assert.Equal("PreserveNewest", (string?)item.Attribute("CopyToOutputDirectory"));
        // the tool package is the publish folder: without this the installed tool has no default model
        Assert.Equal("PreserveNewest", (string?)item.Attribute("CopyToPublishDirectory"));
        // the CLI looks under AppContext.BaseDirectory/models; this test project's output gets the CLI's copy
        string copied = Path.Combine(AppContext.BaseDirectory, "models", folder);
        foreach (var file in Directory.GetFiles(Path.Combine(RepoPaths.Fixtures, "default_model", fixture)))
            Assert.True(File.Exists(Path.Combine(copied, Path.GetFileName(file))), $"{copied}: the build did not copy {Path.GetFileName(file)}");
    }
}
