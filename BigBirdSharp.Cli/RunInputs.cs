using System.Text.Json;
using BigBirdSharp.Modeling;

namespace BigBirdSharp.Cli;

/// <summary>
/// Reads the inputs file of <c>bigbird run</c>: a JSON object whose keys are HF forward arguments and whose values
/// are nested arrays. Integer tensors: input_ids, attention_mask, token_type_ids, position_ids ([batch][seq], or
/// [batch][choices][seq] for multiple choice), encoder_attention_mask, next_sentence_label, start_positions,
/// end_positions, question_lengths ([batch]). Float tensors: encoder_hidden_states ([batch][len][hidden]). labels are
/// integers, or floats when any element is written with a decimal point or exponent (HF infers the problem type from
/// that dtype).
/// </summary>
internal static class RunInputs
{
    private static readonly string[] Known =
    [
        "input_ids", "attention_mask", "token_type_ids", "position_ids", "labels", "next_sentence_label",
        "start_positions", "end_positions", "question_lengths", "encoder_hidden_states", "encoder_attention_mask",
    ];

    /// <summary>Parses <paramref name="path"/>.</summary>
    /// <exception cref="BigBirdInputException">Not JSON, unknown keys, ragged or mis-shaped arrays, or wrong element types.</exception>
    public static BigBirdInputs Read(string path) => Parse(ReadText(path), path);

    /// <summary>The text of the inputs file <paramref name="path"/>.</summary>
    /// <exception cref="BigBirdInputException">Not a regular file, or larger than any inputs file can be.</exception>
    public static string ReadText(string path)
    {
        CliInput.CheckRegularFile(path, "--input");
        // bounded like every input read whole: a file past the bound is a BigBirdInputException, not OutOfMemory
        if (new FileInfo(path).Length > 3 * Utf8Text.MaxWholeChars) // UTF-8 takes at most 3 bytes per UTF-16 character
            throw Utf8Text.TooLarge(path);
        return File.ReadAllText(path);
    }

    /// <summary>Parses the inputs <paramref name="json"/>, read from <paramref name="path"/> (a file, or <c>stdin</c>),
    /// which the messages name.</summary>
    /// <exception cref="BigBirdInputException">Not JSON, unknown keys, ragged or mis-shaped arrays, or wrong element types.</exception>
    public static BigBirdInputs Parse(string json, string path)
    {
        var t = Tensors(json, path, Known);
        if (!t.TryGetValue("input_ids", out var ids))
            throw new BigBirdInputException($"{path}: input_ids is required.");
        if (ids.Count == 0)
            throw new BigBirdInputException($"{path}: input_ids is empty: give at least one sequence of at least one token.");
        if (ids.Shape.Length is not (2 or 3))
            throw new BigBirdInputException($"{path}: input_ids must be [batch][seq] (or [batch][choices][seq] for multiple choice), got rank {ids.Shape.Length}.");
        int seq = ids.Shape[^1], rows = ids.Count / seq, batch = ids.Shape[0];
        int choices = ids.Shape.Length == 3 ? ids.Shape[1] : 0;

        int[]? Ints(string name, int[] shape)
        {
            if (!t.TryGetValue(name, out var x)) return null;
            x.ExpectShape(shape, path, name);
            return x.Ints(path, name);
        }
        int[]? PerRow(string name)
        {
            if (!t.TryGetValue(name, out var x)) return null;
            // [batch] or HF's [batch, 1]
            if (!(x.Shape.Length == 1 && x.Shape[0] == batch) && !(x.Shape.Length == 2 && x.Shape[0] == batch && x.Shape[1] == 1))
                throw new BigBirdInputException($"{path}: {name} must have shape [{batch}] (one value per row), got {x.ShapeText}.");
            return x.Ints(path, name);
        }

        int[]? labels = null;
        float[]? floatLabels = null;
        if (t.TryGetValue("labels", out var l))
        {
            if (l.AnyFloat) floatLabels = l.Floats();
            else labels = l.Ints(path, "labels");
        }
        float[]? encoder = null;
        int encoderLength = 0;
        int[]? encoderMask = null;
        if (t.TryGetValue("encoder_hidden_states", out var e))
        {
            if (e.Shape.Length != 3 || e.Shape[0] != batch)
                throw new BigBirdInputException($"{path}: encoder_hidden_states must have shape [{batch}][encoder_len][hidden], got {e.ShapeText}.");
            encoder = e.Floats();
            encoderLength = e.Shape[1];
            encoderMask = Ints("encoder_attention_mask", [batch, encoderLength]);
        }
        else if (t.ContainsKey("encoder_attention_mask"))
        {
            throw new BigBirdInputException($"{path}: encoder_attention_mask needs encoder_hidden_states.");
        }

        return new BigBirdInputs(rows, seq)
        {
            InputIds = ids.Ints(path, "input_ids"),
            AttentionMask = Ints("attention_mask", ids.Shape),
            TokenTypeIds = Ints("token_type_ids", ids.Shape),
            PositionIds = Ints("position_ids", ids.Shape),
            NumChoices = choices,
            Labels = labels,
            FloatLabels = floatLabels,
            NextSentenceLabel = PerRow("next_sentence_label"),
            StartPositions = PerRow("start_positions"),
            EndPositions = PerRow("end_positions"),
            QuestionLengths = PerRow("question_lengths"),
            EncoderHiddenStates = encoder,
            EncoderSequenceLength = encoderLength,
            EncoderAttentionMask = encoderMask,
        };
    }

