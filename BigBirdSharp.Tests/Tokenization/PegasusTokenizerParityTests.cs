using System.Text.Json;
using BigBirdSharp.Tokenization;
using static BigBirdSharp.Tests.Tokenization.PegasusTokenizerFixtures;
using static BigBirdSharp.Tests.Tokenization.TokenizerFixtures;

namespace BigBirdSharp.Tests.Tokenization;

/// <summary>Exact equality with HF's slow PegasusTokenizer (4.27.1) on every fixture folder: a Pegasus-shaped trained
/// model with the folders save_pretrained writes and hand-written ones (bare, custom offset and tokens, BigBird-style
/// special tokens), HF's test SentencePiece models and the BigBird vocabulary.</summary>
public class PegasusTokenizerParityTests
{
    private static string J(object? o) => JsonSerializer.Serialize(o);

    [Theory]
    [MemberData(nameof(PegasusModels), MemberType = typeof(PegasusTokenizerFixtures))]
    public void Loads_like_hf(string model)
    {
        var tok = PegasusTok(model);
        var c = PegasusCases(model);
        Assert.Equal(c.GetProperty("vocab_size").GetInt32(), tok.VocabSize);
        Assert.Equal(c.GetProperty("len").GetInt32(), tok.Count);
        Assert.Equal(c.GetProperty("offset").GetInt32(), tok.Offset);
        var added = c.GetProperty("added_tokens").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
        Assert.Equal(added.OrderBy(p => p.Key), tok.AddedTokens.OrderBy(p => p.Key));
        Assert.Equal(c.GetProperty("all_special_tokens").EnumerateArray().Select(t => t.GetString()), tok.AllSpecialTokens);
        Assert.Equal(Ints(c.GetProperty("all_special_ids")), tok.AllSpecialIds);
        Assert.Equal(c.GetProperty("unk_token_id").GetInt32(), tok.UnkTokenId);
        Assert.Equal(c.GetProperty("eos_token_id").GetInt32(), tok.EosTokenId);
        Assert.Equal(c.GetProperty("pad_token_id").GetInt32(), tok.PadTokenId);
        Assert.Equal(c.GetProperty("mask_token_id").GetInt32(), tok.MaskTokenId);
        var mml = c.GetProperty("model_max_length");
        Assert.Equal(mml.ValueKind == JsonValueKind.Null ? (int?)null : mml.GetInt32(), tok.ModelMaxLength);
    }

