using System.Globalization;
using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Modeling.Pegasus;
using BigBirdSharp.Serialization;
using static BigBirdSharp.Cli.BigBirdCli;

namespace BigBirdSharp.Cli;

/// <summary>
/// <c>bigbird run</c> on a sequence-to-sequence folder (<c>model_type</c> <c>bigbird_pegasus</c>): reads input_ids,
/// attention_mask, decoder_input_ids, decoder_attention_mask and labels, and writes HF's output fields
/// (<c>logits</c>, <c>encoder_last_hidden_state</c>, <c>loss</c>; <c>last_hidden_state</c> for the bare model), or with
/// <c>--generate N</c> HF's <c>sequences</c>, the decoder start token first; on BigBirdPegasusForCausalLM, input_ids,
/// attention_mask and labels in, <c>logits</c> and <c>loss</c> out, or <c>sequences</c> with the prompt first.
/// </summary>
internal static class Seq2SeqRun
{
    /// <summary>The BigBirdPegasus classes <c>run</c> loads.</summary>
    public static readonly IReadOnlyList<string> PegasusArchitectures =
        ["BigBirdPegasusForConditionalGeneration", "BigBirdPegasusModel", "BigBirdPegasusForCausalLM"];

    public static int Run(Options o, CliConsole io, string model, string modelType, BigBirdModelOptions modelOptions,
                          BigBirdForwardOptions forwardOptions, string inputs, string output, int? generate)
    {
        if (modelType != BigBirdPegasusConfig.ModelType)
            throw new BigBirdException($"{Path.Combine(model, "config.json")}: model_type '{modelType}' is not done in bigbird run yet; it runs bigbird_pegasus folders.");
        if (forwardOptions.OutputHiddenStates || forwardOptions.OutputAttentions)
            throw new UsageException("--output-hidden-states and --output-attentions are not done for encoder-decoders; run without them");
        var config = BigBirdPegasusConfig.FromFile(Path.Combine(model, "config.json"));
        string architecture = o.Get("--architecture") ?? config.Architectures.FirstOrDefault() ?? "BigBirdPegasusModel";
        if (!PegasusArchitectures.Contains(architecture))
            throw new BigBirdException(
                $"architecture '{architecture}' is not supported for a bigbird_pegasus folder; supported: {string.Join(", ", PegasusArchitectures)}.");
        var (text, path) = ReadRunText(inputs, io);
        var given = RunInputs.ParseSeq2Seq(text, path);
        if (architecture == "BigBirdPegasusForCausalLM") return RunCausalLM(o, io, model, modelOptions, given, output, generate);
        var x = PegasusInputs(given);

        var json = new Dictionary<string, object?>
        {
            ["architecture"] = architecture, ["batch"] = x.BatchSize, ["length"] = x.SequenceLength,
        };
        string summary;
        if (generate is int n)
        {
            if (architecture != "BigBirdPegasusForConditionalGeneration")
                throw new UsageException($"--generate needs BigBirdPegasusForConditionalGeneration, not {architecture}");
            if (given.DecoderInputIds is not null || given.DecoderAttentionMask is not null || given.Labels is not null || given.FloatLabels is not null)
                throw new BigBirdInputException($"{path}: --generate makes its own decoder inputs; give only input_ids and attention_mask.");
            using var cg = BigBirdPegasusForConditionalGeneration.FromPretrained(model, modelOptions);
            var generation = GenerationFlags.Read(o, model, n);
            var sequences = cg.Generate(x, generation, forwardOptions);
            int rows = x.BatchSize * generation.NumReturnSequences, length = sequences.Length / rows;
            WriteBinaryOutput(output, io, file =>
                SafeTensorsWriter.Write(file, [new SafeTensorsWriter.Entry("sequences", [rows, length], [], sequences.Select(v => (long)v).ToArray())]));
            summary = $"generated {length - 1} tokens per row";
            json["generated_tokens_per_row"] = length - 1;
        }
        else if (architecture == "BigBirdPegasusModel")
        {
            if (given.Labels is not null || given.FloatLabels is not null)
                throw new BigBirdInputException($"{path}: labels need a head; BigBirdPegasusModel computes no loss.");
            using var bare = BigBirdPegasusModel.FromPretrained(model, modelOptions);
            var result = bare.Forward(x, forwardOptions);
            WriteBinaryOutput(output, io, file => SafeTensorsWriter.Write(file,
            [
                new SafeTensorsWriter.Entry("last_hidden_state", result.LastHiddenState.Shape, result.LastHiddenState.Data),
                new SafeTensorsWriter.Entry("encoder_last_hidden_state", result.EncoderLastHiddenState.Shape, result.EncoderLastHiddenState.Data),
            ]));
            summary = $"encoder attention {BigBirdConfig.AttentionTypeName(result.EncoderAttentionType)}";
            json["attention_type"] = BigBirdConfig.AttentionTypeName(result.EncoderAttentionType);
        }
        else
        {
            using var cg = BigBirdPegasusForConditionalGeneration.FromPretrained(model, modelOptions);
            var result = cg.Forward(x, forwardOptions);
            var entries = new List<SafeTensorsWriter.Entry>();
            if (result.Loss is float loss) entries.Add(new SafeTensorsWriter.Entry("loss", [], [loss]));
            entries.Add(new SafeTensorsWriter.Entry("logits", result.Logits.Shape, result.Logits.Data));
            entries.Add(new SafeTensorsWriter.Entry("encoder_last_hidden_state", result.EncoderLastHiddenState.Shape, result.EncoderLastHiddenState.Data));
            WriteBinaryOutput(output, io, file => SafeTensorsWriter.Write(file, entries));
            summary = $"encoder attention {BigBirdConfig.AttentionTypeName(result.EncoderAttentionType)}" +
                      (result.Loss is float l ? $", loss {l.ToString("G6", CultureInfo.InvariantCulture)}" : "");
            json["attention_type"] = BigBirdConfig.AttentionTypeName(result.EncoderAttentionType);
            if (result.Loss is float l2) json["loss"] = float.IsFinite(l2) ? l2 : null;
        }
        json["output"] = output;
        Summary(o, io, output, $"{architecture}: batch {x.BatchSize}, length {x.SequenceLength}, {summary} → {Shown(output)}", json);
        return Ok;
    }

