using BigBirdSharp.Backends;

namespace BigBirdSharp.Modeling;

// The three torch.nn building blocks BigBird uses, as immutable weight views.

/// <summary>torch <c>nn.Linear</c>: weight [out_features, in_features], optional bias [out_features].</summary>
public sealed class Linear
{
    /// <summary>[out_features, in_features]</summary>
    public ReadOnlyMemory<float> Weight { get; }
    /// <summary>[out_features], or empty when the layer has no bias.</summary>
    public ReadOnlyMemory<float> Bias { get; }
    /// <summary>Input width.</summary>
    public int InFeatures { get; }
    /// <summary>Output width.</summary>
    public int OutFeatures { get; }

    internal Linear(WeightLoader w, string path, int inFeatures, int outFeatures, bool bias = true)
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Weight = w.Get($"{path}.weight", outFeatures, inFeatures);
        Bias = bias ? w.Get($"{path}.bias", outFeatures) : ReadOnlyMemory<float>.Empty;
    }

    /// <summary>A linear layer over weights read elsewhere (the LM decoder tied to the word embeddings).</summary>
    internal Linear(ReadOnlyMemory<float> weight, ReadOnlyMemory<float> bias, int inFeatures, int outFeatures)
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Weight = weight;
        Bias = bias;
    }

    /// <summary>y[rows, out] = x[rows, in] · Wᵀ + b.</summary>
    public void Forward(IComputeBackend backend, Span<float> y, ReadOnlySpan<float> x, int rows) =>
        backend.Linear(y, x, Weight.Span, Bias.Span, rows, InFeatures, OutFeatures);
}

/// <summary>torch <c>nn.LayerNorm</c> over the last dimension.</summary>
public sealed class LayerNorm
{
    /// <summary>[normalized_shape] (gamma)</summary>
    public ReadOnlyMemory<float> Weight { get; }
    /// <summary>[normalized_shape] (beta)</summary>
    public ReadOnlyMemory<float> Bias { get; }
    /// <summary><c>layer_norm_eps</c>.</summary>
    public float Eps { get; }
    /// <summary>The normalized width.</summary>
    public int Size { get; }

    internal LayerNorm(WeightLoader w, string path, int size, double eps)
    {
        Size = size;
        Eps = (float)eps;
        // old TF-converted checkpoints name these gamma/beta; HF renames them on load, and so do we
        Weight = w.Get($"{path}.weight", [$"{path}.gamma"], size);
        Bias = w.Get($"{path}.bias", [$"{path}.beta"], size);
    }

    /// <summary>y[rows, size] = LayerNorm(x[rows, size]).</summary>
    public void Forward(IComputeBackend backend, Span<float> y, ReadOnlySpan<float> x, int rows) =>
        backend.LayerNorm(y, x, Weight.Span, Bias.Span, rows, Size, Eps);
}

/// <summary>torch <c>nn.Embedding</c>: weight [num_embeddings, embedding_dim].</summary>
public sealed class Embedding
{
    /// <summary>[num_embeddings, embedding_dim]</summary>
    public ReadOnlyMemory<float> Weight { get; }
    /// <summary>Number of rows.</summary>
    public int NumEmbeddings { get; }
    /// <summary>Row width.</summary>
    public int EmbeddingDim { get; }

    internal Embedding(WeightLoader w, string path, int numEmbeddings, int embeddingDim)
    {
        NumEmbeddings = numEmbeddings;
        EmbeddingDim = embeddingDim;
        Weight = w.Get($"{path}.weight", numEmbeddings, embeddingDim);
    }

    /// <summary>The row for <paramref name="index"/> (already range-checked by the caller).</summary>
    public ReadOnlySpan<float> Row(int index) => Weight.Span.Slice(index * EmbeddingDim, EmbeddingDim);
}
