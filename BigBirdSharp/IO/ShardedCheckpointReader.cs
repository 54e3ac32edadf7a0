using System.Text.Json;

namespace BigBirdSharp.IO;

/// <summary>
/// A checkpoint split over several files and described by an index such as
/// <c>model.safetensors.index.json</c> or <c>pytorch_model.bin.index.json</c>:
/// <c>{"metadata": {...}, "weight_map": {"tensor name": "shard file name", ...}}</c>.
/// Every shard named by the index is opened and validated up front, and every tensor the index lists
/// must be present in the shard it points to. The reader exposes exactly the tensors of the weight map.
/// </summary>
internal sealed class ShardedCheckpointReader : ITensorReader
{
    /// <summary>Largest index file accepted, in bytes.</summary>
    public const long MaxIndexBytes = 100_000_000;

    private readonly string _indexPath;
    private readonly Dictionary<string, ITensorReader> _owner;
    private readonly string[] _names;
    private readonly List<ITensorReader> _shards;
    private int _disposed;

    private ShardedCheckpointReader(string indexPath, Dictionary<string, ITensorReader> owner, string[] names, List<ITensorReader> shards)
    {
        _indexPath = indexPath;
        _owner = owner;
        _names = names;
        _shards = shards;
    }

    /// <summary>
    /// Opens an index file and every shard it names (safetensors shards for <c>.safetensors</c> names,
    /// torch zip shards for <c>.bin</c>, <c>.pt</c> and <c>.pth</c> names), all of which must sit in the
    /// index's own folder.
    /// </summary>
    /// <param name="indexPath">Path of the <c>*.index.json</c> file.</param>
    /// <exception cref="CheckpointFormatException">The index is missing, too large, not JSON, has no
    /// <c>weight_map</c> object or duplicate names; a shard name is not a plain file name in the same folder
    /// (path traversal, absolute path) or has an unknown extension; a shard is missing or malformed; or a
    /// tensor is absent from the shard the index names.</exception>
    public static ShardedCheckpointReader Open(string indexPath)
    {
        ArgumentNullException.ThrowIfNull(indexPath);
        string fullIndex = Path.GetFullPath(indexPath);
        string folder = Path.GetDirectoryName(fullIndex) ?? throw new CheckpointFormatException(indexPath, "index path has no folder");
        var weightMap = ReadWeightMap(indexPath);

        var byShardName = new Dictionary<string, ITensorReader>(StringComparer.Ordinal);
        var shards = new List<ITensorReader>();
        var owner = new Dictionary<string, ITensorReader>(StringComparer.Ordinal);
        try
        {
            foreach (var (tensor, shardName) in weightMap)
            {
                if (!byShardName.TryGetValue(shardName, out var shard))
                {
                    string shardPath = ResolveShard(indexPath, folder, tensor, shardName);
                    shard = OpenShard(indexPath, shardPath, shardName);
                    byShardName.Add(shardName, shard);
                    shards.Add(shard);
                }
                if (!shard.TryGetInfo(tensor, out _))
                    throw new CheckpointFormatException(indexPath, $"weight_map says tensor '{tensor}' is in shard '{shardName}', but that shard has no such tensor");
                owner.Add(tensor, shard);
            }
        }
        catch
        {
            foreach (var s in shards) s.Dispose();
            throw;
        }
        return new ShardedCheckpointReader(indexPath, owner, weightMap.Select(p => p.Key).ToArray(), shards);
    }

    /// <summary>The index file this reader was opened from.</summary>
    public string IndexPath => _indexPath;

    /// <summary>Number of distinct shard files.</summary>
    public int ShardCount => _shards.Count;

    /// <summary>Every tensor name in the weight map, in index order.</summary>
    public IReadOnlyCollection<string> Names => _names;

    /// <summary>Looks up a tensor's metadata in the shard that holds it; false when the index does not list the name.</summary>
    public bool TryGetInfo(string name, out TensorInfo info)
    {
        if (_owner.TryGetValue(name, out var shard)) return shard.TryGetInfo(name, out info);
        info = null!;
        return false;
    }

