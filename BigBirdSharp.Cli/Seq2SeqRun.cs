using System.Globalization;
using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Modeling.EncoderDecoder;
using BigBirdSharp.Modeling.Pegasus;
using BigBirdSharp.Serialization;
using static BigBirdSharp.Cli.BigBirdCli;

namespace BigBirdSharp.Cli;

/// <summary>
/// <c>bigbird run</c> on a sequence-to-sequence folder (<c>model_type</c> <c>bigbird_pegasus</c> or <c>encoder-decoder</c>):
/// reads input_ids, attention_mask, decoder_input_ids, decoder_attention_mask, labels (and start/end positions for
/// question answering), and writes HF's output fields (<c>logits</c>, <c>encoder_last_hidden_state</c>, <c>loss</c>;
/// <c>last_hidden_state</c> for the bare model; <c>start_logits</c>/<c>end_logits</c> for question answering), or with
/// <c>--generate N</c> HF's <c>sequences</c>, the decoder start token first.
/// </summary>
internal static class Seq2SeqRun
{
    /// <summary>The BigBirdPegasus classes <c>run</c> loads.</summary>
    public static readonly IReadOnlyList<string> PegasusArchitectures =
    [
        "BigBirdPegasusForConditionalGeneration", "BigBirdPegasusModel", "BigBirdPegasusForSequenceClassification",
        "BigBirdPegasusForQuestionAnswering", "BigBirdPegasusForCausalLM",
    ];

    public static int Run(Options o, CliConsole io, string model, string modelType, BigBirdModelOptions modelOptions,
                          BigBirdForwardOptions forwardOptions, string inputs, string output, int? generate)
    {
        if (forwardOptions.OutputHiddenStates || forwardOptions.OutputAttentions)
            throw new UsageException("--output-hidden-states and --output-attentions are not done for encoder-decoders; run without them");
        var (text, path) = ReadRunText(inputs, io);
        var given = RunInputs.ParseSeq2Seq(text, path);
        var json = new Dictionary<string, object?> { ["batch"] = given.BatchSize, ["length"] = given.SequenceLength };
        string architecture, summary;
        List<SafeTensorsWriter.Entry> entries;
        var generation = generate is int n ? GenerationFlags.Read(o, model, n) : null;
        if (modelType == "encoder-decoder")
        {
            architecture = "EncoderDecoderModel";
            if (o.Get("--architecture") is { } asked && asked != architecture)
                throw new BigBirdException($"architecture '{asked}' is not supported for an encoder-decoder folder; it loads as EncoderDecoderModel.");
            using var ed = EncoderDecoderModel.FromPretrained(model, modelOptions);
            (entries, summary) = generation is not null
                ? Sequences(given, generation, ed.Generate(EncoderDecoderInputs(given, forGeneration: true), generation, forwardOptions), json)
                : EncoderDecoderForward(ed, EncoderDecoderInputs(given, forGeneration: false), forwardOptions, json);
        }
        else
        {
            var config = BigBirdPegasusConfig.FromFile(Path.Combine(model, "config.json"));
            architecture = o.Get("--architecture") ?? config.Architectures.FirstOrDefault() ?? "BigBirdPegasusModel";
            if (!PegasusArchitectures.Contains(architecture))
                throw new BigBirdException(
                    $"architecture '{architecture}' is not supported for a bigbird_pegasus folder; supported: {string.Join(", ", PegasusArchitectures)}.");
            if (generate is not null && architecture is not ("BigBirdPegasusForConditionalGeneration" or "BigBirdPegasusForCausalLM"))
                throw new UsageException($"--generate needs BigBirdPegasusForConditionalGeneration or BigBirdPegasusForCausalLM, not {architecture}");
            (entries, summary) = architecture switch
            {
                "BigBirdPegasusForCausalLM" => PegasusCausalLM(model, modelOptions, given, generation, json),
                _ when generation is not null => Sequences(given, generation, PegasusGenerate(model, modelOptions, given, generation, forwardOptions), json),
                _ => PegasusForward(architecture, model, modelOptions, PegasusInputs(given, architecture), forwardOptions, json),
            };
        }
        json["architecture"] = architecture;
        WriteBinaryOutput(output, io, file => SafeTensorsWriter.Write(file, entries));
        json["output"] = output;
        Summary(o, io, output, $"{architecture}: batch {given.BatchSize}, length {given.SequenceLength}, {summary} → {Shown(output)}", json);
        return Ok;
    }

