using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace BigBirdSharp.Cli;

/// <summary>
/// How the CLI reads its input files and standard input: every path must be a regular file (a FIFO or device is refused
/// before it is opened, so nothing blocks), text is decoded as UTF-8 with invalid bytes counted (replaced by U+FFFD with
/// a warning, or a typed error naming the line and byte offset under <c>--strict</c>), and a document is read only as far
/// as the model can take.
/// </summary>
internal static class CliInput
{
    /// <summary>
    /// Checks that <paramref name="path"/> names a regular, non-empty file before anything opens it. A FIFO, socket or
    /// device reports a size of zero, so it is refused here with the empty file, and never opened (opening a FIFO blocks
    /// until someone writes to it).
    /// </summary>
    /// <param name="path">The path as the user gave it.</param>
    /// <param name="option">The option that took it (<c>--input</c>), for the message.</param>
    /// <exception cref="BigBirdInputException">No such file, a folder, or empty or not a regular file.</exception>
    public static void CheckRegularFile(string path, string option)
    {
        if (Directory.Exists(path))
            throw new BigBirdInputException($"{path} is a folder; {option} takes a file.");
        var info = new FileInfo(path);
        // a symbolic link is judged by what it finally points to (a link to /dev/zero is a device, not a 9-byte file)
        if (info.Exists && info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is FileInfo target)
            info = target;
        if (!info.Exists)
            throw new BigBirdInputException($"{path}: file not found ({option}).");
        // a FIFO, socket or device reports size 0 (and so does an empty file, which is no input either)
        if (info.Length == 0)
            throw new BigBirdInputException(
                $"{path} is empty or is not a regular file (a FIFO, socket or device is refused rather than read); " +
                $"{option} takes a regular file{(option == "--input" ? ", or - for standard input" : "")}.");
    }

    /// <summary>
    /// Checks the files of a checkpoint folder that exist (config.json, the tokenizer files and the weights) the same way,
    /// before any of them is opened: a FIFO or device in a model folder is refused, never read.
    /// </summary>
    /// <exception cref="BigBirdException">One of them is empty or not a regular file; the message names it.</exception>
    public static void CheckModelFolder(string dir)
    {
        string[] names =
        [
            "config.json", "spiece.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
            .. IO.CheckpointLoader.CandidateFileNames,
        ];
        foreach (var name in names)
        {
            string path = Path.Combine(dir, name);
            if (Directory.Exists(path)) throw new BigBirdException($"{path} is a folder, not a file.");
            var info = new FileInfo(path);
            if (info.Exists && info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is FileInfo target) info = target;
            if (info.Exists && info.Length == 0)
                throw new BigBirdException($"{path} is empty or is not a regular file (a FIFO, socket or device is refused rather than read).");
        }
    }

    /// <summary>Opens a regular file (see <see cref="CheckRegularFile"/>) for reading.</summary>
    public static FileStream OpenRegularFile(string path, string option)
    {
        CheckRegularFile(path, option);
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
    }

    /// <summary>Reads a whole regular file as UTF-8 text (BOM dropped, invalid bytes handled as <see cref="Utf8Text"/> says).</summary>
    /// <exception cref="BigBirdInputException">The file holds more than <paramref name="maxChars"/> characters.</exception>
    public static string ReadAllText(string path, string option, bool strict, Action<string> warn, long maxChars = Utf8Text.MaxWholeChars)
    {
        using var stream = OpenRegularFile(path, option);
        var text = Utf8Text.Read(stream, path, maxChars, strict, warn);
        return text.Complete ? text.Text : throw Utf8Text.TooLarge(path, maxChars);
    }
}

/// <summary>Text decoded from UTF-8 bytes, and how much of the input was left unread.</summary>
/// <param name="Text">The decoded text, without a leading byte-order mark.</param>
/// <param name="Complete">True when the whole input was read.</param>
/// <param name="BytesRead">Bytes decoded into <paramref name="Text"/>.</param>
/// <param name="BytesDropped">Bytes left unread, when the input's length is known (a file); null for a stream.</param>
internal sealed record Utf8Text(string Text, bool Complete, long BytesRead, long? BytesDropped)
{
    private const int Chunk = 1 << 16;

    /// <summary>The most characters of an input that is read whole (a JSONL batch, a tokenize input, a qa context):
    /// 256 Mi characters, 512 MiB as .NET text.</summary>
    public const long MaxWholeChars = 256L << 20;

    /// <summary>The error for an input read whole that is longer than <paramref name="maxChars"/>.</summary>
    public static BigBirdInputException TooLarge(string source, long maxChars = MaxWholeChars) =>
        new($"{source} holds more than {maxChars} characters; an input read whole (a JSONL batch, a tokenize input, a qa context) " +
            "must be smaller. Split it into several files.");

