using BigBirdSharp.Backends;

namespace BigBirdSharp.Generation;

/// <summary>
/// HF's <c>_reorder_cache</c> (<c>past_state.index_select(0, beam_idx)</c>) done in place on [rows, heads, capacity,
/// head_dim] buffers: only the rows whose source is another row are written, only their first <c>length</c> positions,
/// and a row that is both overwritten and read is saved first in one spare buffer. Rows that keep their own beam cost
/// nothing. Allocates nothing after its construction.
/// </summary>
internal sealed class CacheReorder
{
    private readonly IComputeBackend _backend;
    private readonly int _rows, _heads, _capacity, _headDim;
    private readonly bool[] _moved, _saved;
    private DeviceBuffer? _spare;

    public CacheReorder(IComputeBackend backend, int rows, int heads, int capacity, int headDim)
    {
        _backend = backend;
        _rows = rows;
        _heads = heads;
        _capacity = capacity;
        _headDim = headDim;
        _moved = new bool[rows];
        _saved = new bool[rows];
    }

    /// <summary>Row r of every buffer becomes what row <paramref name="beamIndices"/>[r] was, over the first
    /// <paramref name="length"/> positions.</summary>
    public void Apply(ReadOnlySpan<DeviceBuffer> buffers, ReadOnlySpan<int> beamIndices, int length)
    {
        if (beamIndices.Length != _rows)
            throw new BigBirdInputException($"beam indices hold {beamIndices.Length} rows, the cache {_rows}.");
        bool any = false;
        for (int r = 0; r < _rows; r++)
        {
            int source = beamIndices[r];
            if ((uint)source >= (uint)_rows) throw new BigBirdInputException($"beam index {source} is outside the cache's {_rows} rows.");
            _moved[r] = source != r;
            any |= _moved[r];
        }
        if (!any || length == 0) return;
        // a row to overwrite that another row reads must be saved before it is written
        Array.Clear(_saved);
        for (int r = 0; r < _rows; r++)
            if (_moved[r] && _moved[beamIndices[r]]) _saved[beamIndices[r]] = true;
        int rowSize = _heads * _capacity * _headDim, stride = _capacity * _headDim, chunk = length * _headDim;
        foreach (var buffer in buffers)
        {
            for (int r = 0; r < _rows; r++)
                if (_saved[r])
                {
                    _spare ??= _backend.Allocate(_rows * rowSize);
                    _backend.Copy(_spare.All.Slice(r * rowSize, rowSize), stride, buffer.All.Slice(r * rowSize, rowSize), stride, _heads, chunk);
                }
            for (int r = 0; r < _rows; r++)
            {
                if (!_moved[r]) continue;
                int source = beamIndices[r];
                var from = _saved[source] ? _spare!.All : buffer.All;
                _backend.Copy(buffer.All.Slice(r * rowSize, rowSize), stride, from.Slice(source * rowSize, rowSize), stride, _heads, chunk);
            }
        }
    }
}
