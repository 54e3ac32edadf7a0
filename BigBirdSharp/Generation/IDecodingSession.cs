namespace BigBirdSharp.Generation;

/// <summary>
/// One generation's model side, for <see cref="GenerationSearch"/>: a generating model opens a session for
/// <see cref="Rows"/> rows (its batch already expanded per beam or per returned sequence, as HF's
/// <c>_expand_inputs_for_generation</c>), holding whatever the rows need across steps (encoder output, masks, caches).
/// </summary>
/// <remarks>
/// To plug a model in: run anything that runs once (an encoder) when the session opens and keep its output per input row
/// or expanded per row; in <see cref="NextTokenLogits"/> feed the tokens of every row that the session has not seen yet
/// (all of them without a cache), and return the last position's logits; in <see cref="ReorderCache"/> move the cached
/// per-row state (self-attention keys/values) so that row r continues what row beamIndices[r] held. Then call
/// <see cref="GenerationSearch.Generate"/> with a <see cref="GenerationPlan"/> and the start tokens (the prompt, or the
/// decoder start token per input row).
/// </remarks>
internal interface IDecodingSession
{
    /// <summary>Rows decoded together: batch × <see cref="GenerationPlan.ExpandSize"/>.</summary>
    int Rows { get; }

    /// <summary>Width of a logits row.</summary>
    int VocabSize { get; }

    /// <summary>
    /// The scores of the next token of every row, [Rows, VocabSize], given the sequences so far: row r's tokens are
    /// sequences[r·stride .. r·stride + length). The returned memory belongs to the session, stays valid until the next
    /// call, and the search may overwrite it.
    /// </summary>
    Span<float> NextTokenLogits(int[] sequences, int stride, int length);

    /// <summary>HF's <c>_reorder_cache</c>: row r of the cache becomes what row <paramref name="beamIndices"/>[r] was. A
    /// session without a cache does nothing.</summary>
    void ReorderCache(ReadOnlySpan<int> beamIndices);
}
