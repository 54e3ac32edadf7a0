namespace BigBirdSharp.RandomAttention;

/// <summary>
/// A bit-exact re-implementation of the parts of numpy's legacy <c>RandomState</c> (the generator behind
/// <c>np.random.seed</c> / <c>np.random.permutation</c>) that BigBird uses.
/// </summary>
/// <remarks>
/// <para>
/// The generator is the 32-bit Mersenne Twister MT19937: a state of 624 words that is regenerated in one
/// "twist" whenever all of its words have been consumed, with each output word passed through a fixed
/// tempering of shifts and masks.
/// </para>
/// <para>
/// Seeding with an integer uses the classic single-word initialisation (Knuth's multiplier 1812433253 run over
/// the 624 words), not the array initialisation; numpy's <c>get_state()</c> after <c>seed(s)</c> starts with
/// the word <c>s</c> and a position of 624, which is what this class reproduces.
/// </para>
/// <para>
/// Shuffling is Fisher-Yates walking from the last element down to the second: for position <c>i</c> an index
/// <c>j</c> in <c>[0, i]</c> is drawn and the two elements are swapped. The index is drawn like numpy's legacy
/// bounded-integer routine: the smallest all-ones bit mask covering <c>i</c> is applied to fresh 32-bit outputs
/// until the masked value is no greater than <c>i</c>. Position 0 is never visited, so arrays of length 0 or 1
/// consume no outputs.
/// </para>
/// </remarks>
internal sealed class NumpyRandomState
{
    private const int StateSize = 624;
    private const int ShiftSize = 397;
    private const uint MatrixA = 0x9908B0DFu;
    private const uint UpperMask = 0x80000000u;
    private const uint LowerMask = 0x7FFFFFFFu;

    private readonly uint[] _key = new uint[StateSize];
    private int _position;

    /// <summary>Creates a generator in the state numpy's <c>np.random.seed(seed)</c> leaves behind.</summary>
    /// <param name="seed">The integer seed, 0 to 2^32-1.</param>
    public NumpyRandomState(uint seed) => Seed(seed);

    /// <summary>Resets the state exactly like numpy's legacy <c>RandomState.seed(seed)</c> for an integer seed.</summary>
    /// <param name="seed">The integer seed, 0 to 2^32-1.</param>
    public void Seed(uint seed)
    {
        _key[0] = seed;
        for (int i = 1; i < StateSize; i++)
        {
            uint previous = _key[i - 1];
            _key[i] = unchecked(1812433253u * (previous ^ (previous >> 30)) + (uint)i);
        }

        _position = StateSize;
    }

    /// <summary>Returns the next tempered 32-bit output of the Mersenne Twister.</summary>
    /// <returns>A value uniformly distributed over all 32-bit unsigned integers.</returns>
    public uint NextUInt32()
    {
        if (_position >= StateSize)
        {
            Twist();
        }

        uint y = _key[_position++];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9D2C5680u;
        y ^= (y << 15) & 0xEFC60000u;
        y ^= y >> 18;
        return y;
    }

    /// <summary>
    /// Draws an integer in <c>[0, max]</c> (both ends included) as numpy's legacy bounded routine does: masked
    /// rejection sampling on 32-bit outputs. <c>max == 0</c> returns 0 without drawing.
    /// </summary>
    /// <param name="max">The largest value that may be returned.</param>
    /// <returns>The drawn integer.</returns>
    public uint NextBounded(uint max)
    {
        if (max == 0)
        {
            return 0;
        }

        uint mask = max;
        mask |= mask >> 1;
        mask |= mask >> 2;
        mask |= mask >> 4;
        mask |= mask >> 8;
        mask |= mask >> 16;

        uint value;
        do
        {
            value = NextUInt32() & mask;
        }
        while (value > max);

        return value;
    }

    /// <summary>Shuffles <paramref name="values"/> in place exactly like legacy <c>RandomState.shuffle</c> on a 1-D array.</summary>
    /// <param name="values">The elements to permute.</param>
    public void Shuffle(Span<int> values)
    {
        for (int i = values.Length - 1; i > 0; i--)
        {
            int j = (int)NextBounded((uint)i);
            (values[i], values[j]) = (values[j], values[i]);
        }
    }

    /// <summary>Returns a shuffled copy of <c>0, 1, ..., n-1</c>, like <c>np.random.permutation(n)</c>.</summary>
    /// <param name="n">How many integers to permute; must not be negative.</param>
    /// <returns>A new array holding the permutation.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="n"/> is negative.</exception>
    public int[] Permutation(int n)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        var result = new int[n];
        for (int i = 0; i < n; i++)
        {
            result[i] = i;
        }

        Shuffle(result);
        return result;
    }

    /// <summary>Returns a shuffled copy of <paramref name="values"/>, like <c>np.random.permutation(array)</c>.</summary>
    /// <param name="values">The elements to permute; left unchanged.</param>
    /// <returns>A new array holding the permuted elements.</returns>
    public int[] Permutation(ReadOnlySpan<int> values)
    {
        int[] result = values.ToArray();
        Shuffle(result);
        return result;
    }

    private void Twist()
    {
        uint[] mt = _key;
        for (int k = 0; k < StateSize; k++)
        {
            uint y = (mt[k] & UpperMask) | (mt[(k + 1) % StateSize] & LowerMask);
            mt[k] = mt[(k + ShiftSize) % StateSize] ^ (y >> 1) ^ ((y & 1u) != 0 ? MatrixA : 0u);
        }

        _position = 0;
    }
}
