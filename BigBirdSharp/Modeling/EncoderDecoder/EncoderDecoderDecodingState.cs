using BigBirdSharp.Configuration;

namespace BigBirdSharp.Modeling.EncoderDecoder;

/// <summary>
/// What an <see cref="EncoderDecoderModel"/> keeps between incremental decoding steps (HF's <c>encoder_outputs</c> and
/// <c>past_key_values</c> of one generation): the encoder's states, computed once, per input; which input each decoder
/// row reads (rows are inputs × beams, as HF's <c>repeat_interleave</c> expands them); and how many steps have run.
/// </summary>
/// <remarks>
/// 4.27.1's BigBird decoder attends only to the encoder (see <see cref="EncoderDecoderModel"/>), so HF's cache holds, per
/// layer, the encoder's keys and values as projected by the self-attention and the cross-attention, identical for the
/// rows of one input: nothing that depends on the decoder's tokens. Reordering rows for beams
/// (<see cref="EncoderDecoderModel.ReorderRows"/>) is therefore a change of the row → input map, and copies nothing
/// while the rows keep reading the inputs they read before (always, in beam search). It belongs to one generation: it is
/// not thread-safe, while the model stays immutable and shareable.
/// </remarks>
internal sealed class EncoderDecoderDecodingState
{
    /// <summary>Decoder rows: inputs × rows per input.</summary>
    public int Rows { get; }
    /// <summary>Inputs (the encoder's batch).</summary>
    public int Inputs { get; }
    /// <summary>encoder_seq: the encoder's tokens per input (unpadded), which is also 4.27.1's <c>past_key_values_length</c>
    /// of every step after the first.</summary>
    public int EncoderLength { get; }
    /// <summary>Decoder tokens given so far per row.</summary>
    public int Length { get; private set; }
    /// <summary>Steps run so far.</summary>
    public int Steps { get; private set; }
    /// <summary>HF's <c>use_cache</c>: true follows the cached decoding of <c>generate</c>'s default (every step after the
    /// first at position encoder_seq), false the uncached one (each token at its own index).</summary>
    public bool UseCache { get; }
    /// <summary>The encoder's attention (block_sparse falls back to original_full for short inputs).</summary>
    public AttentionType EncoderAttentionType { get; }

    // [inputs, encoder_seq, decoder hidden]: the encoder's states after enc_to_dec_proj
    private readonly float[] _encoderHiddenStates;
    // [inputs, encoder_seq] 0/1, or null for all ones
    private readonly int[]? _encoderAttentionMask;
    private readonly int _hidden;
    // the input each row reads
    private int[] _rowInput;
    // the states expanded to rows, and the row → input map they were expanded for
    private float[]? _rowStates;
    private int[]? _rowMask;
    private int[]? _expandedFor;

    public EncoderDecoderDecodingState(float[] encoderHiddenStates, int[]? encoderAttentionMask, int inputs, int encoderLength, int hidden,
                                       int rowsPerInput, bool useCache, AttentionType encoderAttentionType)
    {
        _encoderHiddenStates = encoderHiddenStates;
        _encoderAttentionMask = encoderAttentionMask;
        Inputs = inputs;
        EncoderLength = encoderLength;
        _hidden = hidden;
        Rows = inputs * rowsPerInput;
        _rowInput = new int[Rows];
        for (int r = 0; r < Rows; r++) _rowInput[r] = r / rowsPerInput;
        UseCache = useCache;
        EncoderAttentionType = encoderAttentionType;
    }

    /// <summary>The input row <paramref name="row"/> reads.</summary>
    public int InputOf(int row) => _rowInput[row];

    /// <summary>Where the last of <paramref name="newTokens"/> new tokens of every row sits, as 4.27.1 embeds it: its own
    /// index without a cache and at the first step; past_key_values_length (encoder_seq) + its index among the new
    /// tokens at later cached steps.</summary>
    public int LastPosition(int newTokens) => UseCache && Steps > 0 ? EncoderLength + newTokens - 1 : Length + newTokens - 1;

    /// <summary>Counts a step of <paramref name="newTokens"/> tokens per row.</summary>
    public void Advance(int newTokens)
    {
        Length += newTokens;
        Steps++;
    }

    /// <summary>Row r now continues row <paramref name="beamIdx"/>[r] (HF's <c>_reorder_cache</c>).</summary>
    public void Reorder(ReadOnlySpan<int> beamIdx)
    {
        var next = new int[Rows];
        for (int r = 0; r < Rows; r++) next[r] = _rowInput[beamIdx[r]];
        _rowInput = next;
    }

    /// <summary>encoder_hidden_states [rows, encoder_seq, hidden] and encoder_attention_mask [rows, encoder_seq] (null for
    /// all ones) of the rows: built when the row → input map changes, reused otherwise.</summary>
    public (float[] States, int[]? Mask) RowEncoderStates()
    {
        if (Rows == Inputs && IsIdentity(_rowInput)) return (_encoderHiddenStates, _encoderAttentionMask);
        if (_expandedFor is not null && _expandedFor.AsSpan().SequenceEqual(_rowInput)) return (_rowStates!, _rowMask);
        int block = EncoderLength * _hidden;
        _rowStates ??= new float[TensorSize.ForInput("encoder_hidden_states", "[rows, encoder_seq, hidden]", "generate for fewer rows at a time.",
                                                     Rows, block)];
        if (_encoderAttentionMask is not null) _rowMask ??= new int[Rows * EncoderLength];
        for (int r = 0; r < Rows; r++)
        {
            int input = _rowInput[r];
            _encoderHiddenStates.AsSpan(input * block, block).CopyTo(_rowStates.AsSpan(r * block));
            _encoderAttentionMask?.AsSpan(input * EncoderLength, EncoderLength).CopyTo(_rowMask.AsSpan(r * EncoderLength));
        }
        _expandedFor = (int[])_rowInput.Clone();
        return (_rowStates, _rowMask);
    }

    private static bool IsIdentity(int[] map)
    {
        for (int i = 0; i < map.Length; i++)
            if (map[i] != i) return false;
        return true;
    }
}
