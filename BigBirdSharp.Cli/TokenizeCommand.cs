using System.Text.Json;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Cli;

/// <summary><c>bigbird tokenize --model DIR --input FILE.jsonl --output FILE.jsonl</c>: each input line
/// <c>{"text": ..., "text_pair": ...}</c> (<c>text_pair</c> optional) becomes an output line
/// <c>{"input_ids": [...], "token_type_ids": [...], "attention_mask": [...]}</c> with <c>[CLS]</c>/<c>[SEP]</c>
/// added as HF's BigBirdTokenizer adds them. Blank lines are skipped.</summary>
public static class TokenizeCommand
{
    /// <summary>Runs the command; returns the exit code.</summary>
    internal static int Run(BigBirdCli.Options o, TextWriter stdout, TextWriter stderr)
    {
        string model = BigBirdCli.ModelOrDefault(o, stderr), input = o.Required("--input"), output = o.Required("--output");
        o.RejectUnknown("--model", "--input", "--output", "--strict");
        if (!File.Exists(input)) throw new BigBirdInputException($"{input}: input file not found.");
        CliInput.CheckRegularFile(input, "--input");
        var tokenizer = BigBirdTokenizer.FromPretrained(model);
        int count = Tokenize(tokenizer, input, output, o.Flag("--strict"), line => stderr.WriteLine($"warning: {line}"));
        stdout.WriteLine($"tokenized {count} line{(count == 1 ? "" : "s")} → {output}");
        return BigBirdCli.Ok;
    }

    /// <summary>Tokenizes every line of <paramref name="inputPath"/> into <paramref name="outputPath"/>; returns the
    /// number of lines written.</summary>
    /// <exception cref="BigBirdInputException">A line is not a JSON object with a string <c>text</c>.</exception>
    public static int Tokenize(BigBirdTokenizer tokenizer, string inputPath, string outputPath) =>
        Tokenize(tokenizer, inputPath, outputPath, strict: false, warn: _ => { });

    /// <summary>Tokenizes every line of <paramref name="inputPath"/> into <paramref name="outputPath"/>; returns the
    /// number of lines written. Invalid UTF-8 and lone surrogate escapes are read as U+FFFD with a warning, or refused
    /// under <paramref name="strict"/>.</summary>
    /// <exception cref="BigBirdInputException">A line is not a JSON object with a string <c>text</c>, the file is not a
    /// regular file, or (strict) it holds invalid text.</exception>
    internal static int Tokenize(BigBirdTokenizer tokenizer, string inputPath, string outputPath, bool strict, Action<string> warn)
    {
        var lines = new List<(string Text, string? Pair)>();
        int lineNumber = 0;
        string content = CliInput.ReadAllText(inputPath, "--input", strict, warn);
        foreach (var raw in content.Split('\n'))
        {
            lineNumber++;
            string line = raw.TrimEnd('\r');
            if (string.IsNullOrWhiteSpace(line)) continue;
            lines.Add(ParseLine(line, inputPath, lineNumber, strict, warn));
        }
        using var stream = File.Create(outputPath);
        using var writer = new Utf8JsonWriter(stream);
        foreach (var (text, pair) in lines)
        {
            var enc = tokenizer.Encode(text, pair);
            writer.Reset();
            writer.WriteStartObject();
            WriteArray(writer, "input_ids", enc.InputIds);
            WriteArray(writer, "token_type_ids", enc.TokenTypeIds);
            WriteArray(writer, "attention_mask", enc.AttentionMask);
            writer.WriteEndObject();
            writer.Flush();
            stream.WriteByte((byte)'\n');
        }
        return lines.Count;
    }

    private static void WriteArray(Utf8JsonWriter w, string name, int[] values)
    {
        w.WriteStartArray(name);
        foreach (int v in values) w.WriteNumberValue(v);
        w.WriteEndArray();
    }

    private static (string, string?) ParseLine(string line, string path, int number, bool strict, Action<string> warn)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new BigBirdInputException($"{path}:{number}: expected a JSON object {{\"text\": ..., \"text_pair\": ...}}.");
            if (!root.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
                throw new BigBirdInputException($"{path}:{number}: \"text\" must be a string.");
            string? pair = null;
            if (root.TryGetProperty("text_pair", out var p) && p.ValueKind != JsonValueKind.Null)
                pair = p.ValueKind == JsonValueKind.String
                    ? JsonText.GetString(p, line, $"{path}:{number}", "text_pair", strict, warn)
                    : throw new BigBirdInputException($"{path}:{number}: \"text_pair\" must be a string or null.");
            foreach (var prop in root.EnumerateObject())
                if (prop.Name is not ("text" or "text_pair"))
                    throw new BigBirdInputException($"{path}:{number}: unknown key \"{prop.Name}\"; lines hold text and text_pair.");
            return (JsonText.GetString(t, line, $"{path}:{number}", "text", strict, warn), pair);
        }
        catch (JsonException e)
        {
            throw new BigBirdInputException($"{path}:{number}: not valid JSON: {e.Message}");
        }
        catch (InvalidOperationException e)
        {
            throw new BigBirdInputException($"{path}:{number}: {e.Message} (a key with a lone surrogate escape such as \\ud800 is not Unicode text)");
        }
    }
}
