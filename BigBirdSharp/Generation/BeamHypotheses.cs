namespace BigBirdSharp.Generation;

/// <summary>
/// HF's <c>BeamHypotheses</c> (transformers 4.27.1, beam_search.py): the n best finished hypotheses of one input row,
/// scored sum(log p) / length^length_penalty in double precision as Python does, with the worst score kept for the
/// early-stopping test. The hypotheses live in num_beams + 1 preallocated slots, so adding one allocates nothing.
/// </summary>
internal sealed class BeamHypotheses
{
    private readonly int _numBeams;
    private readonly double _lengthPenalty;
    private readonly bool _earlyStopping;
    private readonly int[][] _slots;
    // the hypotheses in insertion order (Python's list `beams`), each a slot, its length and its score
    private readonly int[] _slotOf, _lengthOf;
    private readonly double[] _scoreOf;
    private readonly bool[] _slotUsed;
    private int _count;
    private double _worstScore = 1e9;

    public BeamHypotheses(int numBeams, double lengthPenalty, bool earlyStopping, int maxLength)
    {
        _numBeams = numBeams;
        _lengthPenalty = lengthPenalty;
        _earlyStopping = earlyStopping;
        _slots = new int[numBeams + 1][];
        for (int i = 0; i <= numBeams; i++) _slots[i] = new int[maxLength];
        _slotOf = new int[numBeams + 1];
        _lengthOf = new int[numBeams + 1];
        _scoreOf = new double[numBeams + 1];
        _slotUsed = new bool[numBeams + 1];
    }

    public int Count => _count;

    /// <summary>add: a hypothesis of <paramref name="hyp"/>.Length tokens with summed log-probabilities <paramref name="sumLogprobs"/>.</summary>
    public void Add(ReadOnlySpan<int> hyp, float sumLogprobs)
    {
        double score = sumLogprobs / Math.Pow(hyp.Length, _lengthPenalty);
        if (_count < _numBeams || score > _worstScore)
        {
            int slot = Array.IndexOf(_slotUsed, false);
            _slotUsed[slot] = true;
            hyp.CopyTo(_slots[slot]);
            _slotOf[_count] = slot;
            _lengthOf[_count] = hyp.Length;
            _scoreOf[_count] = score;
            _count++;
            if (_count > _numBeams)
            {
                // sorted([(s, idx) ...]): delete the lowest score (the first such on ties); the worst is then the second lowest
                int lowest = 0;
                for (int i = 1; i < _count; i++) if (_scoreOf[i] < _scoreOf[lowest]) lowest = i;
                double second = double.PositiveInfinity;
                int secondIndex = -1;
                for (int i = 0; i < _count; i++)
                    if (i != lowest && (secondIndex < 0 || _scoreOf[i] < second)) { second = _scoreOf[i]; secondIndex = i; }
                _slotUsed[_slotOf[lowest]] = false;
                for (int i = lowest; i < _count - 1; i++)
                {
                    _slotOf[i] = _slotOf[i + 1];
                    _lengthOf[i] = _lengthOf[i + 1];
                    _scoreOf[i] = _scoreOf[i + 1];
                }
                _count--;
                _worstScore = second;
            }
            else
            {
                _worstScore = Math.Min(score, _worstScore);
            }
        }
    }

    /// <summary>is_done: enough hypotheses, and (unless early_stopping) none of the running beams can beat the worst.</summary>
    public bool IsDone(float bestSumLogprobs, int curLen)
    {
        if (_count < _numBeams) return false;
        if (_earlyStopping) return true;
        double highest_attainable_score = bestSumLogprobs / Math.Pow(curLen, _lengthPenalty);
        return _worstScore >= highest_attainable_score;
    }

    /// <summary>
    /// finalize's <c>sorted(beam_hyp.beams, key=score)</c> then <c>pop()</c>: the <paramref name="rank"/>-th best, where
    /// among equal scores the one added last comes first (Python's sort is stable, pop takes the end).
    /// </summary>
    public (int[] Tokens, int Length, double Score) Best(int rank)
    {
        Span<int> order = stackalloc int[_count];
        for (int i = 0; i < _count; i++) order[i] = i;
        // stable insertion sort, ascending by score
        for (int i = 1; i < _count; i++)
        {
            int v = order[i], j = i - 1;
            while (j >= 0 && _scoreOf[order[j]] > _scoreOf[v]) { order[j + 1] = order[j]; j--; }
            order[j + 1] = v;
        }
        int pick = order[_count - 1 - rank];
        return (_slots[_slotOf[pick]], _lengthOf[pick], _scoreOf[pick]);
    }
}
