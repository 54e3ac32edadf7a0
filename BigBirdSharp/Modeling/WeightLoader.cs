using BigBirdSharp.Backends;
using BigBirdSharp.IO;

namespace BigBirdSharp.Modeling;

/// <summary>
/// Walks a checkpoint by HF module path. Handles the <c>bert.</c> prefix that task-head checkpoints
/// carry, and checks every tensor's shape, naming the file, the tensor and both shapes on mismatch.
/// </summary>
internal sealed class WeightLoader
{
    private readonly ITensorReader _reader;

    /// <summary>The prefix in front of BigBirdModel's own names: empty or <c>bert.</c>.</summary>
    public string Prefix { get; }

    /// <summary>The backend the modules bind their weights to.</summary>
    public IComputeBackend Backend { get; }

    public WeightLoader(ITensorReader reader, string prefix, IComputeBackend backend)
    {
        _reader = reader;
        Prefix = prefix;
        Backend = backend;
    }

    /// <summary>Decides whether the checkpoint stores BigBirdModel's tensors bare or under <c>bert.</c>.</summary>
    public static WeightLoader For(ITensorReader reader, IComputeBackend backend)
    {
        const string probe = "embeddings.word_embeddings.weight";
        if (reader.TryGetInfo(probe, out _)) return new WeightLoader(reader, "", backend);
        if (reader.TryGetInfo("bert." + probe, out _)) return new WeightLoader(reader, "bert.", backend);
        string sample = string.Join(", ", reader.Names.Take(5));
        throw new TensorMismatchException(probe,
            $"checkpoint has no '{probe}' (with or without the 'bert.' prefix); it does not look like a BigBird " +
            $"checkpoint. First tensors found: {sample}");
    }

    private long _bytesSinceSettle;

    /// <summary>
    /// Frees what loading has left behind since the last call, once it adds up to <see cref="SettleBytes"/>: a reader that
    /// inflates or converts a tensor hands over a fresh array, and a backend that packs it keeps only its own copy, so
    /// without this the process would briefly hold the checkpoint two or three times over. Called after each layer,
    /// it keeps the peak memory of a load near the model's own size.
    /// </summary>
    public void Settle()
    {
        if (_bytesSinceSettle < SettleBytes) return;
        _bytesSinceSettle = 0;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true);
    }

    /// <summary>
    /// At the end of a load: collects what loading left behind and hands the freed memory back to the operating system
    /// (an aggressive collection decommits the free regions a normal one keeps for reuse).
    /// </summary>
    public void Finish()
    {
        _bytesSinceSettle = 0;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }

    /// <summary>Bytes of tensors read between two collections in <see cref="Settle"/>.</summary>
    public const long SettleBytes = 16L << 20;

    public bool Has(string path) => _reader.TryGetInfo(Prefix + path, out _);

    public ReadOnlyMemory<float> Get(string path, params int[] shape) => Get(path, [], shape);

    /// <summary>
    /// A tensor for a weight the backend copies at bind time (nn.Linear weights, which the CPU backend packs): read
    /// into a fresh array rather than through a memory mapping, so the mapped pages never become resident.
    /// </summary>
    public ReadOnlyMemory<float> GetForBinding(string path, params int[] shape) => Get(path, [], shape, copy: true);

    /// <summary>Reads <paramref name="path"/> (or the first present alias) and checks its shape.</summary>
    public ReadOnlyMemory<float> Get(string path, string[] aliases, params int[] shape) => Get(path, aliases, shape, copy: false);

    private ReadOnlyMemory<float> Get(string path, string[] aliases, int[] shape, bool copy)
    {
        string name = Prefix + path;
        if (!_reader.TryGetInfo(name, out var info))
        {
            foreach (var alias in aliases)
                if (_reader.TryGetInfo(Prefix + alias, out info)) { name = Prefix + alias; break; }
        }
        string expected = "[" + string.Join(", ", shape) + "]";
        if (info is null)
            throw new TensorMismatchException(name,
                $"missing tensor '{name}' (expected shape {expected}); the checkpoint does not match config.json.");
        bool same = info.Shape.Length == shape.Length;
        for (int i = 0; same && i < shape.Length; i++) same = info.Shape[i] == shape[i];
        if (!same)
            throw new TensorMismatchException(name,
                $"{info.FilePath}: tensor '{name}' has shape {info.ShapeText}, expected {expected} from config.json.");
        ReadOnlyMemory<float> tensor = copy ? _reader.ReadFloat32Copy(name) : _reader.ReadFloat32(name);
        _bytesSinceSettle += 4L * tensor.Length;
        return tensor;
    }
}