    /// <summary>Reads a tensor as float32 from the shard that holds it (see <see cref="ITensorReader.ReadFloat32"/>).</summary>
    /// <exception cref="KeyNotFoundException">The index does not list the name.</exception>
    /// <exception cref="CheckpointFormatException">The tensor cannot be read as float32 or its data is malformed.</exception>
    /// <exception cref="ObjectDisposedException">The reader was disposed.</exception>
    public ReadOnlyMemory<float> ReadFloat32(string name)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (!_owner.TryGetValue(name, out var shard))
            throw new KeyNotFoundException($"{_indexPath}: no tensor named '{name}' in the weight map");
        return shard.ReadFloat32(name);
    }

    /// <summary>Reads a tensor into a new array from the shard that holds it (see <see cref="ITensorReader.ReadFloat32Copy"/>).</summary>
    /// <exception cref="KeyNotFoundException">The index does not list the name.</exception>
    /// <exception cref="CheckpointFormatException">The tensor cannot be read as float32 or its data is malformed.</exception>
    /// <exception cref="ObjectDisposedException">The reader was disposed.</exception>
    public float[] ReadFloat32Copy(string name)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (!_owner.TryGetValue(name, out var shard))
            throw new KeyNotFoundException($"{_indexPath}: no tensor named '{name}' in the weight map");
        return shard.ReadFloat32Copy(name);
    }

    /// <summary>Closes every shard.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        foreach (var shard in _shards) shard.Dispose();
    }

    private static List<KeyValuePair<string, string>> ReadWeightMap(string indexPath)
    {
        byte[] bytes;
        try
        {
            using var stream = RegularFile.OpenRead(indexPath, "index file");
            long length = stream.Length;
            if (length > MaxIndexBytes)
                throw new CheckpointFormatException(indexPath, $"index file is {length} bytes, more than the {MaxIndexBytes}-byte limit");
            bytes = new byte[length];
            stream.ReadExactly(bytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointFormatException(indexPath, $"cannot read the index file: {e.Message}", e);
        }

        var options = new JsonReaderOptions { MaxDepth = 64 };
        try
        {
            // syntax first, so malformed JSON is reported as such wherever its fault lies; this pass allocates nothing
            var syntax = new Utf8JsonReader(bytes, options);
            while (syntax.Read()) { }
            long bad = JsonStrings.FirstUndecodable(bytes, options);
            if (bad >= 0) throw new CheckpointFormatException(indexPath, JsonStrings.Describe(bad));
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException(indexPath, $"index is not valid JSON: {e.Message}", e);
        }

        // Then a forward-only pass that keeps only the weight map: a 100 MB index costs its entries, not a document
        // several times its size. Shard names repeat, so each distinct one is kept once.
        var reader = new Utf8JsonReader(bytes, options);
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
            throw new CheckpointFormatException(indexPath, $"index must be a JSON object, found {JsonStrings.Kind(reader.TokenType)}");
        List<KeyValuePair<string, string>>? result = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            bool isMap = reader.ValueTextEquals("weight_map");
            reader.Read();
            if (!isMap)
            {
                reader.Skip();
                continue;
            }
            if (reader.TokenType != JsonTokenType.StartObject)
                throw new CheckpointFormatException(indexPath, "index has no \"weight_map\" object mapping tensor names to shard files");
            result = ReadMap(indexPath, ref reader); // a repeated weight_map replaces the earlier one, as json.load does
        }
        if (result is null)
            throw new CheckpointFormatException(indexPath, "index has no \"weight_map\" object mapping tensor names to shard files");
        if (result.Count == 0)
            throw new CheckpointFormatException(indexPath, "weight_map is empty");
        return result;
    }

    private static List<KeyValuePair<string, string>> ReadMap(string indexPath, ref Utf8JsonReader reader)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var shardNames = new Dictionary<string, string>(StringComparer.Ordinal);
        var result = new List<KeyValuePair<string, string>>();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            string name = reader.GetString()!;
            if (!seen.Add(name))
                throw new CheckpointFormatException(indexPath, $"weight_map lists tensor '{name}' twice");
            reader.Read();
            if (reader.TokenType != JsonTokenType.String)
                throw new CheckpointFormatException(indexPath, $"weight_map entry for '{name}' must be a shard file name string, found {JsonStrings.Kind(reader.TokenType)}");
            string shard = reader.GetString()!;
            if (!shardNames.TryGetValue(shard, out var known)) shardNames.Add(shard, known = shard);
            result.Add(new(name, known));
        }
        return result;
    }


    /// <summary>Accepts only a plain file name that resolves to a file directly inside <paramref name="folder"/>.</summary>
    private static string ResolveShard(string indexPath, string folder, string tensor, string shardName)
    {
        bool plain = shardName.Length > 0
            && shardName is not "." and not ".."
            && shardName.IndexOfAny(['/', '\\', ':', '\0']) < 0
            && shardName.IndexOfAny(Path.GetInvalidFileNameChars()) < 0
            && !Path.IsPathRooted(shardName)
            && Path.GetFileName(shardName) == shardName;
        // only a plain name is combined with the folder (a NUL in it would make Path throw)
        string? full = plain ? Path.GetFullPath(Path.Combine(folder, shardName)) : null;
        if (full is null || !string.Equals(Path.GetDirectoryName(full), folder, StringComparison.Ordinal))
            throw new CheckpointFormatException(indexPath, $"weight_map entry for '{tensor}' names shard \"{shardName}\", which is not a plain file name in the index's folder (paths and '..' are refused)");
        return full;
    }

    private static ITensorReader OpenShard(string indexPath, string shardPath, string shardName)
    {
        if (RegularFile.Problem(shardPath, out _) is { } problem)
            throw new CheckpointFormatException(indexPath, $"shard '{shardName}' named by the index {problem}");
        string extension = Path.GetExtension(shardName).ToLowerInvariant();
        return extension switch
        {
            ".safetensors" => new SafeTensorsReader(shardPath),
            ".bin" or ".pt" or ".pth" => TorchCheckpointReader.Open(shardPath),
            _ => throw new CheckpointFormatException(indexPath, $"shard '{shardName}' has extension '{extension}'; expected .safetensors or .bin"),
        };
    }
}
