using System.Text.Json;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Cli;

/// <summary>
/// <c>bigbird tokenize</c>: each document (an argument, <c>--text</c>, <c>--input FILE|-</c>, stdin, a JSON batch of
/// <c>{"text": ..., "text_pair": ..., "id": ...}</c>, or <c>--lines</c>) becomes one JSON line
/// <c>{"id"?, "input_ids", "token_type_ids", "attention_mask", "tokens", "offsets"}</c>, with <c>[CLS]</c>/<c>[SEP]</c>
/// added as HF's BigBirdTokenizer adds them (on a BigBirdPegasus folder, <c>&lt;/s&gt;</c> as HF's PegasusTokenizer does); <c>offsets</c> are [start, end) character spans in the text each token came
/// from ([0, 0] for the added tokens). Written to stdout, or to <c>--output FILE</c>.
/// </summary>
internal static class TokenizeCommand
{
    /// <summary>Runs the command; returns the exit code.</summary>
    internal static int Run(TextCommandContext c)
    {
        var docs = c.ReadDocuments("text", "text_pair", false, null, null, allowEmpty: true); // HF tokenizes "" as [CLS] [SEP]
        string model = BigBirdCli.ModelOrDefault(c.Options, c.Stderr);
        Func<string, string?, TokenizerEncoding> encode;
        Func<int[], string[]> tokensOf;
        if (IsPegasusFolder(model))
        {
            // a BigBirdPegasus folder: HF's AutoTokenizer gives PegasusTokenizer (`</s>` appended, ids offset by 103)
            var pegasus = PegasusTokenizer.FromPretrained(model);
            encode = (text, pair) => pegasus.Encode(text, pair);
            tokensOf = ids => pegasus.ConvertIdsToTokens(ids);
        }
        else
        {
            var bigbird = BigBirdTokenizer.FromPretrained(model);
            encode = (text, pair) => bigbird.Encode(text, pair);
            tokensOf = ids => bigbird.ConvertIdsToTokens(ids);
        }
        int code = c.ForEach(docs, doc =>
        {
            var enc = encode(doc.Text, doc.Pair);
            var tokens = tokensOf(enc.InputIds);
            c.WriteJson(doc, w =>
            {
                WriteArray(w, "input_ids", enc.InputIds);
                WriteArray(w, "token_type_ids", enc.TokenTypeIds);
                WriteArray(w, "attention_mask", enc.AttentionMask);
                w.WriteStartArray("tokens");
                foreach (var token in tokens) w.WriteStringValue(token);
                w.WriteEndArray();
                w.WriteStartArray("offsets");
                foreach (var offset in enc.Offsets)
                {
                    w.WriteStartArray();
                    w.WriteNumberValue(offset.Start);
                    w.WriteNumberValue(offset.End);
                    w.WriteEndArray();
                }
                w.WriteEndArray();
            });
            return enc.Length;
        });
        string output = c.Options.Get("--output") ?? "-";
        c.Info($"tokenized {docs.Count} document{(docs.Count == 1 ? "" : "s")} → {(output == "-" ? "stdout" : output)}");
        return code;
    }

    /// <summary>Whether <paramref name="model"/> holds a Pegasus tokenizer: its tokenizer_config.json names PegasusTokenizer,
    /// or its config.json is a bigbird_pegasus one (whose folders HF tokenizes with PegasusTokenizer).</summary>
    internal static bool IsPegasusFolder(string model) =>
        PegasusTokenizer.NamesPegasusTokenizer(model) ||
        File.Exists(Path.Combine(model, "config.json")) && Configuration.ConfigFile.ModelTypeOf(model) == Configuration.BigBirdPegasusConfig.ModelType;

    private static void WriteArray(Utf8JsonWriter w, string name, int[] values)
    {
        w.WriteStartArray(name);
        foreach (int v in values) w.WriteNumberValue(v);
        w.WriteEndArray();
    }
}
