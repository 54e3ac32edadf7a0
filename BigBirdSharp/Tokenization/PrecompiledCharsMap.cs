using System.Buffers.Binary;

namespace BigBirdSharp.Tokenization;

/// <summary>SentencePiece's precompiled normalization rules: a little-endian uint32 trie size, a darts-clone
/// double-array trie over UTF-8 byte sequences, then the NUL-separated replacement strings the trie's values point
/// into. Lookups are bounds-checked, so a corrupt blob can only stop a match, never read outside the data.</summary>
internal sealed class PrecompiledCharsMap
{
    private readonly uint[] units;
    private readonly byte[] normalized;

    private PrecompiledCharsMap(uint[] units, byte[] normalized)
    {
        this.units = units;
        this.normalized = normalized;
    }

    public static PrecompiledCharsMap Parse(byte[] blob, string filePath)
    {
        if (blob.Length <= 4)
            throw new TokenizerFormatException(filePath, "precompiled_charsmap is broken (shorter than its 4-byte header)");
        uint trieSize = BinaryPrimitives.ReadUInt32LittleEndian(blob);
        if (trieSize > (uint)(blob.Length - 4))
            throw new TokenizerFormatException(filePath, $"precompiled_charsmap is broken (trie size {trieSize} exceeds the {blob.Length}-byte blob)");
        if (trieSize < 4)
            throw new TokenizerFormatException(filePath, $"precompiled_charsmap is broken (trie size {trieSize} holds no double-array unit)");
        var units = new uint[trieSize / 4];
        for (int i = 0; i < units.Length; i++) units[i] = BinaryPrimitives.ReadUInt32LittleEndian(blob.AsSpan(4 + 4 * i));
        return new PrecompiledCharsMap(units, blob.AsSpan(4 + (int)trieSize).ToArray());
    }

    private static bool HasLeaf(uint unit) => ((unit >> 8) & 1) == 1;
    private static uint Value(uint unit) => unit & 0x7FFFFFFFu;
    private static uint Label(uint unit) => unit & 0x800000FFu;
    private static uint Offset(uint unit) => (unit >> 10) << (int)((unit & (1u << 9)) >> 6);

    /// <summary>The longest rule that is a prefix of <paramref name="input"/>: its length in bytes (0 when none)
    /// and its replacement.</summary>
    public int LongestMatch(ReadOnlySpan<byte> input, out ReadOnlySpan<byte> replacement)
    {
        replacement = default;
        int bestLength = 0;
        uint bestValue = 0;
        uint nodePos = 0;
        uint unit = units[0];
        nodePos ^= Offset(unit);
        for (int i = 0; i < input.Length; i++)
        {
            byte b = input[i];
            nodePos ^= b;
            if (nodePos >= (uint)units.Length) break;
            unit = units[nodePos];
            if (Label(unit) != b) break;
            nodePos ^= Offset(unit);
            if (HasLeaf(unit))
            {
                if (nodePos >= (uint)units.Length) break;
                bestLength = i + 1;
                bestValue = Value(units[nodePos]);
            }
        }
        if (bestLength == 0) return 0;
        if (bestValue >= (uint)normalized.Length) return 0;
        var rest = normalized.AsSpan((int)bestValue);
        int nul = rest.IndexOf((byte)0);
        replacement = nul < 0 ? rest : rest[..nul];
        return bestLength;
    }
}
