namespace BigBirdSharp.Tokenization;

/// <summary>An immutable byte trie over piece strings (UTF-8), built once at load time. The root's children are a
/// direct 256-entry table; deeper nodes keep their children sorted by byte.</summary>
internal sealed class PieceTrie
{
    private readonly int[] rootChild = new int[256];
    private readonly int[] value;        // per node: the piece id, or -1
    private readonly int[] childStart;   // per node: first edge
    private readonly int[] childCount;   // per node: number of edges
    private readonly byte[] edgeLabel;
    private readonly int[] edgeTarget;

    public PieceTrie(IReadOnlyList<(byte[] Key, int Value)> entries)
    {
        var sorted = entries.Where(e => e.Key.Length > 0).ToArray();
        Array.Sort(sorted, (a, b) => a.Key.AsSpan().SequenceCompareTo(b.Key));
        var values = new List<int> { -1 };
        var starts = new List<int> { 0 };
        var counts = new List<int> { 0 };
        var labels = new List<byte>();
        var targets = new List<int>();
        var queue = new Queue<(int Node, int Lo, int Hi, int Depth)>();
        queue.Enqueue((0, 0, sorted.Length, 0));
        while (queue.Count > 0)
        {
            var (node, lo, hi, depth) = queue.Dequeue();
            int i = lo;
            while (i < hi && sorted[i].Key.Length == depth)
            {
                if (values[node] < 0) values[node] = sorted[i].Value;
                i++;
            }
            starts[node] = labels.Count;
            int count = 0;
            while (i < hi)
            {
                byte b = sorted[i].Key[depth];
                int j = i;
                while (j < hi && sorted[j].Key[depth] == b) j++;
                int child = values.Count;
                values.Add(-1);
                starts.Add(0);
                counts.Add(0);
                labels.Add(b);
                targets.Add(child);
                count++;
                queue.Enqueue((child, i, j, depth + 1));
                i = j;
            }
            counts[node] = count;
        }
        value = values.ToArray();
        childStart = starts.ToArray();
        childCount = counts.ToArray();
        edgeLabel = labels.ToArray();
        edgeTarget = targets.ToArray();
        for (int e = 0; e < childCount[0]; e++) rootChild[edgeLabel[e]] = edgeTarget[e];
    }

    /// <summary>The child of <paramref name="node"/> along byte <paramref name="b"/>, or 0 when there is none
    /// (the root is never a child).</summary>
    public int Child(int node, byte b)
    {
        if (node == 0) return rootChild[b];
        int lo = childStart[node], hi = lo + childCount[node] - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >> 1;
            byte l = edgeLabel[mid];
            if (l == b) return edgeTarget[mid];
            if (l < b) lo = mid + 1;
            else hi = mid - 1;
        }
        return 0;
    }

    /// <summary>The piece id stored at <paramref name="node"/>, or -1.</summary>
    public int Value(int node) => value[node];

    /// <summary>Exact lookup; -1 when absent.</summary>
    public int Find(ReadOnlySpan<byte> key)
    {
        if (key.IsEmpty) return -1;
        int node = 0;
        foreach (byte b in key)
        {
            node = Child(node, b);
            if (node == 0) return -1;
        }
        return value[node];
    }

    /// <summary>Length in bytes of the longest key that is a prefix of <paramref name="text"/>; 0 when none.</summary>
    public int LongestPrefix(ReadOnlySpan<byte> text)
    {
        int node = 0, best = 0;
        for (int i = 0; i < text.Length; i++)
        {
            node = Child(node, text[i]);
            if (node == 0) break;
            if (value[node] >= 0) best = i + 1;
        }
        return best;
    }
}

/// <summary>A growable array that hands out its storage; cheaper than <see cref="List{T}"/> in the hot path.</summary>
internal struct GrowBuffer<T>
{
    public T[] Items;
    public int Count;

    public GrowBuffer(int capacity)
    {
        Items = new T[Math.Max(4, capacity)];
        Count = 0;
    }

    public void Add(T item)
    {
        if (Count == Items.Length) Array.Resize(ref Items, Items.Length * 2);
        Items[Count++] = item;
    }

    public readonly ReadOnlySpan<T> Span => Items.AsSpan(0, Count);
}
