using BigBirdSharp.IO;

namespace BigBirdSharp.Tokenization;

/// <summary>Reads a tokenizer file only when it is a regular file: a FIFO or device in a tokenizer folder is refused before
/// it is opened (opening a FIFO blocks until someone writes to it; a device never ends).</summary>
internal static class TokenizerFile
{
    /// <summary>The largest tokenizer file read (spiece.model files are a few MiB, tokenizer.json files tens of MiB).</summary>
    public const long MaxFileBytes = 256L << 20;

    /// <summary>The bytes of <paramref name="path"/>.</summary>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="TokenizerFormatException">It is empty, not a regular file, or larger than <see cref="MaxFileBytes"/>.</exception>
    public static byte[] ReadAllBytes(string path)
    {
        if (!File.Exists(path) && !Directory.Exists(path)) throw new FileNotFoundException($"{path}: file not found", path);
        // the model folder's check: a FIFO, socket or device reports size 0, as an empty file does; neither is a tokenizer
        string? problem = RegularFile.Problem(path, out long length);
        if (problem is not null) throw new TokenizerFormatException(path, $"the file {problem}");
        if (length > MaxFileBytes)
            throw new TokenizerFormatException(path, $"the file is {length} bytes, more than the {MaxFileBytes} a tokenizer file can need");
        return File.ReadAllBytes(path);
    }
}
