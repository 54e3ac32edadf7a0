using BigBirdSharp.Kernels;

namespace BigBirdSharp.Gpu;

/// <summary>
/// HF's ACT2FN on the device, one value at a time, for <see cref="ActivationKind"/> passed as an int. Each is the CPU
/// backend's formula (<see cref="Activations"/>), evaluated in double and rounded once, so it needs only exp, log and
/// arithmetic (which ILGPU lowers on every accelerator): the tanh GELUs as x / (1 + exp(−2u)), tanh as
/// (1 − e^(−2|x|)) / (1 + e^(−2|x|)), and erf by its Maclaurin series below |z| = 3 and its asymptotic series above.
/// </summary>
internal static class DeviceActivations
{
    private const double InvSqrt2 = 0.70710678118654752440;
    private const double Beta = 0.7978845608028654;      // √(2/π)
    private const double BetaFast = 0.7978845608;         // gelu_fast's literal
    private const double TwoOverSqrtPi = 1.1283791670955126;
    private const double InvSqrtPi = 0.56418958354775628;

    /// <summary>act(v) for the <see cref="ActivationKind"/> <paramref name="kind"/>.</summary>
    public static float Apply(float v, int kind)
    {
        double x = v;
        switch (kind)
        {
            case (int)ActivationKind.Gelu:
            case (int)ActivationKind.GeluPython:
                return (float)ErfGelu(x);
            case (int)ActivationKind.Gelu10:
                {
                    double g = ErfGelu(x);
                    return (float)(g < -10.0 ? -10.0 : g > 10.0 ? 10.0 : g);
                }
            case (int)ActivationKind.GeluNew:
            case (int)ActivationKind.GeluPytorchTanh:
                return (float)(x / (1.0 + Math.Exp(-2.0 * Beta * (x + 0.044715 * x * x * x))));
            case (int)ActivationKind.GeluFast:
                return (float)(x / (1.0 + Math.Exp(-2.0 * BetaFast * x * (1.0 + 0.044715 * x * x))));
            case (int)ActivationKind.QuickGelu:
                return (float)(x / (1.0 + Math.Exp(-1.702 * x)));
            case (int)ActivationKind.Silu:
                return (float)(x / (1.0 + Math.Exp(-x)));
            case (int)ActivationKind.Relu:
                return v > 0f || float.IsNaN(v) ? v : 0f;
            case (int)ActivationKind.Relu6:
                return float.IsNaN(v) ? v : v > 6f ? 6f : v > 0f ? v : 0f;
            case (int)ActivationKind.Mish:
                {
                    // torch's softplus (threshold 20), log1p with the (u − 1) correction
                    double softplus = x;
                    if (!(x > 20.0))
                    {
                        double e = Math.Exp(x), u = 1.0 + e;
                        softplus = u == 1.0 ? e : Math.Log(u) * e / (u - 1.0);
                    }
                    return (float)(x * Tanh(softplus));
                }
            case (int)ActivationKind.Tanh:
                return (float)Tanh(x);
            case (int)ActivationKind.Sigmoid:
                return (float)(1.0 / (1.0 + Math.Exp(-x)));
            default:
                return v; // Linear; other values are refused on the host
        }
    }

    private static double ErfGelu(double x) => 0.5 * x * (1.0 + Erf(x * InvSqrt2));

    /// <summary>tanh in double from one exp; the cubic term below 1e-4, where 1 − e^(−2|x|) would cancel.</summary>
    private static double Tanh(double x)
    {
        if (double.IsNaN(x)) return x;
        double a = x < 0 ? -x : x;
        double t;
        if (a < 1e-4) t = a - a * a * a / 3.0;
        else
        {
            double e = Math.Exp(-2.0 * a);
            t = (1.0 - e) / (1.0 + e);
        }
        return x < 0 ? -t : t;
    }

    /// <summary>
    /// erf in double: the Maclaurin series 2/√π·Σ (−1)ⁿ z^(2n+1) / (n!(2n+1)) below |z| = 3 (terms stay below 1e4, so
    /// about 12 digits survive), and 1 − erfc with erfc's asymptotic series (four terms, relative error below 1e-3 of
    /// erfc(3) ≈ 2e-5) above.
    /// </summary>
    private static double Erf(double z)
    {
        if (double.IsNaN(z)) return z;
        double a = z < 0 ? -z : z;
        double r;
        if (a < 3.0)
        {
            double a2 = a * a, term = a, sum = a;
            for (int n = 1; n < 80; n++)
            {
                term *= -a2 / n;
                double contribution = term / (2 * n + 1);
                sum += contribution;
                if ((contribution < 0 ? -contribution : contribution) < 1e-17 * sum) break;
            }
            r = TwoOverSqrtPi * sum;
        }
        else if (a < 10.0)
        {
            double inv2 = 1.0 / (2.0 * a * a);
            double series = 1.0 - inv2 + 3.0 * inv2 * inv2 - 15.0 * inv2 * inv2 * inv2 + 105.0 * inv2 * inv2 * inv2 * inv2;
            r = 1.0 - Math.Exp(-a * a) * InvSqrtPi / a * series;
        }
        else r = 1.0;
        return z < 0 ? -r : r;
    }
}
