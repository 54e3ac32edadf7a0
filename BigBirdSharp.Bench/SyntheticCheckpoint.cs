using BigBirdSharp.Configuration;
using BigBirdSharp.IO;

namespace BigBirdSharp.Bench;

/// <summary>
/// An in-memory checkpoint with every tensor BigBirdModel needs, filled with seeded pseudo-random values
/// (std ≈ 1/√fan_in for matrices, LayerNorm gains near 1): a bigbird-roberta-base-sized model without a download.
/// </summary>
internal sealed class SyntheticCheckpoint : ITensorReader
{
    private readonly Dictionary<string, (long[] Shape, float[] Data)> _tensors = new();

    /// <summary>google/bigbird-roberta-base's shape: 12 layers, 768 hidden, 12 heads, block 64, 3 random blocks.</summary>
    public static BigBirdConfig RobertaBaseConfig { get; } = new()
    {
        VocabSize = 50358, HiddenSize = 768, NumHiddenLayers = 12, NumAttentionHeads = 12, IntermediateSize = 3072,
        MaxPositionEmbeddings = 4096, BlockSize = 64, NumRandomBlocks = 3, HiddenAct = "gelu_new",
    };

    public SyntheticCheckpoint(BigBirdConfig c, int seed = 1234)
    {
        var rng = new System.Random(seed);
        int h = c.HiddenSize;
        void Matrix(string name, int rows, int cols) => Add(name, [rows, cols], rng, 1f / MathF.Sqrt(cols), 0f);
        void Vector(string name, int n, float scale, float offset) => Add(name, [n], rng, scale, offset);
        Matrix("embeddings.word_embeddings.weight", c.VocabSize, h);
        Matrix("embeddings.position_embeddings.weight", c.MaxPositionEmbeddings, h);
        Matrix("embeddings.token_type_embeddings.weight", c.TypeVocabSize, h);
        Vector("embeddings.LayerNorm.weight", h, 0.1f, 1f);
        Vector("embeddings.LayerNorm.bias", h, 0.1f, 0f);
        for (int i = 0; i < c.NumHiddenLayers; i++)
        {
            string p = $"encoder.layer.{i}";
            foreach (var qkv in new[] { "query", "key", "value" })
            {
                Matrix($"{p}.attention.self.{qkv}.weight", h, h);
                Vector($"{p}.attention.self.{qkv}.bias", h, 0.1f, 0f);
            }
            Matrix($"{p}.attention.output.dense.weight", h, h);
            Vector($"{p}.attention.output.dense.bias", h, 0.1f, 0f);
            Vector($"{p}.attention.output.LayerNorm.weight", h, 0.1f, 1f);
            Vector($"{p}.attention.output.LayerNorm.bias", h, 0.1f, 0f);
            Matrix($"{p}.intermediate.dense.weight", c.IntermediateSize, h);
            Vector($"{p}.intermediate.dense.bias", c.IntermediateSize, 0.1f, 0f);
            Matrix($"{p}.output.dense.weight", h, c.IntermediateSize);
            Vector($"{p}.output.dense.bias", h, 0.1f, 0f);
            Vector($"{p}.output.LayerNorm.weight", h, 0.1f, 1f);
            Vector($"{p}.output.LayerNorm.bias", h, 0.1f, 0f);
        }
        Matrix("pooler.weight", h, h);
        Vector("pooler.bias", h, 0.1f, 0f);
    }

    private void Add(string name, long[] shape, System.Random rng, float scale, float offset)
    {
        long n = 1;
        foreach (var d in shape) n *= d;
        var data = new float[n];
        for (long i = 0; i < n; i++) data[i] = offset + scale * (float)(rng.NextDouble() * 2 - 1) * 1.7320508f;
        _tensors[name] = (shape, data);
    }

    public IReadOnlyCollection<string> Names => _tensors.Keys;

    public bool TryGetInfo(string name, out TensorInfo info)
    {
        if (_tensors.TryGetValue(name, out var t))
        {
            info = new TensorInfo(name, TensorDType.F32, t.Shape, "synthetic");
            return true;
        }
        info = null!;
        return false;
    }

    public ReadOnlyMemory<float> ReadFloat32(string name) => _tensors[name].Data;

    public void Dispose() { }
}
