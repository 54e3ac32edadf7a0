using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Tests.Tokenization;

/// <summary>
/// HF's SpmConverter writes the whitespace-collapsing normalizer as <c>Replace</c> with <c>{"Regex": " {2,}"}</c>
/// (fuzz finding F6: only the <c>String</c> spelling was read, so a real HF tokenizer.json was refused).
/// </summary>
public sealed class TokenizerJsonReplaceTests
{
    private static string Seed(string name) => Path.Combine(RepoPaths.Root, "fixtures", "fuzz", "tokenizer-json", "seeds", name);

    [Fact]
    public void The_regex_spelling_of_the_replace_normalizer_loads_and_collapses_runs_of_spaces()
    {
        string dir = Path.Combine(Path.GetTempPath(), "bbs-tj-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            File.Copy(Seed("valid_unigram_regex_replace.json"), Path.Combine(dir, "tokenizer.json"));
            var tokenizer = BigBirdTokenizer.FromPretrained(dir);
            Assert.Equal(tokenizer.Encode("a b").InputIds, tokenizer.Encode("a     b").InputIds);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
