namespace BigBirdSharp.Tests.Api;

/// <summary>BigBirdDefaultModel: where the embedded default model is, and the typed error when it is not there.</summary>
public sealed class DefaultModelLocatorTests
{
    [Fact]
    public void The_default_model_folders_are_next_to_the_application()
    {
        // the test project's output carries them, as an application referencing the package does
        Assert.Equal(Path.Combine(AppContext.BaseDirectory, "models", "default"), BigBirdDefaultModel.Directory);
        Assert.Equal(Path.Combine(AppContext.BaseDirectory, "models", "default-causal"), BigBirdDefaultModel.CausalDirectory);
        Assert.True(File.Exists(Path.Combine(BigBirdDefaultModel.Directory, "spiece.model")));
        Assert.True(File.Exists(Path.Combine(BigBirdDefaultModel.CausalDirectory, "config.json")));
    }

    [Fact]
    public void A_missing_default_model_is_a_typed_error_naming_the_path()
    {
        string root = Directory.CreateTempSubdirectory("bigbird-app").FullName;
        try
        {
            string expected = Path.Combine(root, "models", "default");
            var e = Assert.Throws<DefaultModelNotFoundException>(() => BigBirdDefaultModel.Locate(root, "default"));
            Assert.Equal(expected, e.Directory);
            Assert.StartsWith(expected + ":", e.Message);
            // a folder without config.json is not the model either
            Directory.CreateDirectory(expected);
            Assert.Equal(expected, Assert.Throws<DefaultModelNotFoundException>(() => BigBirdDefaultModel.Locate(root, "default")).Directory);
            File.WriteAllText(Path.Combine(expected, "config.json"), "{}");
            Assert.Equal(expected, BigBirdDefaultModel.Locate(root, "default"));
        }
        finally { Directory.Delete(root, recursive: true); }
    }
}
