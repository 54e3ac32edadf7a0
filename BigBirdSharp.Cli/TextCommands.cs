using System.Text.Json;
using BigBirdSharp.Modeling;
using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Modeling.Pegasus;
using BigBirdSharp.Pipelines;
using BigBirdSharp.Serialization;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Cli;

/// <summary>The commands on raw text: <c>fill-mask</c>, <c>embed</c>, <c>classify</c>, <c>qa</c>, <c>generate</c>, <c>summarize</c>.
/// Each loads a checkpoint folder (the embedded default model unless <c>--model</c>) and its tokenizer, runs every
/// document alone (block-size padding is the model's own, as in HF), and prints a readable result, or one JSON line
/// per document with <c>--json</c>. Progress and the model's name go to stderr; <c>--quiet</c> silences them.</summary>
internal static class TextCommands
{
    public static int FillMask(TextCommandContext c)
    {
        var o = c.Options;
        int topK = o.Value<int>("--top-k");
        if (topK <= 0) throw new BigBirdCli.UsageException("--top-k must be positive");
        var docs = c.ReadDocuments("text", null, false, null, () => ModelFolder.Resolve(o.Get("--model"), causal: false).Config.MaxPositionEmbeddings);
        var folder = ModelFolder.Resolve(o.Get("--model"), causal: false);
        var (head, tokenizer) = LoadHead(c, folder,
            folder.Config.Architectures.FirstOrDefault() == "BigBirdForPreTraining" ? "BigBirdForPreTraining" : "BigBirdForMaskedLM", "fill-mask");
        using var _ = head;
        var pipeline = new FillMaskPipeline(head, tokenizer);
        var options = c.ForwardOptions();
        return c.ForEach(docs, doc =>
        {
            var r = pipeline.Run(doc.Text, topK, c.Overlong, options);
            c.WarnTruncated(doc, r.Input, head.Config.MaxPositionEmbeddings);
            c.WarnNonFinite(doc, TextCommandContext.NonFinite(r.Masks.SelectMany(m => m.Candidates.Select(x => x.Score))), "scores");
            if (c.Json)
                c.WriteJson(doc, w =>
                {
                    w.WriteString("text", doc.Text);
                    w.WriteNumber("tokens", r.Input.Length);
                    w.WriteBoolean("truncated", r.Input.Truncated);
                    w.WriteStartArray("masks");
                    foreach (var (position, candidates) in r.Masks)
                    {
                        w.WriteStartObject();
                        w.WriteNumber("position", position);
                        w.WriteStartArray("candidates");
                        foreach (var x in candidates)
                        {
                            w.WriteStartObject();
                            w.WriteNumber("token", x.TokenId);
                            w.WriteString("token_str", x.TokenStr);
                            TextCommandContext.Number(w, "score", x.Score);
                            w.WriteString("sequence", x.Sequence);
                            w.WriteEndObject();
                        }
                        w.WriteEndArray();
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                });
            else
            {
                c.Out.WriteLine(Shorten(doc.Text));
                for (int m = 0; m < r.Masks.Count; m++)
                {
                    if (r.Masks.Count > 1) c.Out.WriteLine($"  [MASK] {m + 1} of {r.Masks.Count}:");
                    int rank = 0;
                    foreach (var x in r.Masks[m].Candidates)
                        c.Out.WriteLine($"  {++rank,2}. {TextCommandContext.F(x.Score)}  {x.TokenStr,-14} {Shorten(x.Sequence)}");
                }
            }
            return r.Input.Length;
        });
    }

    public static int Embed(TextCommandContext c)
    {
        var o = c.Options;
        var pooling = (o.Get("--pooling") ?? "mean") switch
        {
            "mean" => EmbeddingPooling.Mean,
            "pooler" => EmbeddingPooling.Pooler,
            "cls" => EmbeddingPooling.Cls,
            var v => throw new BigBirdCli.UsageException($"--pooling must be mean, pooler or cls, not '{v}'"),
        };
        // a .safetensors or .json --output gets every vector as one matrix; any other --output the lines printed
        string? output = o.Get("--output") is { } given && (given.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) ||
                                                           given.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) ? given : null;
        if (o.Get("--output") is { } target and not "-" && Path.GetDirectoryName(Path.GetFullPath(target)) is { } outDir && !Directory.Exists(outDir))
            throw new BigBirdInputException($"{target}: the folder {outDir} does not exist; create it first.");
        var docs = c.ReadDocuments("text", null, false, null, () => ModelFolder.Resolve(o.Get("--model"), causal: false).Config.MaxPositionEmbeddings);
        var folder = ModelFolder.Resolve(o.Get("--model"), causal: false);
        c.Info($"model: {folder.Description}");
        var tokenizer = folder.LoadTokenizer(c.Warn);
        using var model = c.Load("BigBirdModel", () => BigBirdModel.FromPretrained(folder.Directory, c.ModelOptions()));
        var pipeline = new FeatureExtractionPipeline(model, tokenizer);
        var options = c.ForwardOptions();
        c.CommandWritesOutput = output is not null;
        var results = new List<EmbeddingResult>();
        var sources = new List<string>();
        // a matrix holds no error records: those go to stderr
        Action<TextDocument, string>? onError = output is null ? null : (doc, message) => c.Stderr.WriteLine($"error: {doc.Label}: {message}");
        int code = c.ForEach(docs, doc =>
        {
            var r = pipeline.Run(doc.Text, pooling, c.Overlong, options);
            c.WarnTruncated(doc, r.Input, model.Config.MaxPositionEmbeddings);
            c.WarnNonFinite(doc, TextCommandContext.NonFinite(r.Vector), "embedding's values");
            results.Add(r);
            sources.Add(doc.Label);
            if (output is not null) return r.Input.Length;
            if (c.Json)
                c.WriteJson(doc, w =>
                {
                    w.WriteString("text", doc.Text);
                    w.WriteNumber("tokens", r.Input.Length);
                    w.WriteBoolean("truncated", r.Input.Truncated);
                    w.WriteStartArray("embedding");
                    foreach (float x in r.Vector) TextCommandContext.NumberValue(w, x);
                    w.WriteEndArray();
                });
            else
            {
                double norm = Math.Sqrt(r.Vector.Sum(x => (double)x * x));
                c.Out.WriteLine($"{Shorten(doc.Text)}\n  {r.Vector.Length}-d {pooling.ToString().ToLowerInvariant()} embedding, norm {TextCommandContext.F((float)norm, "0.000")}: " +
                                   $"[{string.Join(", ", r.Vector.Take(6).Select(x => TextCommandContext.F(x)))}, …]");
            }
            return r.Input.Length;
        }, onError);
        if (output is not null)
        {
            int hidden = model.Config.HiddenSize;
            if (output.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            {
                using var stream = File.Create(output);
                using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = false });
                w.WriteStartObject();
                w.WriteString("pooling", pooling.ToString().ToLowerInvariant());
                w.WriteStartArray("texts");
                foreach (var r in results) w.WriteStringValue(r.Text);
                w.WriteEndArray();
                w.WriteStartArray("sources");
                foreach (var source in sources) w.WriteStringValue(source);
                w.WriteEndArray();
                w.WriteStartArray("embeddings");
                foreach (var r in results)
                {
                    w.WriteStartArray();
                    foreach (float x in r.Vector) TextCommandContext.NumberValue(w, x);
                    w.WriteEndArray();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            else
            {
                var data = new float[results.Count * hidden];
                for (int i = 0; i < results.Count; i++) results[i].Vector.CopyTo(data, i * hidden);
                SafeTensorsWriter.Write(output, [new SafeTensorsWriter.Entry("embeddings", [results.Count, hidden], data, null)]);
            }
            c.Info($"wrote {results.Count} × {hidden} {pooling.ToString().ToLowerInvariant()} embeddings → {output}");
        }
        return code;
    }

    public static int Classify(TextCommandContext c)
    {
        var o = c.Options;
        int? topK = o.Value<int?>("--top-k");
        if (topK is <= 0) throw new BigBirdCli.UsageException("--top-k must be positive");
        var docs = c.ReadDocuments("text", "text_pair", false, o.Get("--text-pair"),
                                  () => ModelFolder.Resolve(o.Get("--model"), causal: false).Config.MaxPositionEmbeddings);
        var folder = ModelFolder.Resolve(o.Get("--model"), causal: false);
        var (head, tokenizer) = LoadHead(c, folder, "BigBirdForSequenceClassification", "classify");
        using var _ = head;
        var pipeline = new TextClassificationPipeline((BigBirdForSequenceClassification)head, tokenizer);
        var options = c.ForwardOptions();
        return c.ForEach(docs, doc =>
        {
            var r = pipeline.Run(doc.Text, doc.Pair, c.Overlong, options);
            c.WarnTruncated(doc, r.Input, head.Config.MaxPositionEmbeddings);
            c.WarnNonFinite(doc, TextCommandContext.NonFinite(r.Labels.Select(l => l.Score)), "label scores");
            var labels = r.Labels.Take(topK ?? r.Labels.Count).ToArray();
            if (c.Json)
                c.WriteJson(doc, w =>
                {
                    w.WriteString("text", doc.Text);
                    if (doc.Pair is not null) w.WriteString("text_pair", doc.Pair);
                    w.WriteNumber("tokens", r.Input.Length);
                    w.WriteBoolean("truncated", r.Input.Truncated);
                    w.WriteString("label", labels[0].Label);
                    TextCommandContext.Number(w, "score", labels[0].Score);
                    w.WriteStartArray("labels");
                    foreach (var l in labels)
                    {
                        w.WriteStartObject();
                        w.WriteString("label", l.Label);
                        TextCommandContext.Number(w, "score", l.Score);
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                });
            else
                c.Out.WriteLine($"{labels[0].Label} ({TextCommandContext.F(labels[0].Score)})  {Shorten(doc.Text)}\n  " +
                                   string.Join(" | ", labels.Take(topK ?? 5).Select(l => $"{l.Label} {TextCommandContext.F(l.Score)}")));
            return r.Input.Length;
        });
    }

    public static int Qa(TextCommandContext c)
    {
        var o = c.Options;
        int topK = o.Value<int>("--top-k"), maxAnswer = o.Value<int>("--max-answer-length"), docStride = o.Value<int>("--doc-stride");
        if (topK <= 0 || maxAnswer <= 0) throw new BigBirdCli.UsageException("--top-k and --max-answer-length must be positive");
        if (docStride < 0) throw new BigBirdCli.UsageException("--doc-stride must not be negative");
        var docs = c.ReadDocuments("context", "question", true, o.Get("--question"), null); // qa reads the whole context in windows
        var folder = ModelFolder.Resolve(o.Get("--model"), causal: false);
        var (head, tokenizer) = LoadHead(c, folder, "BigBirdForQuestionAnswering", "qa");
        using var _ = head;
        var pipeline = new QuestionAnsweringPipeline((BigBirdForQuestionAnswering)head, tokenizer);
        var options = c.ForwardOptions();
        return c.ForEach(docs, doc =>
        {
            var r = pipeline.Run(doc.Pair!, doc.Text, topK, maxAnswer, c.Overlong, options, docStride);
            c.WarnNonFinite(doc, TextCommandContext.NonFinite(r.Answers.Select(a => a.Score)), "answer scores");
            if (r.Windows > 1)
                c.Note(doc.Label, $"{r.Input.Length} tokens, more than max_position_embeddings ({head.Config.MaxPositionEmbeddings}): " +
                                  $"read in {r.Windows} windows overlapping by {r.WindowOverlap} tokens, each with the question.",
                       $"contexts longer than max_position_embeddings ({head.Config.MaxPositionEmbeddings}) read in windows overlapping by " +
                       $"{r.WindowOverlap} tokens, each with the question");
            if (c.Json)
                c.WriteJson(doc, w =>
                {
                    w.WriteString("question", r.Question);
                    w.WriteNumber("tokens", r.Input.Length);
                    w.WriteNumber("windows", r.Windows);
                    w.WriteStartArray("answers");
                    foreach (var a in r.Answers)
                    {
                        w.WriteStartObject();
                        w.WriteString("answer", a.Answer);
                        TextCommandContext.Number(w, "score", a.Score);
                        w.WriteNumber("start", a.Start);
                        w.WriteNumber("end", a.End);
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                });
            else
            {
                c.Out.WriteLine($"Q: {r.Question}  (context: {r.Context.Length} characters, {r.Input.Length} tokens" +
                                   (r.Windows > 1 ? $", {r.Windows} windows)" : ")"));
                int rank = 0;
                foreach (var a in r.Answers)
                    c.Out.WriteLine($"  {++rank,2}. {a.Answer}  (score {TextCommandContext.F(a.Score)}, characters {a.Start}–{a.End})");
            }
            return r.Input.Length;
        });
    }

    public static int Generate(TextCommandContext c)
    {
        var o = c.Options;
        int maxNew = o.Value<int>("--max-new-tokens");
        if (maxNew <= 0) throw new BigBirdCli.UsageException("--max-new-tokens must be positive");
        if (!o.Flag("--do-sample") && (o.Given("--temperature") || o.Given("--top-k") || o.Given("--top-p") || o.Given("--seed")))
            throw new BigBirdCli.UsageException("--temperature, --top-k, --top-p and --seed go with --do-sample");
        var generation = new GenerationConfig
        {
            MaxNewTokens = maxNew,
            DoSample = o.Flag("--do-sample"),
            Temperature = o.Float("--temperature"),
            TopK = o.Value<int>("--top-k"),
            TopP = o.Float("--top-p"),
            Seed = o.Value<int>("--seed"),
            RepetitionPenalty = o.Float("--repetition-penalty"),
            NoRepeatNgramSize = o.Value<int>("--no-repeat-ngram-size"),
        };
        if (!(generation.RepetitionPenalty > 0) || !float.IsFinite(generation.RepetitionPenalty) || generation.NoRepeatNgramSize < 0)
            throw new BigBirdCli.UsageException("--repetition-penalty must be positive and --no-repeat-ngram-size non-negative");
        if (generation.Temperature <= 0 || generation.TopK < 0 || generation.TopP is <= 0 or > 1)
            throw new BigBirdCli.UsageException("--temperature must be positive, --top-k non-negative and --top-p in (0, 1]");
        var docs = c.ReadDocuments("text", null, false, null, () => ModelFolder.Resolve(o.Get("--model"), causal: true).Config.MaxPositionEmbeddings);
        var folder = ModelFolder.Resolve(o.Get("--model"), causal: true);
        var (head, tokenizer) = LoadHead(c, folder, "BigBirdForCausalLM", "generate");
        using var _ = head;
        var pipeline = new TextGenerationPipeline((BigBirdForCausalLM)head, tokenizer);
        var options = c.ForwardOptions();
        return c.ForEach(docs, doc =>
        {
            var r = pipeline.Run(doc.Text, generation, c.Overlong, options);
            if (r.PromptIds.Length + maxNew > head.Config.MaxPositionEmbeddings)
                c.Warn(doc.Label, $"at most {head.Config.MaxPositionEmbeddings - r.PromptIds.Length} tokens can follow this prompt " +
                                  $"(max_position_embeddings is {head.Config.MaxPositionEmbeddings}), not --max-new-tokens {maxNew}.",
                       $"prompt and --max-new-tokens {maxNew} together exceed max_position_embeddings ({head.Config.MaxPositionEmbeddings}); " +
                       "generation stops there.");
            if (r.PromptTruncatedFrom is int from)
                c.Warn(doc.Label, $"the prompt is {from} tokens; only its last {r.PromptIds.Length} are kept (the model's max_position_embeddings is " +
                                  $"{head.Config.MaxPositionEmbeddings}); pass --no-truncate to refuse over-long input instead.",
                       $"prompts cut to their last tokens (the model's max_position_embeddings is {head.Config.MaxPositionEmbeddings}); " +
                       "pass --no-truncate to refuse over-long input instead.");
            if (c.Json)
                c.WriteJson(doc, w =>
                {
                    w.WriteString("prompt", doc.Text);
                    w.WriteString("generated_text", r.GeneratedText);
                    w.WriteStartArray("prompt_ids");
                    foreach (int id in r.PromptIds) w.WriteNumberValue(id);
                    w.WriteEndArray();
                    w.WriteStartArray("generated_ids");
                    foreach (int id in r.GeneratedIds) w.WriteNumberValue(id);
                    w.WriteEndArray();
                    w.WriteBoolean("stopped_at_eos", r.StoppedAtEos);
                    if (r.PromptTruncatedFrom is int truncatedFrom) w.WriteNumber("prompt_truncated_from", truncatedFrom);
                });
            else
                c.Out.WriteLine($"{doc.Text.TrimEnd()} » {r.GeneratedText}{(r.StoppedAtEos ? "" : " …")}");
            return r.PromptIds.Length + r.GeneratedIds.Length;
        });
    }

    public static int Summarize(TextCommandContext c)
    {
        var o = c.Options;
        string model = o.Get("--model") ?? throw new BigBirdCli.UsageException(
            "summarize needs --model, a BigBirdPegasusForConditionalGeneration folder (such as google/bigbird-pegasus-large-arxiv); the embedded default model is an encoder");
        if (!Directory.Exists(model)) throw new BigBirdException($"{model}: no such folder; pass a Hugging Face checkpoint folder (config.json, weights, spiece.model).");
        if (ConfigFile.ModelTypeOf(model) is var modelType && modelType != BigBirdPegasusConfig.ModelType)
            throw new BigBirdException(
                $"{Path.Combine(model, "config.json")}: model_type is '{modelType ?? "(none)"}'; summarize needs a bigbird_pegasus checkpoint (BigBirdPegasusForConditionalGeneration).");
        int? maxNew = o.Value<int?>("--max-new-tokens");
        if (maxNew is <= 0) throw new BigBirdCli.UsageException("--max-new-tokens must be positive");
        var config = BigBirdPegasusConfig.FromFile(Path.Combine(model, "config.json"));
        var docs = c.ReadDocuments("text", null, false, null, () => config.MaxPositionEmbeddings);
        var generation = GenerationFlags.Read(o, model, maxNew);
        c.Info($"model: {model}");
        var tokenizer = c.Load("tokenizer", () => PegasusTokenizer.FromPretrained(model));
        using var head = c.Load("BigBirdPegasusForConditionalGeneration", () => BigBirdPegasusForConditionalGeneration.FromPretrained(model, c.ModelOptions()));
        var pipeline = new SummarizationPipeline(head, tokenizer);
        var options = c.ForwardOptions();
        return c.ForEach(docs, doc =>
        {
            var r = pipeline.Run(doc.Text, generation, c.Overlong, options);
            if (r.TruncatedFrom is int from)
                c.Warn(doc.Label, $"the document is {from} tokens; only its first {r.InputIds.Length} are summarized (the model's max_position_embeddings is " +
                                  $"{config.MaxPositionEmbeddings}); pass --no-truncate to refuse over-long input instead.",
                       $"documents truncated to {config.MaxPositionEmbeddings} tokens (the model's max_position_embeddings); pass --no-truncate to refuse over-long input instead.");
            if (c.Json)
                c.WriteJson(doc, w =>
                {
                    w.WriteString("summary_text", r.SummaryText);
                    w.WriteStartArray("summary_token_ids");
                    foreach (int id in r.SummaryTokenIds) w.WriteNumberValue(id);
                    w.WriteEndArray();
                    w.WriteNumber("input_tokens", r.InputIds.Length);
                    if (r.TruncatedFrom is int truncatedFrom) w.WriteNumber("truncated_from", truncatedFrom);
                });
            else
                c.Out.WriteLine(r.SummaryText);
            return r.InputIds.Length + r.SummaryTokenIds.Length;
        });
    }

    /// <summary>Loads the head a command needs, saying what to do when the checkpoint was not trained for it.</summary>
    private static (BigBirdPreTrainedModel, BigBirdTokenizer) LoadHead(TextCommandContext c, ModelFolder folder, string architecture, string command)
    {
        c.Info($"model: {folder.Description}");
        var tokenizer = folder.LoadTokenizer(c.Warn);
        try
        {
            var head = c.Load(architecture, () => BigBirdPreTrainedModel.Load(folder.Directory, architecture, c.ModelOptions()));
            return (head, tokenizer);
        }
        catch (TensorMismatchException e)
        {
            var declared = folder.Config.Architectures;
            throw new BigBirdException(
                $"`{command}` needs a {architecture} checkpoint, and {folder.Directory} does not hold that head " +
                $"(config.json architectures: {(declared.Count == 0 ? "none" : string.Join(", ", declared))}): {e.Message} " +
                (folder.IsDefault ? "The embedded default model lacks it; pass --model a checkpoint fine-tuned for this task."
                                  : "Use a checkpoint fine-tuned for this task, or leave --model out to use the embedded default model."), e);
        }
    }

    private static string Shorten(string text)
    {
        string oneLine = string.Join(' ', text.Split((char[])['\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries)).Trim();
        if (oneLine.Length <= 100) return oneLine;
        int cut = char.IsHighSurrogate(oneLine[96]) ? 96 : 97; // never split a surrogate pair
        return oneLine[..cut] + "…";
    }
}