    /// <summary>HF's <c>sequences</c> of a generation, [rows, length], and the summary line.</summary>
    private static (List<SafeTensorsWriter.Entry>, string) Sequences(Seq2SeqRunInputs given, GenerationConfig generation, int[] sequences,
                                                                     Dictionary<string, object?> json)
    {
        int rows = given.BatchSize * generation.NumReturnSequences, length = sequences.Length / rows;
        json["generated_tokens_per_row"] = length - 1;
        return ([new SafeTensorsWriter.Entry("sequences", [rows, length], [], sequences.Select(v => (long)v).ToArray())], $"generated {length - 1} tokens per row");
    }

    private static int[] PegasusGenerate(string model, BigBirdModelOptions modelOptions, Seq2SeqRunInputs given, GenerationConfig generation,
                                         BigBirdForwardOptions forwardOptions)
    {
        if (given.DecoderInputIds is not null || given.DecoderAttentionMask is not null || given.Labels is not null || given.FloatLabels is not null)
            throw new BigBirdInputException($"{given.Path}: --generate makes its own decoder inputs; give only input_ids and attention_mask.");
        using var cg = BigBirdPegasusForConditionalGeneration.FromPretrained(model, modelOptions);
        return cg.Generate(new BigBirdPegasusInputs(given.BatchSize, given.SequenceLength) { InputIds = given.InputIds, AttentionMask = given.AttentionMask },
                           generation, forwardOptions);
    }

    /// <summary>The entries of HF's output fields that are present, loss (0-d) first.</summary>
    private static List<SafeTensorsWriter.Entry> Fields(float? loss, params (string Name, FloatTensor? Tensor)[] fields)
    {
        var entries = new List<SafeTensorsWriter.Entry>();
        if (loss is float l) entries.Add(new SafeTensorsWriter.Entry("loss", [], [l]));
        foreach (var (name, t) in fields)
            if (t is not null) entries.Add(new SafeTensorsWriter.Entry(name, t.Shape, t.Data));
        return entries;
    }

    private static string Described(Configuration.AttentionType attention, float? loss, Dictionary<string, object?> json)
    {
        json["attention_type"] = BigBirdConfig.AttentionTypeName(attention);
        if (loss is float l) json["loss"] = float.IsFinite(l) ? l : null;
        return $"encoder attention {BigBirdConfig.AttentionTypeName(attention)}" + (loss is float x ? $", loss {x.ToString("G6", CultureInfo.InvariantCulture)}" : "");
    }

    private static (List<SafeTensorsWriter.Entry>, string) PegasusForward(string architecture, string model, BigBirdModelOptions modelOptions,
                                                                          BigBirdPegasusInputs x, BigBirdForwardOptions forwardOptions,
                                                                          Dictionary<string, object?> json)
    {
        switch (architecture)
        {
            case "BigBirdPegasusModel":
            {
                if (x.Labels is not null || x.FloatLabels is not null)
                    throw new BigBirdInputException("labels need a head; BigBirdPegasusModel computes no loss.");
                using var bare = BigBirdPegasusModel.FromPretrained(model, modelOptions);
                var r = bare.Forward(x, forwardOptions);
                return (Fields(null, ("last_hidden_state", r.LastHiddenState), ("encoder_last_hidden_state", r.EncoderLastHiddenState)),
                        Described(r.EncoderAttentionType, null, json));
            }
            case "BigBirdPegasusForSequenceClassification":
            {
                using var head = BigBirdPegasusForSequenceClassification.FromPretrained(model, modelOptions);
                var r = head.Forward(x, forwardOptions);
                return (Fields(r.Loss, ("logits", r.Logits), ("encoder_last_hidden_state", r.EncoderLastHiddenState)), Described(r.EncoderAttentionType, r.Loss, json));
            }
            case "BigBirdPegasusForQuestionAnswering":
            {
                using var head = BigBirdPegasusForQuestionAnswering.FromPretrained(model, modelOptions);
                var r = head.Forward(x, forwardOptions);
                return (Fields(r.Loss, ("start_logits", r.StartLogits), ("end_logits", r.EndLogits), ("encoder_last_hidden_state", r.EncoderLastHiddenState)),
                        Described(r.EncoderAttentionType, r.Loss, json));
            }
            default:
            {
                using var cg = BigBirdPegasusForConditionalGeneration.FromPretrained(model, modelOptions);
                var r = cg.Forward(x, forwardOptions);
                return (Fields(r.Loss, ("logits", r.Logits), ("encoder_last_hidden_state", r.EncoderLastHiddenState)), Described(r.EncoderAttentionType, r.Loss, json));
            }
        }
    }

