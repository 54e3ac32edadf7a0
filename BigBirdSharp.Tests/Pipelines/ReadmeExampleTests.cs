using BigBirdSharp.Cli;
using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Pipelines;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Tests.Pipelines;

/// <summary>The README's library example compiles and runs (on the default model instead of bigbird-roberta-base).</summary>
public sealed class ReadmeExampleTests
{
    [Fact]
    public void The_readme_library_example_runs()
    {
        var lines = new List<string>();
        // --- README.md's library example, as written (Console.WriteLine collects into lines) ---
        string folder = BigBirdDefaultModel.Directory; // or any Hugging Face BigBird checkpoint folder
        using var model = BigBirdForMaskedLM.FromPretrained(folder, new BigBirdModelOptions { Threads = 2 });
        var tokenizer = BigBirdTokenizer.FromPretrained(folder);
        var fillMask = new FillMaskPipeline(model, tokenizer);
        foreach (var (position, candidates) in fillMask.Run("And the children of [MASK] went out of the land.").Masks)
            lines.Add($"{candidates[0].TokenStr} {candidates[0].Score:0.000}"); // Israel 0.138

        var query = model.Bert.Encoder.Layer[3].Attention.Self.Query; // HF's bert.encoder.layer.3.attention.self.query
        var hidden = model.Bert.Forward(BigBirdInputs.FromIds([tokenizer.Encode("A long document …").InputIds])).LastHiddenState; // [1, seq, 256]
        // ---
        Assert.Matches(@"^Israel 0[.,]138$", Assert.Single(lines));
        Assert.Equal(3, hidden.Shape.Length);
        Assert.Equal(256, hidden.Shape[2]);
        Assert.Equal(256, query.OutFeatures);
    }

    [Fact]
    public void The_readme_library_example_is_the_code_the_test_runs()
    {
        var readme = File.ReadAllLines(Path.Combine(RepoPaths.Root, "README.md"));
        int section = Array.IndexOf(readme, "## The library");
        int open = Array.IndexOf(readme, "```csharp", section), close = Array.IndexOf(readme, "```", open + 1);
        var example = readme[(open + 1)..close].Where(l => l.Length > 0 && !l.StartsWith("using BigBirdSharp", StringComparison.Ordinal)).ToList();

        var source = File.ReadAllLines(Path.Combine(RepoPaths.Root, "BigBirdSharp.Tests", "Pipelines", "ReadmeExampleTests.cs"));
        int from = Array.FindIndex(source, l => l.Contains("// --- README.md's library example")), to = Array.FindIndex(source, from + 1, l => l.Trim() == "// ---");
        var run = source[(from + 1)..to].Where(l => l.Length > 0)
            .Select(l => l[8..].Replace("lines.Add(", "Console.WriteLine(", StringComparison.Ordinal)).ToList();

        Assert.True(example.Count >= 8, "README.md's library example was not found");
        Assert.Equal(example, run);
        // the usings the example needs are the ones README.md shows
        foreach (var ns in new[] { "BigBirdSharp", "BigBirdSharp.Modeling", "BigBirdSharp.Modeling.Heads", "BigBirdSharp.Pipelines", "BigBirdSharp.Tokenization" })
            Assert.Contains($"using {ns};", readme[open..close]);
    }

    /// <summary>Each <c>$ bigbird …</c> line of README.md with the output printed under it.</summary>
    public static TheoryData<int> ReadmeCommands() => [.. Enumerable.Range(0, CommandsInReadme().Count)];

    private static List<(string[] Args, string Expected)> CommandsInReadme()
    {
        var lines = File.ReadAllLines(Path.Combine(RepoPaths.Root, "README.md"));
        var commands = new List<(string[], string)>();
        for (int i = 0; i < lines.Length; i++)
        {
            if (!lines[i].StartsWith("$ bigbird ", StringComparison.Ordinal)) continue;
            var expected = new List<string>();
            for (int j = i + 1; j < lines.Length && !lines[j].StartsWith("$ ", StringComparison.Ordinal) && lines[j] != "```"; j++)
                expected.Add(lines[j]);
            commands.Add((SplitArgs(lines[i]["$ bigbird ".Length..]), string.Join("\n", expected)));
        }
        return commands;
    }

    /// <summary>Shell-style words: spaces separate, double quotes group.</summary>
    private static string[] SplitArgs(string line)
    {
        var args = new List<string>();
        var current = new System.Text.StringBuilder();
        bool quoted = false, any = false;
        foreach (char c in line)
        {
            if (c == '"') { quoted = !quoted; any = true; }
            else if (c == ' ' && !quoted)
            {
                if (any) args.Add(current.ToString());
                current.Clear();
                any = false;
            }
            else { current.Append(c); any = true; }
        }
        if (any) args.Add(current.ToString());
        return [.. args];
    }

    [Theory]
    [MemberData(nameof(ReadmeCommands))]
    public void The_readme_command_examples_print_what_the_readme_shows(int index)
    {
        var (args, expected) = CommandsInReadme()[index];
        var (code, stdout, stderr) = Cli.TextCommandTests.Run(args);
        Assert.True(code == BigBirdCli.Ok, stderr);
        Assert.Equal(expected, stdout.TrimEnd('\n').Replace("\r\n", "\n"));
    }
}