    /// <summary>The JSON object of <paramref name="path"/> as named rectangular tensors; keys outside <paramref name="known"/> are refused.</summary>
    private static Dictionary<string, Tensor> Tensors(string json, string path, string[] known)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new BigBirdInputException($"{path}: not valid JSON: {e.Message}");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new BigBirdInputException($"{path}: expected a JSON object of forward arguments such as {{\"input_ids\": [[...]]}}.");
            var t = new Dictionary<string, Tensor>();
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (!known.Contains(KeyOf(p, path, known)))
                    throw new BigBirdInputException($"{path}: unknown input '{p.Name}'; known inputs: {string.Join(", ", known)}.");
                t[p.Name] = Tensor.Parse(p.Value, path, p.Name);
            }
            return t;
        }
    }

    private static readonly string[] KnownSeq2Seq =
    [
        "input_ids", "attention_mask", "decoder_input_ids", "decoder_attention_mask", "labels", "start_positions", "end_positions",
    ];

    /// <summary>
    /// Parses the inputs of an encoder-decoder (BigBirdPegasus, EncoderDecoderModel) or of BigBirdPegasusForCausalLM:
    /// input_ids and attention_mask [batch][seq]; decoder_input_ids [batch][decoder_seq] and decoder_attention_mask
    /// [batch][decoder_seq]; labels [batch][decoder_seq] of token ids (or [batch] of class ids, or floats for regression);
    /// start_positions and end_positions [batch].
    /// </summary>
    /// <exception cref="BigBirdInputException">Not JSON, unknown keys, ragged or mis-shaped arrays, or wrong element types.</exception>
    public static Seq2SeqRunInputs ParseSeq2Seq(string json, string path)
    {
        var t = Tensors(json, path, KnownSeq2Seq);
        if (!t.TryGetValue("input_ids", out var ids))
            throw new BigBirdInputException($"{path}: input_ids is required.");
        if (ids.Count == 0 || ids.Shape.Length != 2)
            throw new BigBirdInputException($"{path}: input_ids must be [batch][seq] with at least one token, got {ids.ShapeText}.");
        int batch = ids.Shape[0], seq = ids.Shape[1];
        int[]? Ints(string name, int[] shape)
        {
            if (!t.TryGetValue(name, out var x)) return null;
            x.ExpectShape(shape, path, name);
            return x.Ints(path, name);
        }
        int decoderSeq = 0;
        int[]? decoderIds = null;
        if (t.TryGetValue("decoder_input_ids", out var d))
        {
            if (d.Shape.Length != 2 || d.Shape[0] != batch || d.Shape[1] == 0)
                throw new BigBirdInputException($"{path}: decoder_input_ids must be [{batch}][decoder_seq] with at least one token, got {d.ShapeText}.");
            decoderSeq = d.Shape[1];
            decoderIds = d.Ints(path, "decoder_input_ids");
        }
        int[]? decoderMask = null;
        if (t.TryGetValue("decoder_attention_mask", out var dm))
        {
            if (dm.Shape.Length != 2 || dm.Shape[0] != batch)
                throw new BigBirdInputException($"{path}: decoder_attention_mask must be [{batch}][decoder_seq], got {dm.ShapeText}.");
            decoderMask = dm.Ints(path, "decoder_attention_mask");
        }
        int[]? labels = null;
        float[]? floatLabels = null;
        int[] labelShape = [];
        if (t.TryGetValue("labels", out var l))
        {
            if (l.Shape.Length is not (1 or 2) || l.Shape[0] != batch)
                throw new BigBirdInputException(
                    $"{path}: labels must be [{batch}][decoder_seq] (or [{batch}], or [{batch}][num_labels] floats, for a classification head), got {l.ShapeText}.");
            labelShape = l.Shape;
            if (l.AnyFloat) floatLabels = l.Floats();
            else labels = l.Ints(path, "labels");
        }
        int[]? PerRow(string name)
        {
            if (!t.TryGetValue(name, out var x)) return null;
            if (!(x.Shape.Length == 1 && x.Shape[0] == batch) && !(x.Shape.Length == 2 && x.Shape[0] == batch && x.Shape[1] == 1))
                throw new BigBirdInputException($"{path}: {name} must have shape [{batch}] (one value per row), got {x.ShapeText}.");
            return x.Ints(path, name);
        }
        return new Seq2SeqRunInputs(path, batch, seq, ids.Ints(path, "input_ids"), Ints("attention_mask", ids.Shape), decoderIds, decoderSeq,
                                    decoderMask, decoderMask is null ? 0 : t["decoder_attention_mask"].Shape[1], labels, floatLabels, labelShape,
                                    PerRow("start_positions"), PerRow("end_positions"));
    }

    private static string KeyOf(JsonProperty p, string path, string[] known)
    {
        try
        {
            return p.Name;
        }
        catch (InvalidOperationException)
        {
            throw new BigBirdInputException($"{path}: a key holds a lone surrogate escape (such as \\ud800), which is not Unicode text; known inputs: {string.Join(", ", known)}.");
        }
    }

    /// <summary>A rectangular JSON array of numbers, flattened.</summary>
    private sealed class Tensor
    {
        public int[] Shape = [];
        public readonly List<double> Values = [];
        public bool AnyFloat;
        // the first element written with a decimal point or exponent: its flat index and its text
        private int _firstFloat = -1;
        private string _firstFloatText = "";
        public int Count => Values.Count;
        public string ShapeText => "[" + string.Join("][", Shape) + "]";

        public static Tensor Parse(JsonElement e, string path, string name)
        {
            var t = new Tensor();
            var shape = new List<int>();
            for (var x = e; x.ValueKind == JsonValueKind.Array; x = x.GetArrayLength() > 0 ? x[0] : default)
            {
                shape.Add(x.GetArrayLength());
                if (x.GetArrayLength() == 0) break;
            }
            t.Shape = shape.ToArray();
            t.Walk(e, 0, path, name);
            return t;
        }

        private void Walk(JsonElement e, int depth, string path, string name)
        {
            if (depth == Shape.Length)
            {
                if (e.ValueKind != JsonValueKind.Number || !e.TryGetDouble(out double v) || !double.IsFinite(v))
                    throw new BigBirdInputException($"{path}: {ElementPath(name, Values.Count)} is '{e.GetRawText()}', which is not a finite number.");
                string raw = e.GetRawText();
                if (!AnyFloat && (raw.Contains('.') || raw.Contains('e') || raw.Contains('E')))
                {
                    AnyFloat = true;
                    _firstFloat = Values.Count;
                    _firstFloatText = raw;
                }
                Values.Add(v);
                return;
            }
            if (e.ValueKind != JsonValueKind.Array || e.GetArrayLength() != Shape[depth])
                throw new BigBirdInputException(
                    $"{path}: {name} is ragged or mis-nested: every row at depth {depth} must have {Shape[depth]} elements; pad rows to one length.");
            foreach (var item in e.EnumerateArray()) Walk(item, depth + 1, path, name);
        }

        public void ExpectShape(int[] shape, string path, string name)
        {
            if (!Shape.SequenceEqual(shape))
                throw new BigBirdInputException($"{path}: {name} has shape {ShapeText}, expected [{string.Join("][", shape)}] (the shape of input_ids).");
        }

        public int[] Ints(string path, string name)
        {
            if (AnyFloat)
                throw new BigBirdInputException(
                    $"{path}: {ElementPath(name, _firstFloat)} is {_firstFloatText}, which is not a 32-bit integer ({name} takes integers; write them without a decimal point or exponent).");
            var r = new int[Values.Count];
            for (int i = 0; i < r.Length; i++)
            {
                double v = Values[i];
                if (v != Math.Floor(v) || v < int.MinValue || v > int.MaxValue)
                    throw new BigBirdInputException($"{path}: {ElementPath(name, i)} is {v.ToString(System.Globalization.CultureInfo.InvariantCulture)}, which is not a 32-bit integer.");
                r[i] = (int)v;
            }
            return r;
        }

        /// <summary>The element at row-major index <paramref name="flat"/>, written as <c>name[i][j]</c>.</summary>
        private string ElementPath(string name, int flat)
        {
            var index = new int[Shape.Length];
            for (int d = Shape.Length - 1; d >= 0; d--)
            {
                int size = Math.Max(Shape[d], 1);
                index[d] = flat % size;
                flat /= size;
            }
            return name + string.Concat(index.Select(i => $"[{i}]"));
        }

        public float[] Floats() => Values.Select(v => (float)v).ToArray();
    }
}

/// <summary>The parsed inputs file of <c>bigbird run</c> on a sequence-to-sequence folder, row-major, named as HF's arguments.</summary>
internal sealed record Seq2SeqRunInputs(
    string Path, int BatchSize, int SequenceLength, int[] InputIds, int[]? AttentionMask, int[]? DecoderInputIds, int DecoderSequenceLength,
    int[]? DecoderAttentionMask, int DecoderMaskLength, int[]? Labels, float[]? FloatLabels, int[] LabelShape, int[]? StartPositions,
    int[]? EndPositions);