    [Theory]
    [MemberData(nameof(PegasusModels), MemberType = typeof(PegasusTokenizerFixtures))]
    public void Ids_and_tokens_convert_like_hf(string model)
    {
        var tok = PegasusTok(model);
        var c = PegasusCases(model);
        var ids = Ints(c.GetProperty("id_to_token").GetProperty("ids"));
        Assert.Equal(c.GetProperty("id_to_token").GetProperty("tokens").EnumerateArray().Select(t => t.GetString()), tok.ConvertIdsToTokens(ids));
        var tokens = c.GetProperty("token_to_id").GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!).ToArray();
        Assert.Equal(Ints(c.GetProperty("token_to_id").GetProperty("ids")), tokens.Select(tok.ConvertTokenToId));
    }

    [Theory]
    [MemberData(nameof(PegasusModels), MemberType = typeof(PegasusTokenizerFixtures))]
    public void Encodings_equal_hf(string model)
    {
        var tok = PegasusTok(model);
        var failures = new List<string>();
        var all = PegasusCases(model).GetProperty("cases").EnumerateArray().ToList();
        var plainOptions = new TokenizerEncodeOptions { AddSpecialTokens = false };
        foreach (var c in all)
        {
            string text = c.GetProperty("text").GetString()!;
            string? pair = Str(c.GetProperty("text_pair"));
            string what = $"{J(text)} / {J(pair)}";
            var enc = tok.Encode(text, pair);
            var plain = tok.Encode(text, pair, plainOptions);
            int[] a = tok.Encode(text, options: plainOptions).InputIds, b = pair is null ? [] : tok.Encode(pair, options: plainOptions).InputIds;
            var ids = Ints(c.GetProperty("input_ids"));
            if (!ids.SequenceEqual(enc.InputIds))
                failures.Add($"ids {what}: HF {Show(ids)} ours {Show(enc.InputIds)}");
            else if (!Ints(c.GetProperty("attention_mask")).SequenceEqual(enc.AttentionMask))
                failures.Add($"mask {what}");
            else if (!Ints(c.GetProperty("special_tokens_mask")).SequenceEqual(enc.SpecialTokensMask))
                failures.Add($"special tokens mask {what}: HF {Show(Ints(c.GetProperty("special_tokens_mask")))} ours {Show(enc.SpecialTokensMask)}");
            else if (!Ints(c.GetProperty("special_tokens_mask")).SequenceEqual(tok.GetSpecialTokensMask(a, b)))
                failures.Add($"GetSpecialTokensMask {what}");
            else if (!Ints(c.GetProperty("special_tokens_mask_already")).SequenceEqual(tok.GetSpecialTokensMask(ids, alreadyHasSpecialTokens: true)))
                failures.Add($"special tokens mask (already has) {what}");
            else if (!Ints(c.GetProperty("plain_input_ids")).SequenceEqual(plain.InputIds))
                failures.Add($"ids without special tokens {what}");
            else if (!Ints(c.GetProperty("plain_special_tokens_mask")).SequenceEqual(plain.SpecialTokensMask))
                failures.Add($"special tokens mask without special tokens {what}");
            else if (!tok.BuildInputsWithSpecialTokens(a, b).SequenceEqual(ids))
                failures.Add($"BuildInputsWithSpecialTokens {what}");
            else if (!c.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()).SequenceEqual(tok.ConvertIdsToTokens(enc.InputIds)))
                failures.Add($"tokens {what}");
            else if (!c.GetProperty("tokenized").EnumerateArray().Select(t => t.GetString()).SequenceEqual(tok.Tokenize(text)))
                failures.Add($"tokenize {what}: HF {J(c.GetProperty("tokenized"))} ours {J(tok.Tokenize(text))}");
        }
        AssertNone(failures, all.Count);
    }

    [Theory]
    [MemberData(nameof(PegasusModels), MemberType = typeof(PegasusTokenizerFixtures))]
    public void Decodes_equal_hf(string model)
    {
        var tok = PegasusTok(model);
        var failures = new List<string>();
        int total = 0;
        void Check(JsonElement c, int[] ids)
        {
            total++;
            void One(string key, string ours)
            {
                string hf = c.GetProperty(key).GetString()!;
                if (hf != ours) failures.Add($"{key} {Show(ids)}: HF {J(hf)} ours {J(ours)}");
            }
            One("decoded", tok.Decode(ids));
            One("decoded_skip_special", tok.Decode(ids, skipSpecialTokens: true));
            One("decoded_no_cleanup", tok.Decode(ids, cleanUpTokenizationSpaces: false));
            One("decoded_no_spaces", tok.Decode(ids, spacesBetweenSpecialTokens: false));
        }
        foreach (var c in PegasusCases(model).GetProperty("cases").EnumerateArray()) Check(c, Ints(c.GetProperty("input_ids")));
        foreach (var c in PegasusCases(model).GetProperty("decodes").EnumerateArray()) Check(c, Ints(c.GetProperty("ids")));
        AssertNone(failures, total);
    }

    // 150 seeded random mixes of both tokenizers' special tokens, whitespace, NFKC-sensitive characters, CJK, emoji and
    // random code points from every plane.
    [Theory]
    [MemberData(nameof(PegasusModels), MemberType = typeof(PegasusTokenizerFixtures))]
    public void Random_texts_equal_hf(string model)
    {
        var tok = PegasusTok(model);
        var failures = new List<string>();
        var all = PegasusCases(model).GetProperty("random").EnumerateArray().ToList();
        foreach (var c in all)
        {
            string text = c.GetProperty("text").GetString()!;
            var ids = Ints(c.GetProperty("input_ids"));
            var ours = tok.Encode(text).InputIds;
            if (!ids.SequenceEqual(ours))
                failures.Add($"ids {J(text)}: HF {Show(ids)} ours {Show(ours)}");
            else if (tok.Decode(ids) != c.GetProperty("decoded").GetString())
                failures.Add($"decode {J(text)}: HF {J(c.GetProperty("decoded").GetString())} ours {J(tok.Decode(ids))}");
            else if (tok.Decode(ids, skipSpecialTokens: true) != c.GetProperty("decoded_skip_special").GetString())
                failures.Add($"decode skipping special tokens {J(text)}");
        }
        AssertNone(failures, all.Count);
    }

    [Theory]
    [InlineData("trained_pegasus")]
    [InlineData("bigbird_gpt2")]
    public void Long_document_equals_hf(string model)
    {
        var tok = PegasusTok(model);
        var c = PegasusCases(model).GetProperty("long");
        string text = c.GetProperty("text").GetString()!;
        Assert.True(text.Length > 35_000);
        var whole = Ints(c.GetProperty("input_ids"));
        Assert.True(whole.Length > 4096);
        Assert.Equal(whole, tok.Encode(text).InputIds);
        var cut = tok.Encode(text, options: new TokenizerEncodeOptions
        {
            Truncation = TruncationStrategy.LongestFirst, MaxLength = 4096, Padding = PaddingStrategy.MaxLength, PadToMultipleOf = 64,
        });
        Assert.Equal(Ints(c.GetProperty("truncated_input_ids")), cut.InputIds);
        Assert.Equal(Ints(c.GetProperty("truncated_attention_mask")), cut.AttentionMask);
        var pair = tok.Encode(text, "a question about the river",
                              new TokenizerEncodeOptions { Truncation = TruncationStrategy.OnlyFirst, MaxLength = 1000 });
        Assert.Equal(Ints(c.GetProperty("pair_input_ids")), pair.InputIds);
    }

    [Theory]
    [MemberData(nameof(PegasusModels), MemberType = typeof(PegasusTokenizerFixtures))]
    public void Batches_equal_hf(string model)
    {
        var tok = PegasusTok(model);
        var failures = new List<string>();
        var all = PegasusCases(model).GetProperty("batches").EnumerateArray().ToList();
        Assert.NotEmpty(all);
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
                Truncation = trunc.ValueKind switch
                {
                    JsonValueKind.False => TruncationStrategy.DoNotTruncate,
                    JsonValueKind.True => TruncationStrategy.LongestFirst,
                    _ => trunc.GetString() switch
                    {
                        "longest_first" => TruncationStrategy.LongestFirst,
                        "only_first" => TruncationStrategy.OnlyFirst,
                        "only_second" => TruncationStrategy.OnlySecond,
                        var s => throw new InvalidOperationException(s),
                    },
                },
                MaxLength = b.GetProperty("max_length").ValueKind == JsonValueKind.Null ? null : b.GetProperty("max_length").GetInt32(),
                PadToMultipleOf = b.GetProperty("pad_to_multiple_of").ValueKind == JsonValueKind.Null ? null : b.GetProperty("pad_to_multiple_of").GetInt32(),
            };
            var rows = tok.EncodeBatch(texts, pairs, options);
            string name = J(options);
            if (!IntRows(b.GetProperty("input_ids")).Select(Show).SequenceEqual(rows.Select(r => Show(r.InputIds))))
                failures.Add($"ids {name}: HF {string.Join(" ", IntRows(b.GetProperty("input_ids")).Select(Show))} ours {string.Join(" ", rows.Select(r => Show(r.InputIds)))}");
            else if (!IntRows(b.GetProperty("attention_mask")).Select(Show).SequenceEqual(rows.Select(r => Show(r.AttentionMask))))
                failures.Add($"mask {name}");
            else if (!IntRows(b.GetProperty("special_tokens_mask")).Select(Show).SequenceEqual(rows.Select(r => Show(r.SpecialTokensMask))))
                failures.Add($"special tokens mask {name}");
        }
        AssertNone(failures, all.Count);
    }
}
