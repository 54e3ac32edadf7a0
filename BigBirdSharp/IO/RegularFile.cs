namespace BigBirdSharp.IO;

/// <summary>
/// The check every file of a model folder goes through before anything opens it: it must be a regular,
/// non-empty file (after following symbolic links). Opening a FIFO for reading blocks until some writer
/// appears, and a character device such as <c>/dev/zero</c> never ends, so those must be refused before
/// <c>open()</c>, not after.
/// </summary>
/// <remarks>
/// .NET exposes no file type on Unix (a FIFO's <see cref="FileSystemInfo.Attributes"/> read
/// <see cref="FileAttributes.Normal"/>), so the check rests on the size the kernel reports: FIFOs,
/// sockets and device nodes report 0 bytes on Linux, and no weights, config or tokenizer file can be
/// empty. <see cref="OpenRead"/> also refuses a stream that cannot seek once open, which covers systems
/// where a FIFO with data in it reports a size.
/// </remarks>
internal static class RegularFile
{
    /// <summary>
    /// Why <paramref name="path"/> cannot be read as a file, or null when it is a regular, non-empty file.
    /// <paramref name="length"/> is its size in bytes when the answer is null.
    /// </summary>
    public static string? Problem(string path, out long length)
    {
        ArgumentNullException.ThrowIfNull(path);
        length = 0;
        try
        {
            FileSystemInfo info = new FileInfo(path);
            if (info.LinkTarget is not null)
            {
                var target = info.ResolveLinkTarget(returnFinalTarget: true);
                if (target is null || !target.Exists && !Directory.Exists(target.FullName))
                    return $"is a symbolic link to '{info.LinkTarget}', which does not exist";
                info = target;
            }
            if (Directory.Exists(info.FullName)) return "is a folder, not a file";
            if (!info.Exists) return "does not exist";
            length = ((FileInfo)info).Length;
            if (length == 0)
                return "is empty (0 bytes) or is not a regular file (a FIFO, socket or device, which report no size); it cannot be read as a model file";
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return $"cannot be examined: {e.Message}";
        }
    }

    /// <summary>
    /// Throws <see cref="CheckpointFormatException"/> unless <paramref name="path"/> is a regular, non-empty file;
    /// returns its size. <paramref name="what"/> names the file's role for the message ("torch checkpoint").
    /// </summary>
    /// <exception cref="CheckpointFormatException">The path is missing, a folder, a dangling link, empty, a FIFO,
    /// a socket or a device.</exception>
    public static long EnsureRegular(string path, string what)
    {
        string? problem = Problem(path, out long length);
        if (problem is not null) throw new CheckpointFormatException(path, $"the {what} {problem}");
        return length;
    }

    /// <summary>
    /// Checks <paramref name="path"/> with <see cref="EnsureRegular"/>, then opens it for reading and refuses it if
    /// the stream that opened cannot seek (a file that changed into a pipe or device between the check and the open).
    /// </summary>
    /// <exception cref="CheckpointFormatException">The file fails the check or cannot be opened.</exception>
    public static FileStream OpenRead(string path, string what)
    {
        EnsureRegular(path, what);
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointFormatException(path, $"cannot open the {what}: {e.Message}", e);
        }
        if (!stream.CanSeek)
        {
            stream.Dispose();
            throw new CheckpointFormatException(path, $"the {what} is not a regular file (it cannot seek: a pipe, socket or device)");
        }
        return stream;
    }
}
