using System.Globalization;

namespace BigBirdSharp.Modeling;

/// <summary>
/// Element counts of buffers whose shapes come from config.json or from a call's inputs, computed without overflow and
/// checked against the largest .NET array (<see cref="Array.MaxLength"/>): a shape too large to hold becomes a typed
/// error that names the tensor, its dimensions and the bound, never an <see cref="OverflowException"/>, an
/// <see cref="OutOfMemoryException"/> or a wrapped-around length.
/// </summary>
internal static class TensorSize
{
    /// <summary>The most elements one buffer can hold.</summary>
    public static int MaxElements => Array.MaxLength;

    /// <summary>The product of <paramref name="factors"/>, or −1 when it passes <see cref="MaxElements"/> or a factor is negative.</summary>
    public static long Product(params ReadOnlySpan<long> factors)
    {
        long product = 1;
        foreach (long f in factors)
        {
            if (f < 0) return -1;
            if (f == 0) return 0;
        }
        foreach (long f in factors)
        {
            if (product > MaxElements / f) return -1;
            product *= f;
        }
        return product;
    }

    /// <summary>Whether a buffer of the product of <paramref name="factors"/> elements can be held.</summary>
    public static bool Fits(params ReadOnlySpan<long> factors) => Product(factors) >= 0;

    /// <summary>
    /// The element count of a buffer shaped by a call's inputs (and the model's config), or a
    /// <see cref="BigBirdInputException"/> that names <paramref name="tensor"/>, its <paramref name="dims"/>, the sizes and
    /// the bound, followed by <paramref name="advice"/>.
    /// </summary>
    public static int ForInput(string tensor, string dims, string advice, params ReadOnlySpan<long> factors)
    {
        long n = Product(factors);
        if (n < 0) throw new BigBirdInputException(Describe(tensor, dims, factors) + advice);
        return (int)n;
    }

    /// <summary>
    /// The element count of a buffer shaped by config.json alone, or a <see cref="BigBirdConfigException"/> that names
    /// <paramref name="source"/>, the fields in <paramref name="dims"/>, their values and the bound.
    /// </summary>
    public static int ForConfig(string source, string tensor, string dims, params ReadOnlySpan<long> factors)
    {
        long n = Product(factors);
        if (n < 0)
            throw new BigBirdConfigException(
                $"{source}: " + Describe(tensor, dims, factors) + "no checkpoint of this shape can be loaded here; check config.json.");
        return (int)n;
    }

    private static string Describe(string tensor, string dims, ReadOnlySpan<long> factors)
    {
        var values = new string[factors.Length];
        double total = 1;
        for (int i = 0; i < factors.Length; i++)
        {
            values[i] = factors[i].ToString(CultureInfo.InvariantCulture);
            total *= factors[i];
        }
        string count = total < 0
            ? "a negative size"
            : $"{total.ToString(total < 1e15 ? "0" : "0.###e0", CultureInfo.InvariantCulture)} elements";
        return $"{tensor} {dims} = [{string.Join(", ", values)}] needs {count}, more than the {MaxElements} " +
               "one buffer can hold (Array.MaxLength); ";
    }
}
