namespace BigBirdSharp.Tokenization;

/// <summary>Reads a tokenizer file only when it is a regular file: a FIFO or device in a tokenizer folder is refused before
/// it is opened (opening a FIFO blocks until someone writes to it; a device never ends).</summary>
internal static class TokenizerFile
{
    /// <summary>The bytes of <paramref name="path"/>.</summary>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="TokenizerFormatException">It is empty, or not a regular file.</exception>
    public static byte[] ReadAllBytes(string path)
    {
        var info = new FileInfo(path);
        // a symbolic link is judged by what it finally points to
        if (info.Exists && info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is FileInfo target) info = target;
        if (!info.Exists) throw new FileNotFoundException($"{path}: file not found", path);
        // a FIFO, socket or device reports size 0, as an empty file does; neither is a tokenizer
        if (info.Length == 0)
            throw new TokenizerFormatException(path, "the file is empty or is not a regular file (a FIFO, socket or device is refused rather than read)");
        return File.ReadAllBytes(path);
    }
}
