using System.Text.Json;
using BigBirdSharp.Tokenization;
using static BigBirdSharp.Tests.Tokenization.TokenizerFixtures;

namespace BigBirdSharp.Tests.Tokenization;

/// <summary>Exact equality with HF's slow BigBirdTokenizer (4.27.1) on every fixture model and text.</summary>
public class BigBirdTokenizerParityTests
{
    [Theory]
    [MemberData(nameof(Models), MemberType = typeof(TokenizerFixtures))]
    public void Loads_like_hf(string model)
    {
        var tok = Tokenizer(model);
        var c = Cases(model);
        Assert.Equal(c.GetProperty("vocab_size").GetInt32(), tok.VocabSize);
        var added = c.GetProperty("added_tokens").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
        Assert.Equal(added.OrderBy(p => p.Key), tok.AddedTokens.OrderBy(p => p.Key));
        Assert.Equal(Ints(c.GetProperty("all_special_ids")), tok.AllSpecialIds);
    }

    [Theory]
    [MemberData(nameof(Models), MemberType = typeof(TokenizerFixtures))]
    public void Encodings_equal_hf(string model)
    {
        var tok = Tokenizer(model);
        var failures = new List<string>();
        var all = Cases(model).GetProperty("cases").EnumerateArray().ToList();
        foreach (var c in all)
        {
            string text = c.GetProperty("text").GetString()!;
            string? pair = Str(c.GetProperty("text_pair"));
            var enc = tok.Encode(text, pair);
            var ids = Ints(c.GetProperty("input_ids"));
            if (!ids.SequenceEqual(enc.InputIds))
                failures.Add($"ids {JsonSerializer.Serialize(text)} / {JsonSerializer.Serialize(pair)}: HF {Show(ids)} ours {Show(enc.InputIds)}");
            else if (!Ints(c.GetProperty("token_type_ids")).SequenceEqual(enc.TokenTypeIds))
                failures.Add($"token types {JsonSerializer.Serialize(text)}");
            else if (!Ints(c.GetProperty("attention_mask")).SequenceEqual(enc.AttentionMask))
                failures.Add($"mask {JsonSerializer.Serialize(text)}");
            else if (!c.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()).SequenceEqual(tok.ConvertIdsToTokens(enc.InputIds)))
                failures.Add($"tokens {JsonSerializer.Serialize(text)}");
            else if (!c.GetProperty("tokenized").EnumerateArray().Select(t => t.GetString()).SequenceEqual(tok.Tokenize(text)))
                failures.Add($"tokenize {JsonSerializer.Serialize(text)}: HF {JsonSerializer.Serialize(c.GetProperty("tokenized"))} ours {JsonSerializer.Serialize(tok.Tokenize(text))}");
        }
        AssertNone(failures, all.Count);
    }

    [Fact]
    public void Long_document_equals_hf()
    {
        var tok = Tokenizer("bigbird_gpt2");
        var c = Cases("bigbird_gpt2").GetProperty("long");
        string text = c.GetProperty("text").GetString()!;
        Assert.True(text.Length > 35_000);
        Assert.Equal(Ints(c.GetProperty("input_ids")), tok.Encode(text).InputIds);
        var cut = tok.Encode(text, options: new TokenizerEncodeOptions
        {
            Truncation = TruncationStrategy.LongestFirst, MaxLength = 4096, Padding = PaddingStrategy.MaxLength, PadToMultipleOf = 64,
        });
        Assert.Equal(Ints(c.GetProperty("truncated_input_ids")), cut.InputIds);
    }

    // 200 seeded random mixes of special tokens, whitespace, NFKC-sensitive characters, CJK, emoji and ASCII.
    [Theory]
    [MemberData(nameof(Models), MemberType = typeof(TokenizerFixtures))]
    public void Random_texts_equal_hf(string model)
    {
        var tok = Tokenizer(model);
        var failures = new List<string>();
        var all = Cases(model).GetProperty("random").EnumerateArray().ToList();
        foreach (var c in all)
        {
            string text = c.GetProperty("text").GetString()!;
            var ids = Ints(c.GetProperty("input_ids"));
            var ours = tok.Encode(text).InputIds;
            if (!ids.SequenceEqual(ours))
                failures.Add($"ids {JsonSerializer.Serialize(text)}: HF {Show(ids)} ours {Show(ours)}");
            else if (tok.Decode(ids) != c.GetProperty("decoded").GetString())
                failures.Add($"decode {JsonSerializer.Serialize(text)}: HF {JsonSerializer.Serialize(c.GetProperty("decoded").GetString())} ours {JsonSerializer.Serialize(tok.Decode(ids))}");
        }
        AssertNone(failures, all.Count);
    }

    [Theory]
    [MemberData(nameof(Models), MemberType = typeof(TokenizerFixtures))]
    public void Decodes_equal_hf(string model)
    {
        var tok = Tokenizer(model);
        var failures = new List<string>();
        int total = 0;
        void Check(JsonElement c, int[] ids)
        {
            total++;
            void One(string key, string ours)
            {
                string hf = c.GetProperty(key).GetString()!;
                if (hf != ours) failures.Add($"{key} {Show(ids)}: HF {JsonSerializer.Serialize(hf)} ours {JsonSerializer.Serialize(ours)}");
            }
            One("decoded", tok.Decode(ids));
            One("decoded_skip_special", tok.Decode(ids, skipSpecialTokens: true));
            One("decoded_no_cleanup", tok.Decode(ids, cleanUpTokenizationSpaces: false));
            if (c.TryGetProperty("decoded_no_spaces", out _))
                One("decoded_no_spaces", tok.Decode(ids, spacesBetweenSpecialTokens: false));
        }
        foreach (var c in Cases(model).GetProperty("cases").EnumerateArray()) Check(c, Ints(c.GetProperty("input_ids")));
        foreach (var c in Cases(model).GetProperty("decodes").EnumerateArray()) Check(c, Ints(c.GetProperty("ids")));
        AssertNone(failures, total);
    }

    [Theory]
    [MemberData(nameof(Models), MemberType = typeof(TokenizerFixtures))]
    public void Offsets_equal_sentencepiece(string model)
    {
        var tok = Tokenizer(model);
        var failures = new List<string>();
        var all = Cases(model).GetProperty("offsets").EnumerateArray().ToList();
        foreach (var c in all)
        {
            string text = c.GetProperty("text").GetString()!;
            var ids = Ints(c.GetProperty("ids"));
            var offsets = c.GetProperty("offsets").EnumerateArray().Select(o => new TokenOffset(o[0].GetInt32(), o[1].GetInt32())).ToArray();
            var sp = tok.SentencePiece.Encode(text);
            if (!ids.SequenceEqual(sp.Select(p => p.Id)))
                failures.Add($"sp ids {JsonSerializer.Serialize(text)}: {Show(ids)} vs {Show(sp.Select(p => p.Id))}");
            else if (!offsets.SequenceEqual(sp.Select(p => new TokenOffset(p.Start, p.End))))
                failures.Add($"sp offsets {JsonSerializer.Serialize(text)}: {string.Join(",", offsets)} vs {string.Join(",", sp.Select(p => (p.Start, p.End)))}");
            // The tokenizer (no special tokens in these texts) must give the same spans.
            var enc = tok.Encode(text, options: new TokenizerEncodeOptions { AddSpecialTokens = false });
            if (!offsets.SequenceEqual(enc.Offsets))
                failures.Add($"tokenizer offsets {JsonSerializer.Serialize(text)}");
        }
        AssertNone(failures, all.Count);
    }

    [Theory]
    [MemberData(nameof(Models), MemberType = typeof(TokenizerFixtures))]
    public void Batches_equal_hf(string model)
    {
        var tok = Tokenizer(model);
        var failures = new List<string>();
        var all = Cases(model).GetProperty("batches").EnumerateArray().ToList();
        foreach (var b in all)
        {
            var texts = b.GetProperty("texts").EnumerateArray().Select(t => t.GetString()!).ToArray();
            string[]? pairs = b.GetProperty("text_pairs").ValueKind == JsonValueKind.Null
                ? null : b.GetProperty("text_pairs").EnumerateArray().Select(t => t.GetString()!).ToArray();
            var trunc = b.GetProperty("truncation");
            var options = new TokenizerEncodeOptions
            {
                Padding = b.GetProperty("padding").GetString() switch
                {
                    "longest" => PaddingStrategy.Longest,
                    "max_length" => PaddingStrategy.MaxLength,
                    _ => PaddingStrategy.DoNotPad,
                },
                Truncation = trunc.ValueKind == JsonValueKind.False ? TruncationStrategy.DoNotTruncate : trunc.GetString() switch
                {
                    "longest_first" => TruncationStrategy.LongestFirst,
                    "only_first" => TruncationStrategy.OnlyFirst,
                    "only_second" => TruncationStrategy.OnlySecond,
                    var s => throw new InvalidOperationException(s),
                },
                MaxLength = b.GetProperty("max_length").ValueKind == JsonValueKind.Null ? null : b.GetProperty("max_length").GetInt32(),
                PadToMultipleOf = b.GetProperty("pad_to_multiple_of").ValueKind == JsonValueKind.Null ? null : b.GetProperty("pad_to_multiple_of").GetInt32(),
            };
            var rows = tok.EncodeBatch(texts, pairs, options);
            string name = JsonSerializer.Serialize(options);
            if (!IntRows(b.GetProperty("input_ids")).Select(Show).SequenceEqual(rows.Select(r => Show(r.InputIds))))
                failures.Add($"ids {name}: HF {string.Join(" ", IntRows(b.GetProperty("input_ids")).Select(Show))} ours {string.Join(" ", rows.Select(r => Show(r.InputIds)))}");
            else if (!IntRows(b.GetProperty("token_type_ids")).Select(Show).SequenceEqual(rows.Select(r => Show(r.TokenTypeIds))))
                failures.Add($"types {name}");
            else if (!IntRows(b.GetProperty("attention_mask")).Select(Show).SequenceEqual(rows.Select(r => Show(r.AttentionMask))))
                failures.Add($"mask {name}");
        }
        AssertNone(failures, all.Count);
    }
}
