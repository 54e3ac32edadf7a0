using System.Numerics.Tensors;

namespace BigBirdSharp.Kernels;

/// <summary>
/// The activations of <see cref="ActivationKind"/>, matching transformers 4.27.1 <c>activations.py</c> and the
/// torch functions it calls. Exact GELU uses the hand-written <see cref="ErfKernels"/> (TensorPrimitives has no
/// erf); the tanh/sigmoid based ones are composed from TensorPrimitives (Tanh, Sigmoid, Multiply, MultiplyAdd,
/// Max, Min) over stack-allocated chunks; mish is evaluated per element in double because it needs an accurate
/// log1p, which TensorPrimitives does not offer, and it is not a BigBird hot path.
/// </summary>
internal static class Activations
{
    /// <summary>Elements per stack-allocated scratch chunk.</summary>
    private const int Chunk = 256;

    /// <summary>Applies <paramref name="kind"/> to every element of <paramref name="x"/>, in place.</summary>
    /// <param name="x">The values.</param>
    /// <param name="kind">The activation.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="kind"/> is not a defined value.</exception>
    public static void Apply(Span<float> x, ActivationKind kind)
    {
        switch (kind)
        {
            case ActivationKind.Gelu:
            case ActivationKind.GeluPython:
                ErfKernels.Gelu(x, x);
                break;
            case ActivationKind.Gelu10:
                // ClippedGELUActivation: torch.clip(gelu(x), -10, 10), a clip of the output.
                ErfKernels.Gelu(x, x);
                TensorPrimitives.Max(x, -10f, x);
                TensorPrimitives.Min(x, 10f, x);
                break;
            case ActivationKind.GeluNew:
            case ActivationKind.GeluPytorchTanh:
                // gelu_new: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))); torch's tanh gelu is the same formula
                TanhGeluKernels.GeluNew(x, x);
                break;
            case ActivationKind.GeluFast:
                TanhGeluKernels.GeluFast(x, x);
                break;
            case ActivationKind.QuickGelu:
                SigmoidGated(x, 1.702f);
                break;
            case ActivationKind.Silu:
                SigmoidGated(x, 1f);
                break;
            case ActivationKind.Relu:
                TensorPrimitives.Max(x, 0f, x);
                break;
            case ActivationKind.Relu6:
                TensorPrimitives.Max(x, 0f, x);
                TensorPrimitives.Min(x, 6f, x);
                break;
            case ActivationKind.Mish:
                for (int i = 0; i < x.Length; i++)
                {
                    x[i] = Mish(x[i]);
                }
                break;
            case ActivationKind.Tanh:
                Tanh(x);
                break;
            case ActivationKind.Sigmoid:
                if (!x.IsEmpty) TensorPrimitives.Sigmoid(x, x); // TensorPrimitives.Sigmoid refuses an empty span
                break;
            case ActivationKind.Linear:
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown activation kind.");
        }
    }

    /// <summary>
    /// mish(x) = x·tanh(softplus(x)) with torch's softplus (beta 1, threshold 20: softplus(x) = x above 20),
    /// evaluated in double and rounded once.
    /// </summary>
    /// <param name="x">The argument.</param>
    /// <returns>mish(x).</returns>
    public static float Mish(float x)
    {
        double xd = x;
        double softplus = xd > 20.0 ? xd : Log1P(Math.Exp(xd));
        return (float)(xd * Math.Tanh(softplus));
    }

    /// <summary>log(1 + e) without losing the low digits of small e (the classic (u−1) correction).</summary>
    private static double Log1P(double e)
    {
        double u = 1.0 + e;
        return u == 1.0 ? e : Math.Log(u) * e / (u - 1.0);
    }

    /// <summary>
    /// tanh in place. TensorPrimitives.Tanh has an absolute error of about 6e-8 near zero (tanh(0) comes out as
    /// −6e-8), which is a large relative error for small inputs; those (|x| &lt; 0.625) are recomputed in double.
    /// </summary>
    private static void Tanh(Span<float> x)
    {
        Span<float> t = stackalloc float[Chunk];
        for (int start = 0; start < x.Length; start += Chunk)
        {
            Span<float> xs = x.Slice(start, Math.Min(Chunk, x.Length - start));
            Span<float> ts = t[..xs.Length];
            TensorPrimitives.Tanh(xs, ts);
            for (int i = 0; i < xs.Length; i++)
            {
                float v = xs[i];
                xs[i] = MathF.Abs(v) < 0.625f ? (float)Math.Tanh(v) : ts[i];
            }
        }
    }

    /// <summary>x = x·sigmoid(scale·x) (silu for scale 1, quick_gelu for 1.702), in chunks.</summary>
    private static void SigmoidGated(Span<float> x, float scale)
    {
        Span<float> t = stackalloc float[Chunk];
        for (int start = 0; start < x.Length; start += Chunk)
        {
            Span<float> xs = x.Slice(start, Math.Min(Chunk, x.Length - start));
            Span<float> ts = t[..xs.Length];
            TensorPrimitives.Multiply(xs, scale, ts);
            TensorPrimitives.Sigmoid(ts, ts);
            TensorPrimitives.Multiply(xs, ts, xs);
        }
    }
}
