using BigBirdSharp.Backends;
using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Pegasus;
using FsCheck.Xunit;

namespace BigBirdSharp.Tests.Generation;

/// <summary>The in-place reordering of a cache equals HF's <c>index_select(0, beam_idx)</c> of every cached row.</summary>
public sealed class CacheReorderTests
{
    private static readonly BigBirdConfig Decoder = BigBirdConfig.FromJson(
        """{"model_type": "big_bird", "hidden_size": 8, "num_attention_heads": 2, "num_hidden_layers": 2, "intermediate_size": 16, "vocab_size": 30, "max_position_embeddings": 16, "is_decoder": true}""");

    // rows filled with distinct values, then reordered by random indices (any row may be read by several, moved or kept)
    [Property(MaxTest = 60)]
    public bool ReorderIsIndexSelect(int seed)
    {
        var random = new Random(seed);
        int rows = random.Next(1, 7), length = random.Next(1, 9);
        var cache = new BigBirdKeyValueCache(Decoder, rows, 12);
        int heads = cache.Heads, d = cache.HeadDim, layers = cache.Layers;
        for (int layer = 0; layer < layers; layer++)
        {
            var k = Enumerable.Range(0, rows * heads * length * d).Select(i => (float)(layer * 100000 + i)).ToArray();
            var v = k.Select(x => -x).ToArray();
            using var kb = CpuBackend.Instance.Upload(k);
            using var vb = CpuBackend.Instance.Upload(v);
            cache.Append(layer, kb.All, vb.All, length);
        }
        cache.Advance(length);
        var before = Enumerable.Range(0, layers).Select(l => (K: cache.KeyLayer(l).Data, V: cache.ValueLayer(l).Data)).ToArray();
        var beamIdx = Enumerable.Range(0, rows).Select(_ => random.Next(rows)).ToArray();
        if (random.Next(3) == 0) beamIdx = [.. Enumerable.Range(0, rows).Reverse()]; // a permutation: every row saved first
        cache.Reorder(beamIdx);
        int row = heads * length * d;
        for (int l = 0; l < layers; l++)
        {
            var k = cache.KeyLayer(l).Data;
            var v = cache.ValueLayer(l).Data;
            for (int r = 0; r < rows; r++)
            {
                if (!k.AsSpan(r * row, row).SequenceEqual(before[l].K.AsSpan(beamIdx[r] * row, row))) return false;
                if (!v.AsSpan(r * row, row).SequenceEqual(before[l].V.AsSpan(beamIdx[r] * row, row))) return false;
            }
        }
        return cache.Length == length;
    }

    // the Pegasus cache moves the self-attention rows and leaves the cross-attention keys alone (HF's _reorder_cache)
    [Fact]
    public void PegasusCacheMovesSelfAttentionRowsOnly()
    {
        var config = BigBirdPegasusConfig.FromFile(Path.Combine(RepoPaths.Fixtures, "pegasus", "models", "cg_full", "config.json"));
        var cache = new BigBirdPegasusKeyValueCache(config, 3, 4);
        int heads = config.DecoderAttentionHeads, d = config.DecoderHeadDim, n = 3 * heads * 2 * d;
        var keys = Enumerable.Range(0, n).Select(i => (float)i).ToArray();
        using var kb = CpuBackend.Instance.Upload(keys);
        for (int layer = 0; layer < config.DecoderLayers; layer++)
        {
            cache.Append(layer, kb.All, kb.All, 2);
            var cross = cache.NewCross(layer, 5);
            CpuBackend.Instance.Upload(cross.Keys, Enumerable.Range(0, cross.Keys.Length).Select(i => (float)i).ToArray());
        }
        cache.Advance(2);
        var crossBefore = new float[cache.CrossKeys[0]!.Length];
        CpuBackend.Instance.Download(cache.CrossKeys[0]!.All, crossBefore);
        cache.Reorder([2, 2, 0]);
        var after = cache.KeyLayer(0).Data;
        int row = heads * 2 * d;
        Assert.Equal(keys.AsSpan(2 * row, row).ToArray(), after.AsSpan(0, row).ToArray());
        Assert.Equal(keys.AsSpan(2 * row, row).ToArray(), after.AsSpan(row, row).ToArray());
        Assert.Equal(keys.AsSpan(0, row).ToArray(), after.AsSpan(2 * row, row).ToArray());
        var crossAfter = new float[crossBefore.Length];
        CpuBackend.Instance.Download(cache.CrossKeys[0]!.All, crossAfter);
        Assert.Equal(crossBefore, crossAfter);
        Assert.Throws<BigBirdInputException>(() => cache.Reorder([0, 1]));
        Assert.Throws<BigBirdInputException>(() => cache.Reorder([0, 1, 3]));
    }
}
