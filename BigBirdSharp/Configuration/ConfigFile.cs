using System.Text.Json;
using BigBirdSharp.IO;

namespace BigBirdSharp.Configuration;

/// <summary>
/// The reading of a <c>config.json</c> every configuration shares: missing files, FIFOs and devices, and files larger than
/// any configuration are refused before anything is read; and the <c>model_type</c> that says which configuration reads it.
/// </summary>
internal static class ConfigFile
{
    /// <summary>The text of the configuration file (<c>config.json</c>, <c>generation_config.json</c>) at <paramref name="path"/>.</summary>
    /// <exception cref="BigBirdConfigException">Missing, not a regular file, larger than <see cref="BigBirdConfig.MaxFileBytes"/>, or unreadable.</exception>
    public static string ReadText(string path)
    {
        string name = Path.GetFileName(path);
        if (!File.Exists(path) && !Directory.Exists(path))
            throw new BigBirdConfigException($"{path}: {name} not found; a Hugging Face checkpoint folder has one beside its weights.");
        // a FIFO or device is refused before it is opened (opening a FIFO blocks; a device never ends)
        string? problem = RegularFile.Problem(path, out long length);
        if (problem is not null) throw new BigBirdConfigException($"{path}: {name} {problem}");
        if (length > BigBirdConfig.MaxFileBytes)
            throw new BigBirdConfigException(
                $"{path}: {name} is {length} bytes, more than the {BigBirdConfig.MaxFileBytes} a configuration can need; it is not a {name}.");
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException e)
        {
            throw new BigBirdConfigException($"{path}: cannot read: {e.Message}", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new BigBirdConfigException($"{path}: cannot read: {e.Message}", e);
        }
    }

    private static readonly JsonDocumentOptions Options = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    /// <summary>
    /// The configuration text <paramref name="json"/> (read from <paramref name="source"/>, which errors name) as a JSON
    /// object: comments and trailing commas allowed, as Python's loader of HF files tolerates neither but HF's files are
    /// sometimes edited by hand; a string that is not Unicode text (a lone surrogate escape) is refused by its offset.
    /// </summary>
    /// <exception cref="BigBirdConfigException">Not valid JSON, a lone surrogate, or not an object at the top level.</exception>
    public static JsonDocument Parse(string json, string source)
    {
        JsonDocument doc;
        try
        {
            long bad = JsonStrings.FirstUndecodable(System.Text.Encoding.UTF8.GetBytes(json),
                new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            if (bad >= 0) throw new BigBirdConfigException($"{source}: {JsonStrings.Describe(bad)}.");
            doc = JsonDocument.Parse(json, Options);
        }
        catch (JsonException e)
        {
            throw new BigBirdConfigException($"{source}: not valid JSON: {e.Message}", e);
        }
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            var kind = doc.RootElement.ValueKind;
            doc.Dispose();
            throw new BigBirdConfigException($"{source}: expected a JSON object at the top level, found {kind}.");
        }
        return doc;
    }

    /// <summary>
    /// The <c>model_type</c> of the checkpoint folder <paramref name="directory"/> (its <c>config.json</c>), or null when the
    /// file has none (BigBirdSharp then reads it as a BigBird configuration, as it always has).
    /// </summary>
    /// <exception cref="BigBirdConfigException">The file is missing or unreadable, not a JSON object, or its model_type is not a string.</exception>
    public static string? ModelTypeOf(string directory)
    {
        string path = Path.Combine(directory, "config.json");
        using var doc = Parse(ReadText(path), path);
        if (!doc.RootElement.TryGetProperty("model_type", out var e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.String)
            throw new BigBirdConfigException($"{path}: model_type must be a string, found {e.ValueKind} '{e.GetRawText()}'.");
        return e.GetString();
    }
}
