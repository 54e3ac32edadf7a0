using BigBirdSharp.Configuration;
using BigBirdSharp.IO;
using BigBirdSharp.Modeling;
using BigBirdSharp.RandomAttention;
using BigBirdSharp.Serialization;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace BigBirdSharp.Tests.Modeling;

/// <summary>Behaviour of BigBirdModel beyond the golden cases: batching, runtime switches, errors.</summary>
public sealed class BigBirdModelTests
{
    // block_sparse, 4 heads, block 4, 2 random blocks: threshold 36 tokens; max_position_embeddings 256
    private static readonly Lazy<BigBirdModel> sparse = new(() => BigBirdModel.FromPretrained(Path.Combine(RepoPaths.Models, "bs_h32_a4_l2_b4_r2")));
    private static BigBirdModel Sparse => sparse.Value;

    [Property(MaxTest = 15)]
    public Property A_batch_equals_its_rows_run_alone(int seed, bool blockSparse, bool seeded)
    {
        var rng = new System.Random(seed);
        // above the 36-token threshold block_sparse really runs block-sparse; below it, full attention
        int batch = rng.Next(2, 4), seq = blockSparse ? rng.Next(37, 90) : rng.Next(1, 90);
        var ids = new int[batch][];
        var mask = new int[batch][];
        var types = new int[batch][];
        for (int b = 0; b < batch; b++)
        {
            int real = rng.Next(1, seq + 1);
            ids[b] = Enumerable.Range(0, seq).Select(_ => rng.Next(0, Sparse.Config.VocabSize)).ToArray();
            mask[b] = Enumerable.Range(0, seq).Select(i => i < real ? 1 : 0).ToArray();
            types[b] = Enumerable.Range(0, seq).Select(_ => rng.Next(0, 2)).ToArray();
        }
        var options = new BigBirdForwardOptions
        {
            AttentionType = blockSparse ? AttentionType.BlockSparse : AttentionType.OriginalFull,
            RandomAttention = seeded ? RandomAttentionSemantics.Seeded : RandomAttentionSemantics.Deterministic,
        };
        var all = Sparse.Forward(BigBirdInputs.FromIds(ids, mask, types), options);
        if (all.AttentionType != options.AttentionType) return false.Label($"ran {all.AttentionType}, asked for {options.AttentionType}");
        int hidden = Sparse.Config.HiddenSize;
        for (int b = 0; b < batch; b++)
        {
            var one = Sparse.Forward(BigBirdInputs.FromIds([ids[b]], [mask[b]], [types[b]]), options);
            var rowOfBatch = all.LastHiddenState.Data.AsSpan(b * seq * hidden, seq * hidden);
            for (int i = 0; i < rowOfBatch.Length; i++)
                if (!Tolerance.Close(one.LastHiddenState.Data[i], rowOfBatch[i], 1e-5, 1e-5))
                    return false.Label($"row {b} element {i}: alone {one.LastHiddenState.Data[i]}, in batch {rowOfBatch[i]}");
            for (int i = 0; i < hidden; i++)
                if (!Tolerance.Close(one.PoolerOutput!.Data[i], all.PoolerOutput!.Data[b * hidden + i], 1e-5, 1e-5))
                    return false.Label($"pooler row {b} element {i}");
        }
        return true.ToProperty();
    }

    [Fact]
    public void Padding_does_not_change_unpadded_outputs_under_full_attention()
    {
        int[] ids = [65, 12, 40, 7, 33, 66];
        var alone = Sparse.Forward(BigBirdInputs.FromIds([ids]), new() { AttentionType = AttentionType.OriginalFull });
        var padded = Sparse.Forward(BigBirdInputs.FromIds([[.. ids, 0, 0, 0]], [[1, 1, 1, 1, 1, 1, 0, 0, 0]]),
                                    new() { AttentionType = AttentionType.OriginalFull });
        int hidden = Sparse.Config.HiddenSize;
        Tolerance.AssertAllClose(padded.LastHiddenState.Data.AsSpan(0, ids.Length * hidden), alone.LastHiddenState.Data, "padded vs alone", 1e-5, 1e-5);
    }

    [Fact]
    public void Inputs_embeds_equal_input_ids_through_the_word_embeddings()
    {
        int[] ids = Enumerable.Range(0, 53).Select(i => (i * 37 + 5) % Sparse.Config.VocabSize).ToArray();
        int hidden = Sparse.Config.HiddenSize;
        var embeds = new float[ids.Length * hidden];
        for (int i = 0; i < ids.Length; i++) Sparse.Embeddings.WordEmbeddings.Row(ids[i]).CopyTo(embeds.AsSpan(i * hidden));
        foreach (var type in new[] { AttentionType.OriginalFull, AttentionType.BlockSparse })
        {
            // 53 pads to 56 under block_sparse; HF pads inputs_embeds with the embeddings of pad tokens, which differ
            // from word embeddings, so only the full-attention run must agree exactly
            var byIds = Sparse.Forward(BigBirdInputs.FromIds([ids]), new() { AttentionType = type });
            var byEmbeds = Sparse.Forward(new BigBirdInputs(1, ids.Length) { InputsEmbeds = embeds }, new() { AttentionType = type });
            if (type == AttentionType.OriginalFull)
                Tolerance.AssertAllClose(byEmbeds.LastHiddenState.Data, byIds.LastHiddenState.Data, "inputs_embeds vs input_ids", 1e-6, 1e-6);
            else
                Assert.Equal(byIds.LastHiddenState.Shape, byEmbeds.LastHiddenState.Shape);
        }
    }

