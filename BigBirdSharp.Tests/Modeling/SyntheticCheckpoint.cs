using BigBirdSharp.Configuration;
using BigBirdSharp.IO;

namespace BigBirdSharp.Tests.Modeling;

/// <summary>
/// An in-memory checkpoint with small random weights for every tensor of a config (bert. prefix, the pooler, the LM head
/// and the classification and QA heads): for models of shapes no fixture has, such as a position table of 300,000
/// rows four wide. Refuses configs whose weights would pass <paramref name="maxFloats"/>.
/// </summary>
internal sealed class SyntheticCheckpoint : ITensorReader
{
    private readonly Dictionary<string, (long[] Shape, float[] Data)> _tensors = new(StringComparer.Ordinal);

    public SyntheticCheckpoint(BigBirdConfig c, int seed = 7, long maxFloats = 16L << 20)
    {
        var rng = new Random(seed);
        long total = 0;
        void Add(string name, params int[] shape)
        {
            long n = shape.Aggregate(1L, (a, b) => a * b);
            total += n;
            if (total > maxFloats) throw new InvalidOperationException($"synthetic checkpoint over {maxFloats} floats at {name}");
            var data = new float[n];
            bool gain = name.EndsWith("LayerNorm.weight", StringComparison.Ordinal);
            for (int i = 0; i < data.Length; i++) data[i] = gain ? 1f : (float)(rng.NextDouble() - 0.5) * 0.1f;
            _tensors[name] = (shape.Select(d => (long)d).ToArray(), data);
        }
        void Linear(string name, int outF, int inF) { Add(name + ".weight", outF, inF); Add(name + ".bias", outF); }
        void Norm(string name) { Add(name + ".weight", c.HiddenSize); Add(name + ".bias", c.HiddenSize); }
        int h = c.HiddenSize;
        Add("bert.embeddings.word_embeddings.weight", c.VocabSize, h);
        Add("bert.embeddings.position_embeddings.weight", c.MaxPositionEmbeddings, h);
        Add("bert.embeddings.token_type_embeddings.weight", c.TypeVocabSize, h);
        Norm("bert.embeddings.LayerNorm");
        for (int l = 0; l < c.NumHiddenLayers; l++)
        {
            string p = $"bert.encoder.layer.{l}.";
            foreach (var qkv in new[] { "query", "key", "value" }) Linear(p + "attention.self." + qkv, h, h);
            Linear(p + "attention.output.dense", h, h);
            Norm(p + "attention.output.LayerNorm");
            Linear(p + "intermediate.dense", c.IntermediateSize, h);
            Linear(p + "output.dense", h, c.IntermediateSize);
            Norm(p + "output.LayerNorm");
        }
        Linear("bert.pooler", h, h);
        Linear("cls.predictions.transform.dense", h, h);
        Norm("cls.predictions.transform.LayerNorm");
        Add("cls.predictions.bias", c.VocabSize);
        Linear("classifier.dense", h, h);
        Linear("classifier.out_proj", c.NumLabels, h);
        Linear("qa_classifier.intermediate.dense", c.IntermediateSize, h);
        Linear("qa_classifier.output.dense", h, c.IntermediateSize);
        Norm("qa_classifier.output.LayerNorm");
        Linear("qa_classifier.qa_outputs", 2, h);
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

    public float[] ReadFloat32Copy(string name) => (float[])_tensors[name].Data.Clone();

    public void Dispose()
    {
    }
}
