using BigBirdSharp.Kernels;
using MathNet.Numerics;

namespace BigBirdSharp.Tests.Backends;

/// <summary>
/// Plain scalar definitions of every backend operation, written from the PyTorch/HF formulas with double accumulation
/// and no library code: what each backend is compared with (as ggml's <c>test-backend-ops</c> compares with the CPU).
/// </summary>
internal static class ScalarReference
{
    /// <summary>HF's ACT2FN entries (transformers 4.27.1 activations.py), in double; erf from MathNet.</summary>
    public static double Activation(ActivationKind kind, double x)
    {
        static double Sigmoid(double z) => 1.0 / (1.0 + Math.Exp(-z));
        static double ErfGelu(double z) => 0.5 * z * (1.0 + SpecialFunctions.Erf(z / Math.Sqrt(2.0)));
        static double TanhGelu(double z) => 0.5 * z * (1.0 + Math.Tanh(Math.Sqrt(2.0 / Math.PI) * (z + 0.044715 * z * z * z)));
        return kind switch
        {
            ActivationKind.Gelu or ActivationKind.GeluPython => ErfGelu(x),
            ActivationKind.Gelu10 => Math.Clamp(ErfGelu(x), -10.0, 10.0),
            ActivationKind.GeluNew or ActivationKind.GeluPytorchTanh => TanhGelu(x),
            ActivationKind.GeluFast => 0.5 * x * (1.0 + Math.Tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x))),
            ActivationKind.QuickGelu => x * Sigmoid(1.702 * x),
            ActivationKind.Relu => Math.Max(x, 0.0),
            ActivationKind.Relu6 => Math.Min(Math.Max(x, 0.0), 6.0),
            ActivationKind.Silu => x * Sigmoid(x),
            ActivationKind.Mish => x * Math.Tanh(x > 20 ? x : Math.Log(1.0 + Math.Exp(x))),
            ActivationKind.Tanh => Math.Tanh(x),
            ActivationKind.Sigmoid => Sigmoid(x),
            ActivationKind.Linear => x,
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
    }

    /// <summary>
    /// nn.Linear before its activation: pre[r, o] = bias[o] + Σ_i x[r, i]·w[o, i], and <paramref name="absSum"/> =
    /// |bias[o]| + Σ_i |x[r, i]·w[o, i]|, the scale of the fp32 rounding bound.
    /// </summary>
    public static double[] Linear(float[] x, float[] w, float[] bias, int rows, int inF, int outF, out double[] absSum)
    {
        var pre = new double[rows * outF];
        absSum = new double[rows * outF];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < outF; o++)
            {
                double sum = bias.Length == 0 ? 0 : bias[o], abs = Math.Abs(sum);
                for (int i = 0; i < inF; i++)
                {
                    double t = (double)x[r * inF + i] * w[o * inF + i];
                    sum += t;
                    abs += Math.Abs(t);
                }
                pre[r * outF + o] = sum;
                absSum[r * outF + o] = abs;
            }
        return pre;
    }

    /// <summary>nn.LayerNorm over rows of <paramref name="cols"/>: biased variance, (x − mean)/√(var + eps)·gamma + beta.</summary>
    public static double[] LayerNorm(float[] x, float[] gamma, float[] beta, int rows, int cols, double eps)
    {
        var y = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double mean = 0, variance = 0;
            for (int j = 0; j < cols; j++) mean += x[r * cols + j];
            mean /= cols;
            for (int j = 0; j < cols; j++) variance += (x[r * cols + j] - mean) * (x[r * cols + j] - mean);
            variance /= cols;
            double rstd = 1.0 / Math.Sqrt(variance + eps);
            for (int j = 0; j < cols; j++) y[r * cols + j] = (x[r * cols + j] - mean) * rstd * gamma[j] + beta[j];
        }
        return y;
    }

    /// <summary>
    /// BigBirdSelfAttention's core, dense: for each (b, h, i), scores_j = q_i·k_j/√d + additive_j over the first
    /// <c>keys</c> stored keys, additive_j = float.MinValue where the causal mask hides j (j &gt; offset + i), else mask[b, j];
    /// probs = softmax(scores)·head_mask[h]; context_i = Σ_j probs_j·v_j. A masked score is added in fp32, as torch does,
    /// so finfo.min swallows the score exactly and a fully masked row is uniform, as in PyTorch.
    /// </summary>
    public static (double[] Context, double[] Probs) FullAttention(
        float[] q, float[] k, float[] v, float[] mask, float[]? headMask, int batch, int heads, int seq, int d, int keys, int keyStride, int causalOffset)
    {
        var context = new double[batch * heads * seq * d];
        var probs = new double[batch * heads * seq * keys];
        var scores = new double[keys];
        double sqrtD = Math.Sqrt(d);
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
            {
                int bh = b * heads + h;
                for (int i = 0; i < seq; i++)
                {
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < keys; j++)
                    {
                        double dot = 0;
                        for (int x = 0; x < d; x++) dot += (double)q[(bh * seq + i) * d + x] * k[(bh * keyStride + j) * d + x];
                        double score = dot / sqrtD;
                        float additive = causalOffset >= 0 && j > causalOffset + i ? float.MinValue : mask[b * keys + j];
                        scores[j] = additive == 0f ? score : (float)((float)score + additive);
                        max = Math.Max(max, scores[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < keys; j++) sum += Math.Exp(scores[j] - max);
                    double scale = headMask is null ? 1.0 : headMask[h];
                    for (int j = 0; j < keys; j++)
                    {
                        double p = Math.Exp(scores[j] - max) / sum * scale;
                        probs[(bh * seq + i) * keys + j] = p;
                        for (int x = 0; x < d; x++) context[(bh * seq + i) * d + x] += p * v[(bh * keyStride + j) * d + x];
                    }
                }
            }
        return (context, probs);
    }

    /// <summary>
    /// bigbird_block_sparse_attention as plain dense attention under the explicit BigBird mask: each query row's softmax runs
    /// over every (key block, penalty) occurrence HF concatenates for its query block (a block listed twice, as the
    /// deterministic plan lists block 0, enters twice), with HF's −10000 penalties: (1 − to_mask) on the global and
    /// first/last rows' keys, (1 − from_mask·to_mask) on the sliding band and the random blocks. Padded query rows' context is
    /// zero (<c>context_layer *= from_mask</c>); their probabilities are kept. The dense probability map is written in HF's
    /// order, later writes winning: query block 1 as [0, 1, 2], [last], random; middle blocks as band, first, last, random;
    /// block n−2 as [0], [n−3, n−2, n−1], random; blocks 0 and n−1 whole.
    /// </summary>
    public static (double[] Context, double[] Probs) BlockSparseAttention(
        float[] q, float[] k, float[] v, float[] mask, int[] randAttn, int batch, int heads, int seq, int d, int block, int r)
    {
        int nb = seq / block;
        var context = new double[batch * heads * seq * d];
        var probs = new double[batch * heads * seq * seq];
        double scale = 1.0 / Math.Sqrt(d);
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
            {
                int bh = b * heads + h;
                for (int i = 0; i < seq; i++)
                {
                    int qb = i / block;
                    float from = mask[b * seq + i];
                    int[] rand = qb == 0 || qb == nb - 1 ? [] : randAttn.AsSpan((h * (nb - 2) + qb - 1) * r, r).ToArray();
                    var slots = WriteOrder(qb, nb, rand);
                    var scores = new double[slots.Count * block];
                    double max = double.NegativeInfinity;
                    for (int s = 0; s < slots.Count; s++)
                        for (int t = 0; t < block; t++)
                        {
                            int key = slots[s].Block * block + t;
                            double dot = 0;
                            for (int x = 0; x < d; x++) dot += (double)q[(bh * seq + i) * d + x] * k[(bh * seq + key) * d + x];
                            double gate = slots[s].FromGated ? from : 1.0;
                            scores[s * block + t] = dot * scale + (1.0 - gate * mask[b * seq + key]) * -10000.0;
                            max = Math.Max(max, scores[s * block + t]);
                        }
                    double sum = 0;
                    foreach (double score in scores) sum += Math.Exp(score - max);
                    for (int s = 0; s < slots.Count; s++)
                        for (int t = 0; t < block; t++)
                        {
                            int key = slots[s].Block * block + t;
                            double p = Math.Exp(scores[s * block + t] - max) / sum;
                            probs[(bh * seq + i) * seq + key] = p; // later writes win, as in HF's rebuilt attention_probs
                            if (from == 0f) continue;
                            for (int x = 0; x < d; x++) context[(bh * seq + i) * d + x] += p * v[(bh * seq + key) * d + x];
                        }
                }
            }
        return (context, probs);
    }

    /// <summary>The key blocks query block <paramref name="qb"/> attends, in HF's write order, with whether from_mask gates them.</summary>
    private static List<(int Block, bool FromGated)> WriteOrder(int qb, int nb, int[] rand)
    {
        var list = new List<(int, bool)>();
        if (qb == 0 || qb == nb - 1)
        {
            for (int kb = 0; kb < nb; kb++) list.Add((kb, false));
            return list;
        }
        if (qb == 1)
        {
            foreach (int kb in new[] { 0, 1, 2, nb - 1 }) list.Add((kb, false));
        }
        else if (qb == nb - 2)
        {
            foreach (int kb in new[] { 0, nb - 3, nb - 2, nb - 1 }) list.Add((kb, false));
        }
        else
        {
            foreach (int kb in new[] { qb - 1, qb, qb + 1 }) list.Add((kb, true));
            list.Add((0, false));
            list.Add((nb - 1, false));
        }
        foreach (int kb in rand) list.Add((kb, true));
        return list;
    }
}
