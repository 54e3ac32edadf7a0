namespace BigBirdSharp;

/// <summary>Base type of every error BigBirdSharp raises on purpose.</summary>
public class BigBirdException : Exception
{
    /// <summary>Creates an error with a message a user can act on.</summary>
    public BigBirdException(string message) : base(message) { }

    /// <summary>Creates an error that wraps its cause.</summary>
    public BigBirdException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>An invalid or unsupported value in <c>config.json</c>.</summary>
public sealed class BigBirdConfigException : BigBirdException
{
    /// <summary>Creates the error.</summary>
    public BigBirdConfigException(string message) : base(message) { }

    /// <summary>Creates the error, wrapping its cause.</summary>
    public BigBirdConfigException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A checkpoint file that is malformed, truncated, hostile, or in an unsupported format.</summary>
public sealed class CheckpointFormatException : BigBirdException
{
    /// <summary>The file at fault.</summary>
    public string FilePath { get; }

    /// <summary>Creates the error; the message is prefixed with the file path.</summary>
    public CheckpointFormatException(string filePath, string message)
        : base($"{filePath}: {message}") => FilePath = filePath;

    /// <summary>Creates the error, wrapping its cause.</summary>
    public CheckpointFormatException(string filePath, string message, Exception inner)
        : base($"{filePath}: {message}", inner) => FilePath = filePath;
}

/// <summary>A tensor the model needs is missing from the checkpoint, or has the wrong shape.</summary>
public sealed class TensorMismatchException : BigBirdException
{
    /// <summary>The tensor's name, as the model asked for it.</summary>
    public string TensorName { get; }

    /// <summary>Creates the error.</summary>
    public TensorMismatchException(string tensorName, string message) : base(message) => TensorName = tensorName;
}

/// <summary>Forward-pass input that the model cannot run: bad ids, shapes, or lengths.</summary>
public sealed class BigBirdInputException : BigBirdException
{
    /// <summary>Creates the error.</summary>
    public BigBirdInputException(string message) : base(message) { }
}