    /// <summary>
    /// BigBirdPegasusForCausalLM (the decoder alone): input_ids, attention_mask and labels in; HF's <c>logits</c> and
    /// <c>loss</c> out, or with <c>--generate N</c> HF's <c>sequences</c>, the prompt first.
    /// </summary>
    private static int RunCausalLM(Options o, CliConsole io, string model, BigBirdModelOptions modelOptions, Seq2SeqRunInputs given, string output,
                                   int? generate)
    {
        const string architecture = "BigBirdPegasusForCausalLM";
        if (given.DecoderInputIds is not null || given.DecoderAttentionMask is not null || given.StartPositions is not null || given.EndPositions is not null)
            throw new BigBirdInputException(
                $"{given.Path}: {architecture} is a decoder alone; it takes input_ids, attention_mask and labels, not decoder_* inputs or positions.");
        if (given.FloatLabels is not null || (given.Labels is not null && given.LabelShape.Length != 2))
            throw new BigBirdInputException($"{given.Path}: labels must be [batch][seq] token ids (or -100) for {architecture}.");
        var x = new BigBirdPegasusCausalLMInputs(given.BatchSize, given.SequenceLength)
        {
            InputIds = given.InputIds, AttentionMask = given.AttentionMask, Labels = given.Labels,
        };
        var json = new Dictionary<string, object?>
        {
            ["architecture"] = architecture, ["batch"] = x.BatchSize, ["length"] = x.SequenceLength,
        };
        using var clm = BigBirdPegasusForCausalLM.FromPretrained(model, modelOptions);
        string summary;
        if (generate is int n)
        {
            if (given.Labels is not null)
                throw new BigBirdInputException($"{given.Path}: --generate takes the prompt's input_ids and attention_mask, not labels.");
            var generation = GenerationFlags.Read(o, model, n);
            var sequences = clm.Generate(x, generation);
            int rows = x.BatchSize * generation.NumReturnSequences, length = sequences.Length / rows;
            WriteBinaryOutput(output, io, file =>
                SafeTensorsWriter.Write(file, [new SafeTensorsWriter.Entry("sequences", [rows, length], [], sequences.Select(v => (long)v).ToArray())]));
            summary = $"generated {length - x.SequenceLength} tokens per row";
            json["generated_tokens_per_row"] = length - x.SequenceLength;
        }
        else
        {
            var result = clm.Forward(x);
            var entries = new List<SafeTensorsWriter.Entry>();
            if (result.Loss is float loss) entries.Add(new SafeTensorsWriter.Entry("loss", [], [loss]));
            entries.Add(new SafeTensorsWriter.Entry("logits", result.Logits.Shape, result.Logits.Data));
            WriteBinaryOutput(output, io, file => SafeTensorsWriter.Write(file, entries));
            summary = result.Loss is float l ? $"loss {l.ToString("G6", CultureInfo.InvariantCulture)}" : "logits";
            if (result.Loss is float l2) json["loss"] = float.IsFinite(l2) ? l2 : null;
        }
        json["output"] = output;
        Summary(o, io, output, $"{architecture}: batch {x.BatchSize}, length {x.SequenceLength}, {summary} → {Shown(output)}", json);
        return Ok;
    }

    /// <summary>The parsed inputs as BigBirdPegasus forward arguments.</summary>
    /// <exception cref="BigBirdInputException">Inputs a BigBirdPegasus class does not take, or labels of the wrong shape.</exception>
    internal static BigBirdPegasusInputs PegasusInputs(Seq2SeqRunInputs given)
    {
        if (given.StartPositions is not null || given.EndPositions is not null)
            throw new BigBirdInputException($"{given.Path}: start_positions and end_positions go with a question-answering head, which this folder is not.");
        if (given.FloatLabels is not null || (given.Labels is not null && given.LabelShape.Length != 2))
            throw new BigBirdInputException($"{given.Path}: labels must be [batch][decoder_seq] token ids (or -100) for BigBirdPegasusForConditionalGeneration.");
        int decoderSeq = given.DecoderInputIds is not null ? given.DecoderSequenceLength : given.Labels is not null ? given.LabelShape[1] : 0;
        if (given.DecoderInputIds is not null && given.Labels is not null && given.LabelShape[1] != given.DecoderSequenceLength)
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
        };
    }
}
