using BigBirdSharp.IO;

namespace BigBirdSharp.Modeling.EncoderDecoder;

/// <summary>
/// One submodule's view of an <c>EncoderDecoderModel</c> checkpoint: names without the submodule's prefix
/// (<c>encoder.</c> or <c>decoder.</c>), so the BigBird loaders walk it as they walk a checkpoint of their own. With
/// <c>tie_encoder_decoder</c>, a <c>bert.*</c> tensor the decoder's part lacks is read from the encoder's (HF's
/// <c>_tie_encoder_decoder_weights</c> shares them; a file written without duplicates holds each once, under
/// <c>encoder.*</c>). The view does not own the checkpoint: disposing it does nothing.
/// </summary>
internal sealed class SubmoduleTensorReader : ITensorReader
{
    private readonly ITensorReader _inner;
    private readonly string _prefix;
    // the decoder's "bert." names fall back to "encoder." + the rest (tie_encoder_decoder); null without tying
    private readonly string? _tiedFrom, _tiedTo;

    public SubmoduleTensorReader(ITensorReader inner, string prefix, string? tiedFrom = null, string? tiedTo = null)
    {
        _inner = inner;
        _prefix = prefix;
        _tiedFrom = tiedFrom;
        _tiedTo = tiedTo;
        var names = new List<string>();
        foreach (string name in inner.Names)
            if (name.StartsWith(prefix, StringComparison.Ordinal)) names.Add(name[prefix.Length..]);
        if (_tiedFrom is not null && _tiedTo is not null)
        {
            var own = new HashSet<string>(names, StringComparer.Ordinal);
            foreach (string name in inner.Names)
                if (name.StartsWith(_tiedTo, StringComparison.Ordinal) && own.Add(_tiedFrom + name[_tiedTo.Length..]))
                    names.Add(_tiedFrom + name[_tiedTo.Length..]);
        }
        Names = names;
    }

    public IReadOnlyCollection<string> Names { get; }

    /// <summary>The checkpoint's own name of <paramref name="name"/>, or null when neither it nor its tied source exists.</summary>
    private string? Resolve(string name)
    {
        string own = _prefix + name;
        if (_inner.TryGetInfo(own, out _)) return own;
        if (_tiedFrom is not null && _tiedTo is not null && name.StartsWith(_tiedFrom, StringComparison.Ordinal))
        {
            string tied = _tiedTo + name[_tiedFrom.Length..];
            if (_inner.TryGetInfo(tied, out _)) return tied;
        }
        return null;
    }

    public bool TryGetInfo(string name, out TensorInfo info)
    {
        if (Resolve(name) is string resolved && _inner.TryGetInfo(resolved, out info)) return true;
        info = null!;
        return false;
    }

    public ReadOnlyMemory<float> ReadFloat32(string name) =>
        _inner.ReadFloat32(Resolve(name) ?? throw new KeyNotFoundException(_prefix + name));

    public float[] ReadFloat32Copy(string name) =>
        _inner.ReadFloat32Copy(Resolve(name) ?? throw new KeyNotFoundException(_prefix + name));

    /// <summary>Does nothing: the <c>EncoderDecoderModel</c> owns the checkpoint.</summary>
    public void Dispose()
    {
    }
}
