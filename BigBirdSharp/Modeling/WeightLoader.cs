using System.Numerics.Tensors;
using BigBirdSharp.Backends;
using BigBirdSharp.IO;

namespace BigBirdSharp.Modeling;

/// <summary>
/// Walks a checkpoint by HF module path. Handles the <c>bert.</c> prefix that task-head checkpoints
/// carry, and checks every tensor's shape, naming the file, the tensor and both shapes on mismatch. Each tensor is
/// scanned for NaN and ±Inf as it is read (one vectorized pass over data that is being read anyway; a memory-mapped
/// tensor is scanned in place, never copied): a warning naming the file, the tensor and the count, or under
/// <see cref="BigBirdModelOptions.RejectNonFiniteWeights"/> a <see cref="CheckpointFormatException"/>.
/// </summary>
internal sealed class WeightLoader
{
    private readonly ITensorReader _reader;
    private readonly NonFiniteCheck _check;

    /// <summary>The non-finite check of one load; shared by the loaders of one reader (a head's and its <c>bert</c>'s),
    /// so a tensor read twice (tied weights) is reported once.</summary>
    private sealed class NonFiniteCheck(Action<string>? warning, bool reject)
    {
        public readonly Action<string>? Warning = warning;
        public readonly bool Reject = reject;
        public readonly HashSet<string> Scanned = new(StringComparer.Ordinal);
    }

    /// <summary>The prefix in front of BigBirdModel's own names: empty or <c>bert.</c>.</summary>
    public string Prefix { get; }

    /// <summary>The backend the modules bind their weights to.</summary>
    public IComputeBackend Backend { get; }

    /// <summary>A loader over <paramref name="reader"/> with the non-finite check that <paramref name="options"/> asks for
    /// (a warning sink, <see cref="BigBirdModelOptions.RejectNonFiniteWeights"/>, or neither).</summary>
    public WeightLoader(ITensorReader reader, string prefix, IComputeBackend backend, BigBirdModelOptions? options = null)
        : this(reader, prefix, backend, new NonFiniteCheck(options?.Warning, options?.RejectNonFiniteWeights ?? false))
    {
    }

    private WeightLoader(ITensorReader reader, string prefix, IComputeBackend backend, NonFiniteCheck check)
    {
        _reader = reader;
        Prefix = prefix;
        Backend = backend;
        _check = check;
    }

    /// <summary>Decides whether the checkpoint stores BigBirdModel's tensors bare or under <c>bert.</c>.</summary>
    /// <param name="reader">The checkpoint.</param>
    /// <param name="backend">The backend the modules bind their weights to.</param>
    /// <param name="options">The load's settings (the non-finite check).</param>
    /// <param name="head">The loader of the task head that builds this model over the same reader, or null: the model's
    /// loader then shares the head's non-finite check, so a tensor both read (tied weights) is reported once.</param>
    public static WeightLoader For(ITensorReader reader, IComputeBackend backend, BigBirdModelOptions? options = null, WeightLoader? head = null)
    {
        const string probe = "embeddings.word_embeddings.weight";
        var check = head?._check ?? new NonFiniteCheck(options?.Warning, options?.RejectNonFiniteWeights ?? false);
        if (reader.TryGetInfo(probe, out _)) return new WeightLoader(reader, "", backend, check);
        if (reader.TryGetInfo("bert." + probe, out _)) return new WeightLoader(reader, "bert.", backend, check);
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
        CheckFinite(info, tensor.Span);
        return tensor;
    }

    /// <summary>Warns about (or refuses) NaN and ±Inf in a tensor just read. The common case, all finite, is one
    /// vectorized pass; the values are counted only when some are not.</summary>
    private void CheckFinite(TensorInfo info, ReadOnlySpan<float> values)
    {
        if ((_check.Warning is null && !_check.Reject) || TensorPrimitives.IsFiniteAll(values)) return;
        if (!_check.Scanned.Add(info.Name)) return;
        int count = 0, first = -1;
        for (int i = 0; i < values.Length; i++)
        {
            if (float.IsFinite(values[i])) continue;
            if (count++ == 0) first = i;
        }
        string what = $"tensor '{info.Name}' {info.ShapeText} holds {count} non-finite value{(count == 1 ? "" : "s")} (NaN or ±Inf) " +
                      $"of {values.Length}, the first at flat index {first}";
        if (_check.Reject)
            throw new CheckpointFormatException(info.FilePath, $"{what}; refused because non-finite weights are rejected (--strict).");
        _check.Warning?.Invoke($"{info.FilePath}: {what}; every output that depends on it will be NaN. Reject such checkpoints with --strict.");
    }
}