    [Fact]
    public void Attention_type_switches_per_call_and_falls_back_per_call()
    {
        int[] longIds = Enumerable.Range(0, 53).Select(i => i % 90).ToArray();
        int[] shortIds = longIds[..20];
        Assert.Equal(AttentionType.OriginalFull, Sparse.Forward(BigBirdInputs.FromIds([shortIds])).AttentionType);
        // HF would have switched to original_full for good here (issue 20031); we still run block_sparse
        Assert.Equal(AttentionType.BlockSparse, Sparse.Forward(BigBirdInputs.FromIds([longIds])).AttentionType);
        Assert.Equal(AttentionType.OriginalFull,
            Sparse.Forward(BigBirdInputs.FromIds([longIds]), new() { AttentionType = AttentionType.OriginalFull }).AttentionType);
        Assert.Equal(36, Sparse.Config.MaxTokensToAttend);
        Assert.Equal(AttentionType.OriginalFull, Sparse.EffectiveAttentionType(36));
        Assert.Equal(AttentionType.BlockSparse, Sparse.EffectiveAttentionType(37));
    }

    [Fact]
    public void Concurrent_calls_on_one_model_agree()
    {
        var inputs = BigBirdInputs.FromIds([Enumerable.Range(0, 77).Select(i => (i * 13) % 90).ToArray()]);
        var options = new BigBirdForwardOptions { RandomAttention = RandomAttentionSemantics.Seeded };
        var expected = Sparse.Forward(inputs, options).LastHiddenState.Data;
        var results = new float[8][];
        Parallel.For(0, results.Length, i => results[i] = Sparse.Forward(inputs, options).LastHiddenState.Data);
        foreach (var r in results) Assert.Equal(expected, r);
    }

