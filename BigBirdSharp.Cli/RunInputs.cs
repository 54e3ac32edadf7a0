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
    public static BigBirdInputs Read(string path)
    {
        CliInput.CheckRegularFile(path, "--input");
        // bounded like every input read whole: a file past the bound is a BigBirdInputException, not OutOfMemory
        if (new FileInfo(path).Length > 3 * Utf8Text.MaxWholeChars) // UTF-8 takes at most 3 bytes per UTF-16 character
            throw Utf8Text.TooLarge(path);
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses the inputs <paramref name="json"/>, read from <paramref name="path"/> (a file, or <c>stdin</c>),
    /// which the messages name.</summary>
    /// <exception cref="BigBirdInputException">Not JSON, unknown keys, ragged or mis-shaped arrays, or wrong element types.</exception>
    public static BigBirdInputs Parse(string json, string path)
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
                if (!Known.Contains(KeyOf(p, path)))
                    throw new BigBirdInputException($"{path}: unknown input '{p.Name}'; known inputs: {string.Join(", ", Known)}.");
                t[p.Name] = Tensor.Parse(p.Value, path, p.Name);
            }
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
    }

    private static string KeyOf(JsonProperty p, string path)
    {
        try
        {
            return p.Name;
        }
        catch (InvalidOperationException)
        {
            throw new BigBirdInputException($"{path}: a key holds a lone surrogate escape (such as \\ud800), which is not Unicode text; known inputs: {string.Join(", ", Known)}.");
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