    /// <summary>
    /// Decodes <paramref name="stream"/> as UTF-8, stopping once about <paramref name="maxChars"/> characters are read (the
    /// rest is never read, so memory stays proportional to <paramref name="maxChars"/>, not to the input). Each invalid
    /// byte sequence becomes U+FFFD and is counted in one warning naming the first (line and byte offset); under
    /// <paramref name="strict"/> the first one is a <see cref="BigBirdInputException"/> instead.
    /// </summary>
    public static Utf8Text Read(Stream stream, string source, long maxChars, bool strict, Action<string> warn)
    {
        var text = new StringBuilder();
        byte[] bytes = ArrayPool<byte>.Shared.Rent(Chunk);
        char[] chars = ArrayPool<char>.Shared.Rent(Chunk);
        long consumed = 0, line = 1, invalid = 0, firstLine = 0, firstOffset = 0;
        int have = 0;
        bool eof = false;
        try
        {
            while (text.Length < maxChars && !eof)
            {
                int n = stream.Read(bytes, have, Chunk - have);
                eof = n == 0;
                have += n;
                var span = bytes.AsSpan(0, have);
                int pos = 0;
                while (pos < span.Length)
                {
                    var status = Utf8.ToUtf16(span[pos..], chars.AsSpan(0, Chunk), out int read, out int written,
                                              replaceInvalidSequences: false, isFinalBlock: eof);
                    text.Append(chars, 0, written);
                    line += span.Slice(pos, read).Count((byte)'\n');
                    pos += read;
                    consumed += read;
                    if (status == System.Buffers.OperationStatus.NeedMoreData) break;
                    if (status != System.Buffers.OperationStatus.InvalidData) continue;
                    System.Text.Rune.DecodeFromUtf8(span[pos..], out _, out int bad);
                    bad = Math.Max(bad, 1);
                    if (invalid++ == 0) { firstLine = line; firstOffset = consumed; }
                    if (strict)
                        throw new BigBirdInputException(
                            $"{source}: line {line} (byte offset {consumed}): invalid UTF-8 (byte 0x{span[pos]:X2}); the input must be " +
                            "UTF-8 text. Fix its encoding, or drop --strict to read each invalid sequence as U+FFFD with a warning.");
                    text.Append('\uFFFD');
                    pos += bad;
                    consumed += bad;
                }
                // an incomplete sequence at the end of the chunk waits for the next read
                span[pos..].CopyTo(bytes);
                have = span.Length - pos;
                if (eof) have = 0;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
            ArrayPool<char>.Shared.Return(chars);
        }
        if (invalid > 0)
            warn($"{source}: {invalid} invalid UTF-8 sequence{(invalid == 1 ? "" : "s")} read as U+FFFD (the first at line {firstLine}, " +
                 $"byte offset {firstOffset}); the input should be UTF-8. Pass --strict to refuse such input.");
        bool complete = eof && have == 0;
        long? dropped = null;
        if (!complete && stream.CanSeek) dropped = Math.Max(0, stream.Length - consumed);
        int start = text.Length > 0 && text[0] == '\uFEFF' ? 1 : 0;
        long keep = Math.Min(text.Length, maxChars);
        if (keep < text.Length && keep > 0 && char.IsHighSurrogate(text[(int)keep - 1])) keep--; // never split a pair
        if (keep < text.Length)
        {
            // what was decoded past the limit is dropped as well
            long extraBytes = Encoding.UTF8.GetByteCount(text.ToString((int)keep, text.Length - (int)keep));
            consumed -= extraBytes;
            if (dropped is not null) dropped += extraBytes;
            complete = false;
        }
        return new Utf8Text(text.ToString(start, Math.Max(0, (int)keep - start)), complete, consumed, dropped);
    }
}

/// <summary>The characters of a <see cref="TextReader"/> as a read-only stream of UTF-8 bytes (what the CLI reads as
/// standard input when it is given a reader rather than the process's stdin).</summary>
internal sealed class TextReaderStream(TextReader reader) : Stream
{
    private readonly Encoder _encoder = new UTF8Encoding(false).GetEncoder();
    private readonly char[] _chars = new char[4096];
    private readonly byte[] _pending = new byte[3 * 4096 + 8];
    private int _pendingStart, _pendingEnd;
    private bool _done;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count)
    {
        while (_pendingStart == _pendingEnd && !_done)
        {
            int n = reader.Read(_chars, 0, _chars.Length);
            _done = n == 0;
            _pendingStart = 0;
            _pendingEnd = _encoder.GetBytes(_chars, 0, n, _pending, 0, flush: _done);
        }
        int take = Math.Min(count, _pendingEnd - _pendingStart);
        Array.Copy(_pending, _pendingStart, buffer, offset, take);
        _pendingStart += take;
        return take;
    }

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

/// <summary>JSON string values that may hold lone surrogate escapes (<c>"\ud800"</c>): valid JSON, but not Unicode text.</summary>
internal static class JsonText
{
    /// <summary>
    /// The string value of <paramref name="value"/>, a JSON string read from <paramref name="line"/>. Each lone surrogate
    /// escape becomes U+FFFD, with one warning that counts them; under <paramref name="strict"/> the first is a
    /// <see cref="BigBirdInputException"/> naming <paramref name="where"/> (file and line) and its byte offset in the line.
    /// </summary>
    public static string GetString(System.Text.Json.JsonElement value, string line, string where, string key, bool strict, Action<string> warn)
    {
        try
        {
            return value.GetString()!;
        }
        catch (InvalidOperationException)
        {
            // System.Text.Json refuses to turn a lone surrogate escape into a string; decode it ourselves
        }
        string raw = value.GetRawText();
        var (text, count, first) = Unescape(raw);
        int at = Math.Max(0, line.IndexOf(raw, StringComparison.Ordinal));
        int byteOffset = Encoding.UTF8.GetByteCount(line.AsSpan(0, Math.Min(line.Length, at + first)));
        string escape = raw.Substring(first, Math.Min(6, raw.Length - first));
        if (strict)
            throw new BigBirdInputException(
                $"{where}, byte offset {byteOffset} in the line: \"{key}\" holds the lone surrogate escape {escape}, which is not Unicode " +
                "text. Fix the producer of this file, or drop --strict to read it as U+FFFD with a warning.");
        warn($"{where}: \"{key}\" holds {count} lone surrogate escape{(count == 1 ? "" : "s")} (the first, {escape}, at byte offset " +
             $"{byteOffset} in the line) read as U+FFFD. Pass --strict to refuse such input.");
        return text;
    }

