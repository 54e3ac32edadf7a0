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

/// <summary>
/// A checkpoint folder that does not hold the task head a typed loader was asked for
/// (<c>BigBirdForQuestionAnswering.FromPretrained</c> on a folder with no <c>qa_classifier.*</c> tensors), or whose
/// config.json contradicts it (a <c>BigBirdForCausalLM</c> whose <c>is_decoder</c> is false).
/// </summary>
public sealed class BigBirdArchitectureException : BigBirdException
{
    /// <summary>The checkpoint folder.</summary>
    public string Directory { get; }

    /// <summary>The HF class that was asked for, e.g. <c>BigBirdForQuestionAnswering</c>.</summary>
    public string Architecture { get; }

    /// <summary>Creates the error; the message is prefixed with the folder.</summary>
    public BigBirdArchitectureException(string directory, string architecture, string message)
        : base($"{directory}: {message}")
    {
        Directory = directory;
        Architecture = architecture;
    }
}

/// <summary>Load-time options that contradict each other or are out of range (<c>BigBirdModelOptions</c>).</summary>
public sealed class BigBirdOptionsException : BigBirdException
{
    /// <summary>The option at fault, by its property name (e.g. <c>Threads</c>).</summary>
    public string OptionName { get; }

    /// <summary>Creates the error.</summary>
    public BigBirdOptionsException(string optionName, string message) : base(message) => OptionName = optionName;
}

/// <summary>The embedded default model is not where <c>BigBirdDefaultModel</c> looks for it.</summary>
public sealed class DefaultModelNotFoundException : BigBirdException
{
    /// <summary>The folder that was looked for.</summary>
    public string Directory { get; }

    /// <summary>Creates the error; the message names the folder.</summary>
    public DefaultModelNotFoundException(string directory, string message) : base(message) => Directory = directory;
}