    [Theory]
    [InlineData("oob_id", "input_ids[2] = 5000 is outside [0, 100)")]
    [InlineData("negative_id", "input_ids[0] = -1 is outside")]
    [InlineData("bad_type", "token_type_ids[1] = 2 is outside [0, 2)")]
    [InlineData("bad_position", "position_ids[0] = 256 is outside [0, 256)")]
    [InlineData("bad_mask", "attention_mask holds 2")]
    [InlineData("too_long", "input of 257 tokens (padded to 260 for block_size 4) is longer than max_position_embeddings 256: truncate it to at most 256 tokens")]
    [InlineData("empty", "empty input")]
    [InlineData("both", "exactly one of input_ids and inputs_embeds")]
    [InlineData("short_mask", "attention_mask has 2 values, expected 3")]
    [InlineData("bad_head_mask", "head_mask has 3 values")]
    public void Bad_inputs_are_rejected_with_advice(string kind, string fragment)
    {
        BigBirdInputs inputs = kind switch
        {
            "oob_id" => BigBirdInputs.FromIds([[1, 2, 5000]]),
            "negative_id" => BigBirdInputs.FromIds([[-1, 2, 3]]),
            "bad_type" => BigBirdInputs.FromIds([[1, 2, 3]], tokenTypeIds: [[0, 2, 0]]),
            "bad_position" => BigBirdInputs.FromIds([[1, 2, 3]], positionIds: [[256, 1, 2]]),
            "bad_mask" => BigBirdInputs.FromIds([[1, 2, 3]], attentionMask: [[1, 2, 1]]),
            "too_long" => BigBirdInputs.FromIds([new int[257]]),
            "empty" => new BigBirdInputs(1, 0) { InputIds = [] },
            "both" => new BigBirdInputs(1, 1) { InputIds = [1], InputsEmbeds = new float[32] },
            "short_mask" => new BigBirdInputs(1, 3) { InputIds = [1, 2, 3], AttentionMask = [1, 1] },
            "bad_head_mask" => new BigBirdInputs(1, 3) { InputIds = [1, 2, 3], HeadMask = [1, 1, 1] },
            _ => throw new ArgumentException(kind),
        };
        var e = Assert.Throws<BigBirdInputException>(() => Sparse.Forward(inputs));
        Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public void Ragged_and_empty_id_rows_are_rejected()
    {
        Assert.Contains("row 1 has 2 tokens, expected 3", Assert.Throws<BigBirdInputException>(() => BigBirdInputs.FromIds([[1, 2, 3], [1, 2]])).Message);
        Assert.Contains("empty", Assert.Throws<BigBirdInputException>(() => BigBirdInputs.FromIds([])).Message);
        Assert.Contains("attention_mask has 1 rows", Assert.Throws<BigBirdInputException>(() => BigBirdInputs.FromIds([[1], [2]], [[1]])).Message);
    }

    [Fact]
    public void Checkpoint_with_a_misshaped_tensor_names_it_and_both_shapes()
    {
        using var dir = new TempCheckpoint("bs_h32_a4_l2_b4_r2");
        var entries = dir.Entries();
        var i = entries.FindIndex(e => e.Name == "encoder.layer.1.attention.self.key.weight");
        entries[i] = entries[i] with { Shape = [16, 64] };
        dir.Write(entries);
        var e = Assert.Throws<TensorMismatchException>(() => BigBirdModel.FromPretrained(dir.Path));
        Assert.Equal("encoder.layer.1.attention.self.key.weight", e.TensorName);
        Assert.Contains("has shape [16, 64], expected [32, 32]", e.Message);
        Assert.Contains("model.safetensors", e.Message);
    }

    [Fact]
    public void Checkpoint_with_a_missing_tensor_names_it_and_its_shape()
    {
        using var dir = new TempCheckpoint("bs_h32_a4_l2_b4_r2");
        dir.Write(dir.Entries().Where(e => e.Name != "encoder.layer.0.output.LayerNorm.bias").ToList());
        var e = Assert.Throws<TensorMismatchException>(() => BigBirdModel.FromPretrained(dir.Path));
        Assert.Contains("missing tensor 'encoder.layer.0.output.LayerNorm.bias' (expected shape [32])", e.Message);
    }

    [Fact]
    public void Checkpoint_that_is_not_bigbird_is_rejected()
    {
        using var dir = new TempCheckpoint("bs_h32_a4_l2_b4_r2");
        dir.Write([new SafeTensorsWriter.Entry("transformer.h.0.attn.weight", [2, 2], new float[4])]);
        var e = Assert.Throws<TensorMismatchException>(() => BigBirdModel.FromPretrained(dir.Path));
        Assert.Contains("does not look like a BigBird checkpoint", e.Message);
    }

    [Fact]
    public void Old_gamma_beta_layer_norm_names_load_like_weight_bias()
    {
        using var dir = new TempCheckpoint("bs_h32_a4_l2_b4_r2");
        var renamed = dir.Entries().Select(e => e with
        {
            Name = e.Name.Replace("LayerNorm.weight", "LayerNorm.gamma").Replace("LayerNorm.bias", "LayerNorm.beta"),
        }).ToList();
        dir.Write(renamed);
        using var model = BigBirdModel.FromPretrained(dir.Path);
        var inputs = BigBirdInputs.FromIds([[65, 3, 4, 66]]);
        Assert.Equal(Sparse.Forward(inputs).LastHiddenState.Data, model.Forward(inputs).LastHiddenState.Data);
    }

    [Fact]
    public void Missing_folder_says_what_to_pass()
    {
        var e = Assert.Throws<BigBirdException>(() => BigBirdModel.FromPretrained(Path.Combine(Path.GetTempPath(), "no-such-bigbird")));
        Assert.Contains("Hugging Face checkpoint folder", e.Message);
    }

    /// <summary>A copy of a fixture model folder whose weights a test rewrites.</summary>
    private sealed class TempCheckpoint : IDisposable
    {
        private readonly string _source;
        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "bigbird-test-" + Guid.NewGuid().ToString("N"));

        public TempCheckpoint(string model)
        {
            _source = System.IO.Path.Combine(RepoPaths.Models, model);
            Directory.CreateDirectory(Path);
            File.Copy(System.IO.Path.Combine(_source, "config.json"), System.IO.Path.Combine(Path, "config.json"));
        }

        public List<SafeTensorsWriter.Entry> Entries()
        {
            using var reader = CheckpointLoader.Open(_source);
            var list = new List<SafeTensorsWriter.Entry>();
            foreach (var name in reader.Names.Order(StringComparer.Ordinal))
            {
                reader.TryGetInfo(name, out var info);
                if (info.DType != TensorDType.F32) continue;
                list.Add(new(name, info.Shape.Select(d => (int)d).ToArray(), reader.ReadFloat32(name).ToArray()));
            }
            return list;
        }

        public void Write(List<SafeTensorsWriter.Entry> entries)
        {
            // a mis-shaped entry keeps its data length valid for the writer by resizing
            var fixedUp = entries.Select(e =>
            {
                long n = e.Shape.Aggregate(1L, (a, d) => a * d);
                return n == e.Data.Length ? e : e with { Data = new float[n] };
            });
            SafeTensorsWriter.Write(System.IO.Path.Combine(Path, "model.safetensors"), fixedUp);
        }

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
