using BigBirdSharp.Configuration;
using BigBirdSharp.IO;

namespace BigBirdSharp.Modeling.Heads;

/// <summary>
/// BigBird for extractive QA. Ports <c>BigBirdForQuestionAnswering</c> (no pooler): start/end logits from
/// <see cref="BigBirdForQuestionAnsweringHead"/>, with the question tokens pushed down by 1e6 so no answer starts or
/// ends inside the question. Exactly as HF:
/// <list type="bullet">
/// <item>question_lengths, when not given, is (index of the first sep_token_id in the row) + 1, the row being
/// <c>[CLS] question [SEP] context [SEP]</c>; a row with no separator gets 1;</item>
/// <item>when token_type_ids are not given they are 0 on the question tokens and 1 after them (padding included);</item>
/// <item>the mask covers positions 0..question_length−1 except position 0 ([CLS] can still win: "no answer");</item>
/// <item>loss = mean of the start and end cross-entropies, positions clamped to [0, seq] and seq ignored.</item>
/// </list>
/// </summary>
public sealed class BigBirdForQuestionAnswering : BigBirdPreTrainedModel
{
    /// <summary>qa_classifier</summary>
    public BigBirdForQuestionAnsweringHead QaClassifier { get; }

    /// <inheritdoc/>
    public override string Architecture => "BigBirdForQuestionAnswering";

    /// <summary>
    /// Loads a BigBirdForQuestionAnswering from a Hugging Face checkpoint folder (HF's <c>BigBirdForQuestionAnswering.from_pretrained</c>): config.json and
    /// model.safetensors, a sharded safetensors index, or pytorch_model.bin.
    /// </summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <param name="options">The backend, threads and other load-time settings; null for the CPU backend on every processor.</param>
    /// <returns>The loaded head; dispose it to release the memory-mapped weights.</returns>
    /// <exception cref="BigBirdConfigException">config.json is missing or invalid.</exception>
    /// <exception cref="BigBirdArchitectureException">The checkpoint holds no BigBirdForQuestionAnswering head, or config.json contradicts it.</exception>
    /// <exception cref="CheckpointFormatException">A weights file is missing or malformed.</exception>
    /// <exception cref="TensorMismatchException">The checkpoint lacks a tensor the head needs, or has it in another shape.</exception>
    /// <exception cref="BigBirdOptionsException"><paramref name="options"/> contradict each other.</exception>
    /// <exception cref="BigBirdException">The folder does not exist, or the backend lacks an operation the model needs.</exception>
    public static BigBirdForQuestionAnswering FromPretrained(string directory, BigBirdModelOptions? options = null) =>
        LoadTyped<BigBirdForQuestionAnswering>(directory, "BigBirdForQuestionAnswering", options);

    internal BigBirdForQuestionAnswering(BigBirdConfig config, ITensorReader reader, WeightLoader heads, bool ownsReader)
        : base(config, reader, heads, addPoolingLayer: false, ownsReader)
    {
        QaClassifier = new BigBirdForQuestionAnsweringHead(heads, config, Lifetime);
    }

    /// <summary>
    /// HF's logits mask [batch, seq]: true on the question tokens that may not hold an answer (positions
    /// 1..question_length−1), or null when neither question_lengths nor input_ids are given.
    /// </summary>
    public bool[]? QuestionMask(BigBirdInputs inputs)
    {
        Bert.Validate(inputs);
        return QuestionLengths(inputs) is { } q ? Mask(q, inputs.SequenceLength, true) : null;
    }

    private int[]? QuestionLengths(BigBirdInputs inputs)
    {
        if (inputs.QuestionLengths is { } given) return given;
        if (inputs.InputIds is not { } ids) return null;
        int batch = inputs.BatchSize, seq = inputs.SequenceLength;
        var lengths = new int[batch];
        for (int b = 0; b < batch; b++)
        {
            // torch.argmax(input_ids.eq(sep_token_id)) + 1: the first separator, or index 0 when there is none
            int first = 0;
            for (int s = 0; s < seq; s++)
                if (Config.SepTokenId is int sep && ids[b * seq + s] == sep) { first = s; break; }
            lengths[b] = first + 1;
        }
        return lengths;
    }

