namespace BigBirdSharp;

/// <summary>A dense, row-major float32 tensor: the model's output type.</summary>
public sealed class FloatTensor
{
    /// <summary>The elements, row-major.</summary>
    public float[] Data { get; }

    /// <summary>The shape, outermost first.</summary>
    public int[] Shape { get; }

    /// <summary>Wraps <paramref name="data"/> with <paramref name="shape"/>.</summary>
    /// <exception cref="ArgumentException">The shape's product is not the data length.</exception>
    public FloatTensor(float[] data, params int[] shape)
    {
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"negative dimension in shape [{string.Join(", ", shape)}]", nameof(shape));
            n *= d;
        }
        if (n != data.Length)
            throw new ArgumentException($"shape [{string.Join(", ", shape)}] holds {n} elements but data has {data.Length}", nameof(data));
        Data = data;
        Shape = shape;
    }

    /// <summary>The shape written as <c>[a, b, c]</c>.</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