    /// <summary>Decodes the JSON string literal <paramref name="raw"/> (quotes included), replacing lone surrogates with
    /// U+FFFD; returns the text, how many were replaced, and the index in <paramref name="raw"/> of the first.</summary>
    internal static (string Text, int Count, int First) Unescape(string raw)
    {
        var sb = new StringBuilder(raw.Length);
        int count = 0, first = -1;
        int end = raw.Length > 0 && raw[^1] == '"' ? raw.Length - 1 : raw.Length;
        int i = raw.Length > 0 && raw[0] == '"' ? 1 : 0;
        while (i < end)
        {
            char c = raw[i];
            if (c != '\\' || i + 1 >= end)
            {
                if (char.IsSurrogate(c) && !(char.IsHighSurrogate(c) && i + 1 < end && char.IsLowSurrogate(raw[i + 1])) &&
                    !(char.IsLowSurrogate(c) && i > 0 && char.IsHighSurrogate(raw[i - 1])))
                {
                    Lone(i);
                }
                else sb.Append(c);
                i++;
                continue;
            }
            char e = raw[i + 1];
            if (e != 'u')
            {
                sb.Append(e switch { 'b' => '\b', 'f' => '\f', 'n' => '\n', 'r' => '\r', 't' => '\t', _ => e });
                i += 2;
                continue;
            }
            int unit = Hex(raw, i + 2, end);
            if (unit < 0) { sb.Append('\uFFFD'); i += 2; continue; }
            if (char.IsHighSurrogate((char)unit) && i + 12 <= end && raw[i + 6] == '\\' && raw[i + 7] == 'u' &&
                Hex(raw, i + 8, end) is int low && low >= 0 && char.IsLowSurrogate((char)low))
            {
                sb.Append((char)unit).Append((char)low);
                i += 12;
                continue;
            }
            if (char.IsSurrogate((char)unit)) Lone(i);
            else sb.Append((char)unit);
            i += 6;
        }
        return (sb.ToString(), count, Math.Max(first, 0));

        void Lone(int at)
        {
            if (count++ == 0) first = at;
            sb.Append('\uFFFD');
        }
    }

    private static int Hex(string s, int start, int end)
    {
        if (start + 4 > end) return -1;
        int v = 0;
        for (int k = start; k < start + 4; k++)
        {
            int d = s[k] switch { >= '0' and <= '9' => s[k] - '0', >= 'a' and <= 'f' => s[k] - 'a' + 10, >= 'A' and <= 'F' => s[k] - 'A' + 10, _ => -1 };
            if (d < 0) return -1;
            v = v * 16 + d;
        }
        return v;
    }
}
