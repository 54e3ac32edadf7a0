using System.Text.Json;
using BigBirdSharp.Cli;
using static BigBirdSharp.Tests.Tokenization.TokenizerFixtures;

namespace BigBirdSharp.Tests.Tokenization;

public sealed class TokenizeCommandTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("bbtokcli").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = BigBirdCli.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Theory]
    [InlineData("bigbird_gpt2")]
    [InlineData("test_sentencepiece")]
    [InlineData("trained_bpe_bf")]
    public void Writes_hf_ids_for_every_fixture_case(string model)
    {
        var cases = Cases(model).GetProperty("cases").EnumerateArray().ToList();
        string input = Path.Combine(dir, "in.jsonl"), output = Path.Combine(dir, "out.jsonl");
        File.WriteAllLines(input, cases.Select(c => JsonSerializer.Serialize(new Dictionary<string, string?>
        {
            ["text"] = c.GetProperty("text").GetString(),
            ["text_pair"] = Str(c.GetProperty("text_pair")),
        })).Append(""));
        var (code, stdout, stderr) = Run("tokenize", "--model", ModelDir(model), "--input", input, "--output", output);
        Assert.True(code == 0, stderr);
        Assert.Contains($"tokenized {cases.Count} documents", stderr);
        var lines = File.ReadAllLines(output);
        Assert.Equal(cases.Count, lines.Length);
        for (int i = 0; i < lines.Length; i++)
        {
            using var got = JsonDocument.Parse(lines[i]);
            Assert.Equal(["input_ids", "token_type_ids", "attention_mask", "tokens", "offsets"], got.RootElement.EnumerateObject().Select(p => p.Name));
            foreach (var key in new[] { "input_ids", "token_type_ids", "attention_mask" })
                Assert.Equal(Ints(cases[i].GetProperty(key)), Ints(got.RootElement.GetProperty(key)));
        }
    }

    [Fact]
    public void Bad_lines_are_error_records_bad_models_fail_with_code_1_and_usage_errors_with_2()
    {
        string input = Path.Combine(dir, "bad.jsonl"), output = Path.Combine(dir, "o.jsonl");
        File.WriteAllText(input, "{\"text\": \"ok\"}\n{\"id\": \"b\", \"text\": 5}\n{\"text\": \"ok\"\n{\"text\": \"also ok\"}\n");
        var (code, _, stderr) = Run("tokenize", "--model", ModelDir("bigbird_gpt2"), "--input", input, "--output", output);
        Assert.True(code == 4, stderr);
        var lines = File.ReadAllLines(output).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(4, lines.Length);
        Assert.True(lines[0].TryGetProperty("input_ids", out _));
        Assert.Equal("b", lines[1].GetProperty("id").GetString());
        Assert.Equal($"{input}:2 (id \"b\")", lines[1].GetProperty("source").GetString());
        Assert.Equal("\"text\" must be a string.", lines[1].GetProperty("error").GetString());
        Assert.Equal(JsonValueKind.Null, lines[2].GetProperty("id").ValueKind);
        Assert.StartsWith("not valid JSON", lines[2].GetProperty("error").GetString());
        Assert.True(lines[3].TryGetProperty("input_ids", out _));

        File.WriteAllText(input, "{\"text\": \"ok\"}\n");
        string badModel = Path.Combine(dir, "model");
        Directory.CreateDirectory(badModel);
        File.WriteAllBytes(Path.Combine(badModel, "spiece.model"), [0x0A, 0x7F, 1]);
        (code, _, stderr) = Run("tokenize", "--model", badModel, "--input", input, "--output", output);
        Assert.Equal(1, code);
        Assert.Contains("spiece.model: malformed SentencePiece model", stderr);

        (code, _, stderr) = Run("tokenize", "--model", ModelDir("bigbird_gpt2"));
        Assert.Equal(2, code);
        Assert.Contains("give the text as an argument", stderr);
    }
}
