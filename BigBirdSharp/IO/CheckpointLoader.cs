namespace BigBirdSharp.IO;

/// <summary>Finds and opens the weights of a Hugging Face model folder.</summary>
internal static class CheckpointLoader
{
    /// <summary>The weight files looked for in a folder, most preferred first.</summary>
    public static IReadOnlyList<string> CandidateFileNames { get; } =
    [
        "model.safetensors",
        "model.safetensors.index.json",
        "pytorch_model.bin",
        "pytorch_model.bin.index.json",
    ];

    /// <summary>
    /// Opens a checkpoint. <paramref name="path"/> is either a model folder, where the first of
    /// <see cref="CandidateFileNames"/> that exists is used, or a weights file: <c>*.safetensors</c>,
    /// <c>*.index.json</c> (sharded), or <c>*.bin</c> / <c>*.pt</c> / <c>*.pth</c> (torch zip).
    /// </summary>
    /// <returns>A reader the caller must dispose.</returns>
    /// <exception cref="CheckpointFormatException">The path does not exist, the folder has none of the weight files,
    /// the file type is not recognised, or the chosen file is malformed.</exception>
    public static ITensorReader Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (File.Exists(path)) return OpenFile(path);
        if (!Directory.Exists(path))
            throw new CheckpointFormatException(path, "no such file or folder; pass a model folder (holding model.safetensors or pytorch_model.bin) or a weights file");

        foreach (var candidate in CandidateFileNames)
        {
            string file = Path.Combine(path, candidate);
            if (File.Exists(file)) return OpenFile(file);
        }
        throw new CheckpointFormatException(path,
            $"folder has no weights file; looked for {string.Join(", ", CandidateFileNames)}. " +
            "Save the model with transformers' save_pretrained (safetensors is preferred), or convert TensorFlow/Flax/legacy weights with save_pretrained first.");
    }

    private static ITensorReader OpenFile(string file)
    {
        string name = Path.GetFileName(file).ToLowerInvariant();
        if (name.EndsWith(".index.json", StringComparison.Ordinal)) return ShardedCheckpointReader.Open(file);
        if (name.EndsWith(".safetensors", StringComparison.Ordinal)) return new SafeTensorsReader(file);
        if (name.EndsWith(".bin", StringComparison.Ordinal) || name.EndsWith(".pt", StringComparison.Ordinal) || name.EndsWith(".pth", StringComparison.Ordinal))
            return TorchCheckpointReader.Open(file);
        throw new CheckpointFormatException(file, "unrecognised weights file type; expected .safetensors, .index.json, .bin, .pt or .pth");
    }
}