    /// <summary>BigBirdPegasusForCausalLM (the decoder alone): input_ids, attention_mask and labels in; HF's <c>logits</c> and
    /// <c>loss</c> out, or with a generation HF's <c>sequences</c>, the prompt first.</summary>
    private static (List<SafeTensorsWriter.Entry>, string) PegasusCausalLM(string model, BigBirdModelOptions modelOptions, Seq2SeqRunInputs given,
                                                                           GenerationConfig? generation, Dictionary<string, object?> json)
    {
        if (given.DecoderInputIds is not null || given.DecoderAttentionMask is not null || given.StartPositions is not null || given.EndPositions is not null)
            throw new BigBirdInputException(
                $"{given.Path}: BigBirdPegasusForCausalLM is a decoder alone; it takes input_ids, attention_mask and labels, not decoder_* inputs or positions.");
        if (given.FloatLabels is not null || (given.Labels is not null && !given.LabelShape.SequenceEqual([given.BatchSize, given.SequenceLength])))
            throw new BigBirdInputException(
                $"{given.Path}: labels must be [batch][seq] token ids (or -100) of the shape of input_ids, [{given.BatchSize}][{given.SequenceLength}], for BigBirdPegasusForCausalLM.");
        using var clm = BigBirdPegasusForCausalLM.FromPretrained(model, modelOptions);
        if (generation is not null)
        {
            if (given.Labels is not null)
                throw new BigBirdInputException($"{given.Path}: --generate takes the prompt's input_ids and attention_mask, not labels.");
            var sequences = clm.Generate(new BigBirdPegasusCausalLMInputs(given.BatchSize, given.SequenceLength)
            {
                InputIds = given.InputIds, AttentionMask = given.AttentionMask,
            }, generation);
            int rows = given.BatchSize * generation.NumReturnSequences, length = sequences.Length / rows;
            json["generated_tokens_per_row"] = length - given.SequenceLength;
            return ([new SafeTensorsWriter.Entry("sequences", [rows, length], [], sequences.Select(v => (long)v).ToArray())],
                    $"generated {length - given.SequenceLength} tokens per row");
        }
        var r = clm.Forward(new BigBirdPegasusCausalLMInputs(given.BatchSize, given.SequenceLength)
        {
            InputIds = given.InputIds, AttentionMask = given.AttentionMask, Labels = given.Labels,
        });
        if (r.Loss is float l) json["loss"] = float.IsFinite(l) ? l : null;
        return (Fields(r.Loss, ("logits", r.Logits)), r.Loss is float x ? $"loss {x.ToString("G6", CultureInfo.InvariantCulture)}" : "decoder only");
    }

    private static (List<SafeTensorsWriter.Entry>, string) EncoderDecoderForward(EncoderDecoderModel ed, EncoderDecoderInputs x, BigBirdForwardOptions forwardOptions,
                                                                                 Dictionary<string, object?> json)
    {
        var r = ed.Forward(x, forwardOptions);
        return (Fields(r.Loss, ("logits", r.Logits), ("encoder_last_hidden_state", r.EncoderLastHiddenState)), Described(r.EncoderAttentionType, r.Loss, json));
    }