    private static bool[] Mask(int[] question_lengths, int seq, bool exceptFirst)
    {
        var mask = new bool[question_lengths.Length * seq];
        for (int b = 0; b < question_lengths.Length; b++)
            for (int s = exceptFirst ? 1 : 0; s < seq; s++) mask[b * seq + s] = s < question_lengths[b];
        return mask;
    }

    private protected override BigBirdHeadOutput ForwardCore(BigBirdInputs inputs, BigBirdForwardOptions? options, CancellationToken cancellationToken)
    {
        int batch = inputs.BatchSize, seq = inputs.SequenceLength;
        Bert.Validate(inputs);
        RejectDecoderInputs(inputs);
        Reject(inputs.Labels is not null || inputs.FloatLabels is not null, "labels (give start_positions and end_positions)", Architecture);
        CheckCount(inputs.QuestionLengths, batch, "question_lengths", $"[{batch}]");
        if (inputs.QuestionLengths is { } ql && ql.Any(q => q < 0))
            throw new BigBirdInputException("question_lengths must be non-negative: the number of tokens of [CLS] question [SEP].");
        CheckCount(inputs.StartPositions, batch, "start_positions", $"[{batch}]");
        CheckCount(inputs.EndPositions, batch, "end_positions", $"[{batch}]");
        if ((inputs.StartPositions is null) != (inputs.EndPositions is null))
            throw new BigBirdInputException("give both start_positions and end_positions for the QA loss, or neither.");

        var question_lengths = QuestionLengths(inputs);
        bool[]? logits_mask = null;
        var bertInputs = inputs;
        if (question_lengths is not null)
        {
            if (inputs.TokenTypeIds is null)
            {
                // token_type_ids = 1 − mask, computed before the [CLS] column is unmasked: 0 on the question, 1 after
                var full = Mask(question_lengths, seq, exceptFirst: false);
                var token_type_ids = new int[batch * seq];
                for (int i = 0; i < token_type_ids.Length; i++) token_type_ids[i] = full[i] ? 0 : 1;
                bertInputs = CopyWithTokenTypes(inputs, token_type_ids);
            }
            logits_mask = Mask(question_lengths, seq, exceptFirst: true);
        }

        var outputs = Bert.ForwardLeased(bertInputs, options, cancellationToken);
        var logits = QaClassifier.ForwardLeased(outputs.LastHiddenState.Data, batch * seq); // [batch·seq, 2]
        var start_logits = new float[batch * seq];
        var end_logits = new float[batch * seq];
        for (int i = 0; i < batch * seq; i++)
        {
            // logits − logits_mask · 1e6: removing question tokens from the competition
            float penalty = logits_mask is not null && logits_mask[i] ? 1e6f : 0f;
            start_logits[i] = logits[2 * i] - penalty;
            end_logits[i] = logits[2 * i + 1] - penalty;
        }

        float? total_loss = null;
        if (inputs.StartPositions is { } starts && inputs.EndPositions is { } ends)
        {
            // positions outside the sequence are clamped to seq, which is the ignore_index
            int ignored_index = seq;
            var s = starts.Select(p => Math.Clamp(p, 0, ignored_index)).ToArray();
            var e = ends.Select(p => Math.Clamp(p, 0, ignored_index)).ToArray();
            float start_loss = Losses.CrossEntropy(start_logits, s, seq, ignored_index, "start_positions");
            float end_loss = Losses.CrossEntropy(end_logits, e, seq, ignored_index, "end_positions");
            total_loss = (start_loss + end_loss) / 2;
        }
        return Wrap(outputs, total_loss) with
        {
            StartLogits = new FloatTensor(start_logits, batch, seq),
            EndLogits = new FloatTensor(end_logits, batch, seq),
        };
    }

    private static BigBirdInputs CopyWithTokenTypes(BigBirdInputs i, int[] token_type_ids) => new(i.BatchSize, i.SequenceLength)
    {
        InputIds = i.InputIds,
        InputsEmbeds = i.InputsEmbeds,
        AttentionMask = i.AttentionMask,
        TokenTypeIds = token_type_ids,
        PositionIds = i.PositionIds,
        HeadMask = i.HeadMask,
    };
}
