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
        string folder = ModelFolder.DefaultDirectory;
        var lines = new List<string>();
        // --- as in README.md, with the folder and head of the default model ---
        using var model = BigBirdPreTrainedModel.Load(folder, "BigBirdForMaskedLM");
        var tokenizer = BigBirdTokenizer.FromPretrained(folder);
        var fillMask = new FillMaskPipeline(model, tokenizer);
        foreach (var (position, candidates) in fillMask.Run("And the children of [MASK] went out of the land.").Masks)
            lines.Add($"{candidates[0].TokenStr} {candidates[0].Score:0.000}");

        var hidden = model.Bert.Forward(BigBirdInputs.FromIds([tokenizer.Encode("A long document …").InputIds])).LastHiddenState; // [1, seq, 256]
        // ---
        Assert.Matches(@"^Israel 0[.,]138$", Assert.Single(lines));
        Assert.Equal(3, hidden.Shape.Length);
        Assert.Equal(256, hidden.Shape[2]);
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
