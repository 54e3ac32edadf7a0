namespace BigBirdSharp.Modeling.Heads;

/// <summary>
/// The torch.nn losses the heads use, with torch's reductions: <c>CrossEntropyLoss</c> (mean over the targets that are
/// not <c>ignore_index</c>; NaN when every target is ignored, as torch gives 0/0), <c>MSELoss</c> and
/// <c>BCEWithLogitsLoss</c> (means over all elements). Sums run in double, so the result is at least as exact as
/// torch's float32 reduction.
/// </summary>
internal static class Losses
{
    /// <summary>torch's default <c>ignore_index</c>.</summary>
    public const int IgnoreIndex = -100;

    /// <summary>mean over rows with target ≠ ignoreIndex of logsumexp(logits[row]) − logits[row, target].</summary>
    /// <param name="logits">[rows, classes]</param>
    /// <param name="targets">[rows] class ids, or <paramref name="ignoreIndex"/>.</param>
    /// <param name="classes">Number of classes.</param>
    /// <param name="ignoreIndex">The target value that contributes nothing.</param>
    /// <param name="what">The input's name, for errors.</param>
    /// <exception cref="BigBirdInputException">A target outside [0, classes) that is not ignoreIndex.</exception>
    public static float CrossEntropy(ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, int classes, int ignoreIndex = IgnoreIndex,
                                     string what = "labels")
    {
        double sum = 0;
        int count = 0;
        for (int r = 0; r < targets.Length; r++)
        {
            int t = targets[r];
            if (t == ignoreIndex) continue;
            if ((uint)t >= (uint)classes)
                throw new BigBirdInputException(
                    $"{what}[{r}] = {t} is outside [0, {classes}); use a class id, or {ignoreIndex} for a position without a target.");
            var row = logits.Slice(r * classes, classes);
            double max = double.NegativeInfinity;
            foreach (float v in row) max = Math.Max(max, v);
            double s = 0;
            foreach (float v in row) s += Math.Exp(v - max);
            sum += max + Math.Log(s) - row[t];
            count++;
        }
        return (float)(sum / count); // 0/0 = NaN when every target is ignored, as torch
    }

    /// <summary>mean((input − target)²) over all elements.</summary>
    public static float MeanSquaredError(ReadOnlySpan<float> input, ReadOnlySpan<float> target)
    {
        double sum = 0;
        for (int i = 0; i < input.Length; i++)
        {
            double d = (double)input[i] - target[i];
            sum += d * d;
        }
        return (float)(sum / input.Length);
    }

    /// <summary>mean(max(x, 0) − x·y + log(1 + exp(−|x|))) over all elements: BCE of sigmoid(x) against y, stably.</summary>
    public static float BinaryCrossEntropyWithLogits(ReadOnlySpan<float> logits, ReadOnlySpan<float> targets)
    {
        double sum = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            double x = logits[i], y = targets[i];
            sum += Math.Max(x, 0) - x * y + Math.Log(1 + Math.Exp(-Math.Abs(x)));
        }
        return (float)(sum / logits.Length);
    }
}
