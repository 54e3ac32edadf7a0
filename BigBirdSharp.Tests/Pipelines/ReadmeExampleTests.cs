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
        var tokenizer = BigBirdTokenizer.FromFolder(folder);
        var fillMask = new FillMaskPipeline(model, tokenizer);
        foreach (var (position, candidates) in fillMask.Run("And the children of [MASK] went out of the land.").Masks)
            lines.Add($"{candidates[0].TokenStr} {candidates[0].Score:0.000}");

        var hidden = model.bert.Forward(BigBirdInputs.FromIds([tokenizer.Encode("A long document …").InputIds])).LastHiddenState; // [1, seq, 256]
        // ---
        Assert.Matches(@"^Israel 0[.,]138$", Assert.Single(lines));
        Assert.Equal(3, hidden.Shape.Length);
        Assert.Equal(256, hidden.Shape[2]);
    }
}
