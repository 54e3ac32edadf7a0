namespace BigBirdSharp.Tokenization;

/// <summary>A tokenizer file (<c>spiece.model</c>, <c>tokenizer.json</c>, <c>special_tokens_map.json</c>, ...) that is
/// malformed, truncated, inconsistent, or in an unsupported format.</summary>
public sealed class TokenizerFormatException : BigBirdException
{
    /// <summary>The file at fault.</summary>
    public string FilePath { get; }

    /// <summary>Creates the error; the message is prefixed with the file path.</summary>
    public TokenizerFormatException(string filePath, string message)
        : base($"{filePath}: {message}") => FilePath = filePath;

    /// <summary>Creates the error, wrapping its cause.</summary>
    public TokenizerFormatException(string filePath, string message, Exception inner)
        : base($"{filePath}: {message}", inner) => FilePath = filePath;
}