    /// <summary>The parsed inputs as EncoderDecoderModel arguments.</summary>
    /// <exception cref="BigBirdInputException">Inputs EncoderDecoderModel does not take, or labels of the wrong shape.</exception>
    internal static EncoderDecoderInputs EncoderDecoderInputs(Seq2SeqRunInputs given, bool forGeneration)
    {
        if (given.StartPositions is not null || given.EndPositions is not null)
            throw new BigBirdInputException($"{given.Path}: start_positions and end_positions go with a question-answering head, which an encoder-decoder is not.");
        if (forGeneration && (given.DecoderInputIds is not null || given.DecoderAttentionMask is not null || given.Labels is not null || given.FloatLabels is not null))
            throw new BigBirdInputException($"{given.Path}: --generate makes its own decoder inputs; give only input_ids and attention_mask.");
        if (given.FloatLabels is not null || (given.Labels is not null && given.LabelShape.Length != 2))
            throw new BigBirdInputException($"{given.Path}: labels must be [batch][decoder_seq] token ids (or -100) for EncoderDecoderModel.");
        return new EncoderDecoderInputs(given.BatchSize, given.SequenceLength)
        {
            InputIds = given.InputIds,
            AttentionMask = given.AttentionMask,
            DecoderInputIds = given.DecoderInputIds,
            DecoderSequenceLength = given.DecoderInputIds is not null ? given.DecoderSequenceLength : given.Labels is not null ? given.LabelShape[1] : 0,
            DecoderAttentionMask = given.DecoderAttentionMask,
            Labels = given.Labels,
        };
    }

    /// <summary>The parsed inputs as BigBirdPegasus forward arguments for <paramref name="architecture"/>.</summary>
    /// <exception cref="BigBirdInputException">Inputs the class does not take, or labels of the wrong shape.</exception>
    internal static BigBirdPegasusInputs PegasusInputs(Seq2SeqRunInputs given, string architecture)
    {
        bool qa = architecture == "BigBirdPegasusForQuestionAnswering", classifier = architecture == "BigBirdPegasusForSequenceClassification";
        if (!qa && (given.StartPositions is not null || given.EndPositions is not null))
            throw new BigBirdInputException($"{given.Path}: start_positions and end_positions go with a question-answering head, which {architecture} is not.");
        if (qa && (given.Labels is not null || given.FloatLabels is not null))
            throw new BigBirdInputException($"{given.Path}: BigBirdPegasusForQuestionAnswering takes start_positions and end_positions, not labels.");
        if (classifier && !(given.LabelShape.Length is 0 or 1 || given.LabelShape.Length == 2 && given.FloatLabels is not null))
            throw new BigBirdInputException(
                $"{given.Path}: labels must be [batch] (a class id, or floats for regression) or [batch][num_labels] floats (multi-label) for BigBirdPegasusForSequenceClassification.");
        if (!classifier && !qa && (given.FloatLabels is not null || (given.Labels is not null && given.LabelShape.Length != 2)))
            throw new BigBirdInputException($"{given.Path}: labels must be [batch][decoder_seq] token ids (or -100) for {architecture}.");
        bool sequenceLabels = !classifier && given.Labels is not null;
        int decoderSeq = given.DecoderInputIds is not null ? given.DecoderSequenceLength : sequenceLabels ? given.LabelShape[1] : 0;
        if (given.DecoderInputIds is not null && sequenceLabels && given.LabelShape[1] != given.DecoderSequenceLength)
            throw new BigBirdInputException(
                $"{given.Path}: labels have {given.LabelShape[1]} positions per row but decoder_input_ids have {given.DecoderSequenceLength}; they must match.");
        return new BigBirdPegasusInputs(given.BatchSize, given.SequenceLength)
        {
            InputIds = given.InputIds,
            AttentionMask = given.AttentionMask,
            DecoderInputIds = given.DecoderInputIds,
            DecoderSequenceLength = decoderSeq,
            DecoderAttentionMask = given.DecoderAttentionMask,
            Labels = given.Labels,
            FloatLabels = given.FloatLabels,
            StartPositions = given.StartPositions,
            EndPositions = given.EndPositions,
        };
    }
}
