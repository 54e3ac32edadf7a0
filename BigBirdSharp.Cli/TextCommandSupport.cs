using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling;
using BigBirdSharp.Pipelines;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Cli;

/// <summary>A checkpoint folder the text commands run on: the one given with <c>--model</c>, or the embedded default
/// model that the build copies next to the <c>bigbird</c> executable (<c>models/default</c>, and
/// <c>models/default-causal</c> for <c>generate</c>).</summary>
/// <param name="Directory">The folder.</param>
/// <param name="Description">One line saying plainly which model this is.</param>
/// <param name="IsDefault">True for the embedded default model.</param>
/// <param name="Config">Its config.json.</param>
public sealed record ModelFolder(string Directory, string Description, bool IsDefault, BigBirdConfig Config)
{
    /// <summary>Folder of the embedded default masked LM (also holding its classification and QA heads).</summary>
    public static string DefaultDirectory => Path.Combine(AppContext.BaseDirectory, "models", "default");

    /// <summary>Folder of the embedded default causal LM.</summary>
    public static string DefaultCausalDirectory => Path.Combine(AppContext.BaseDirectory, "models", "default-causal");

    /// <summary>Resolves <c>--model</c> (null: the default model) and checks that the folder is a BigBird checkpoint.</summary>
    /// <exception cref="BigBirdException">No such folder, no config.json, not a BigBird config, or no weights.</exception>
    public static ModelFolder Resolve(string? model, bool causal) => Resolve(model, causal, Path.Combine(AppContext.BaseDirectory, "models"));

    /// <summary><see cref="Resolve(string?, bool)"/> with the default models looked for under <paramref name="defaultRoot"/>.</summary>
    internal static ModelFolder Resolve(string? model, bool causal, string defaultRoot)
    {
        bool isDefault = model is null;
        string dir = model ?? Path.Combine(defaultRoot, causal ? "default-causal" : "default");
        if (!System.IO.Directory.Exists(dir))
            throw new BigBirdException(isDefault
                ? $"the embedded default model is missing: {dir} does not exist. Build the BigBirdSharp.Cli project (it copies fixtures/default_model there), or pass --model DIR."
                : File.Exists(dir)
                    ? $"{dir} is a file; --model takes a checkpoint folder (config.json + model.safetensors + spiece.model)."
                    : $"{dir}: no such folder. Pass --model a Hugging Face BigBird checkpoint folder (e.g. a download of google/bigbird-roberta-base), or leave --model out to use the embedded default model.");
        CliInput.CheckModelFolder(dir);
        string configPath = Path.Combine(dir, "config.json");
        if (!File.Exists(configPath))
            throw new BigBirdException(
                $"{dir} is not a checkpoint folder: it has no config.json. Point --model at the folder that holds config.json, " +
                "the weights (model.safetensors or pytorch_model.bin) and the tokenizer (spiece.model).");
        string? modelType = ReadModelType(configPath);
        if (modelType is not null and not "big_bird")
            throw new BigBirdException(
                $"{configPath}: model_type is '{modelType}', not 'big_bird'; BigBirdSharp runs BigBird checkpoints only (e.g. google/bigbird-roberta-base).");
        if (!IO.CheckpointLoader.CandidateFileNames.Any(f => File.Exists(Path.Combine(dir, f))))
            throw new BigBirdException(
                $"{dir} has config.json but no weights: it needs one of {string.Join(", ", IO.CheckpointLoader.CandidateFileNames)}. " +
                "Download the weights with the config, or save the model with transformers' save_pretrained.");
        var config = BigBirdConfig.FromFile(configPath);
        if (config.Architectures.FirstOrDefault() is { } arch && !BigBirdCli.SupportedArchitectures.Contains(arch))
            throw new BigBirdException(
                $"{configPath}: architecture '{arch}' is unknown; BigBirdSharp knows {string.Join(", ", BigBirdCli.SupportedArchitectures)}. " +
                "Fix config.json's \"architectures\" if this is a BigBird checkpoint; other model families are not supported.");
        string shape = $"{config.NumHiddenLayers} layers × {config.HiddenSize} hidden, {config.VocabSize} vocab, up to {config.MaxPositionEmbeddings} tokens, " +
                       BigBirdConfig.AttentionTypeName(config.AttentionType);
        string description = isDefault
            ? $"embedded default model ({(causal ? "causal LM" : "masked LM with classification and QA heads")}, {shape}), " +
              "trained on the King James Bible: a small demo, not a general English model. Pass --model DIR for a real checkpoint."
            : $"{dir} ({shape})";
        return new ModelFolder(dir, description, isDefault, config);
    }

    private static string? ReadModelType(string configPath)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(configPath));
            return doc.RootElement.ValueKind == JsonValueKind.Object &&
                   doc.RootElement.TryGetProperty("model_type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        }
        catch (JsonException)
        {
            return null; // BigBirdConfig.FromFile reports it with the details
        }
    }

    /// <summary>The folder's tokenizer; <paramref name="warn"/> hears when the model has more token ids than the tokenizer
    /// can decode.</summary>
    /// <exception cref="BigBirdException">The folder has no tokenizer, or a malformed one.</exception>
    public BigBirdTokenizer LoadTokenizer(Action<string> warn)
    {
        var tokenizer = LoadTokenizer();
        if (Config.VocabSize > tokenizer.Count)
            warn($"{tokenizer.FilePath} has {tokenizer.Count} token ids but config.json's vocab_size is {Config.VocabSize}: " +
                 $"ids {tokenizer.Count}–{Config.VocabSize - 1} cannot be decoded, and an output that needs one is an error (as in HF's BigBirdTokenizer).");
        return tokenizer;
    }

    /// <summary>The folder's tokenizer.</summary>
    /// <exception cref="BigBirdException">The folder has no tokenizer, or a malformed one.</exception>
    public BigBirdTokenizer LoadTokenizer()
    {
        if (!File.Exists(Path.Combine(Directory, "spiece.model")) && !File.Exists(Path.Combine(Directory, "tokenizer.json")))
            throw new BigBirdException(
                $"{Directory} has no tokenizer: the text commands need spiece.model (or tokenizer.json) next to config.json. " +
                "Download the tokenizer files with the model, or tokenize elsewhere and use `bigbird run` with token ids.");
        return BigBirdTokenizer.FromPretrained(Directory);
    }
}

/// <summary>One document of a text command: its text, optional second text or question, and where it came from.</summary>
internal sealed record TextDocument(string Label, string Text, string? Pair, string? Id = null);

/// <summary>Shared plumbing of the text commands: inputs, options, progress and output.</summary>
internal sealed class TextCommandContext
{
    public required BigBirdCli.Options Options { get; init; }
    public required TextWriter Stdout { get; init; }
    public required TextWriter Stderr { get; init; }
    public required Stream Stdin { get; init; }
    public required bool StdinRedirected { get; init; }
    public required bool Interactive { get; init; }

    public bool Quiet => Options.Flag("--quiet");
    public bool Json => Options.Flag("--json");
    public bool Strict => Options.Flag("--strict");
    public OverlongInput Overlong => Options.Flag("--no-truncate") ? OverlongInput.Reject : OverlongInput.Truncate;

    /// <summary>Options every text command takes.</summary>
    public static readonly string[] CommonOptions =
        ["TEXT", "--model", "--text", "--input", "--jsonl", "--quiet", "--json", "--no-truncate", "--strict", "--attention-type", "--random-attention"];

    public BigBirdForwardOptions ForwardOptions() => new()
    {
        AttentionType = Options.Get("--attention-type") switch
        {
            null => null,
            "original_full" => Configuration.AttentionType.OriginalFull,
            "block_sparse" => Configuration.AttentionType.BlockSparse,
            var v => throw new BigBirdCli.UsageException($"--attention-type must be original_full or block_sparse, not '{v}'"),
        },
        RandomAttention = (Options.Get("--random-attention") ?? "deterministic") switch
        {
            "deterministic" => RandomAttention.RandomAttentionSemantics.Deterministic,
            "seeded" => RandomAttention.RandomAttentionSemantics.Seeded,
            var v => throw new BigBirdCli.UsageException($"--random-attention must be deterministic or seeded, not '{v}'"),
        },
    };

    /// <summary>Load-time settings: weight warnings go to stderr, and --strict refuses non-finite weights.</summary>
    public BigBirdModelOptions ModelOptions() => new() { Warning = Warn, RejectNonFiniteWeights = Strict };

    public void Info(string line)
    {
        if (!Quiet) Stderr.WriteLine(line);
    }

    public void Warn(string line) => Stderr.WriteLine($"warning: {line}");

    /// <summary>Loads something with a "loading …" line and its time.</summary>
    public T Load<T>(string what, Func<T> load)
    {
        if (!Quiet) Stderr.Write($"loading {what} … ");
        var sw = Stopwatch.StartNew();
        try
        {
            T result;
            if (Interactive && !Quiet)
            {
                // a ticking clock while a large checkpoint loads
                var task = Task.Run(load);
                // wait without Task.Wait, which would wrap the loader's typed exception in an AggregateException
                while (!((IAsyncResult)task).AsyncWaitHandle.WaitOne(250))
                    Stderr.Write($"\rloading {what} … {sw.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s");
                result = task.GetAwaiter().GetResult();
                Stderr.Write($"\rloading {what} … ");
            }
            else result = load();
            if (!Quiet) Stderr.WriteLine($"{sw.Elapsed.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture)} s");
            return result;
        }
        catch
        {
            if (!Quiet) Stderr.WriteLine("failed");
            throw;
        }
    }

    /// <summary>
    /// The documents: each positional argument, <c>--text</c>, or <c>--input FILE</c> (<c>-</c> for stdin; the whole file
    /// is one document unless it ends in <c>.jsonl</c> or <c>--jsonl</c> is given, when each non-blank line is a JSON
    /// object with <paramref name="textKey"/> and optionally <paramref name="pairKey"/>). With none of these, stdin when
    /// it is redirected. <paramref name="pairKey"/> is required on JSONL lines when <paramref name="pairRequired"/>.
    /// A plain-text file or stdin is read only as far as the model can take: <paramref name="maxPositions"/> (called only
    /// then) gives the model's max_position_embeddings, and reading stops after
    /// <see cref="PipelineEncoding.MaxCharactersPerToken"/> characters per position (null: read it all, as qa does).
    /// </summary>
    public IReadOnlyList<TextDocument> ReadDocuments(string textKey, string? pairKey, bool pairRequired, string? pairFromOption,
                                                     Func<int>? maxPositions)
    {
        var docs = new List<TextDocument>();
        foreach (var (p, i) in Options.Positionals.Select((p, i) => (p, i)))
            docs.Add(new TextDocument($"argument {i + 1}", p, pairFromOption));
        if (Options.Get("--text") is { } text) docs.Add(new TextDocument("--text", text, pairFromOption));
        string? input = Options.Get("--input");
        bool jsonl = Options.Flag("--jsonl") || input?.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) == true;
        if (jsonl && input is null) throw new BigBirdCli.UsageException("--jsonl goes with --input FILE (or --input - for stdin)");
        if (input is not null)
        {
            string source = input == "-" ? "stdin" : input;
            if (jsonl) docs.AddRange(ParseJsonl(source, ReadSource(input, source, null).Text, textKey, pairKey, pairRequired, pairFromOption));
            else docs.Add(new TextDocument(source, ReadSource(input, source, maxPositions).Text, pairFromOption));
        }
        if (docs.Count == 0)
        {
            if (!StdinRedirected)
                throw new BigBirdCli.UsageException("give the text as an argument, with --text TEXT, with --input FILE (.jsonl for a batch), or on stdin");
            docs.Add(new TextDocument("stdin", ReadSource("-", "stdin", maxPositions).Text, pairFromOption));
        }
        if (pairRequired && pairFromOption is null && !jsonl)
            throw new BigBirdCli.UsageException($"this command needs --{pairKey} (or a JSONL --input whose lines have \"{textKey}\" and \"{pairKey}\")");
        // checked before any model is loaded
        foreach (var doc in docs)
        {
            if (pairRequired && doc.Pair is null)
                throw new BigBirdCli.UsageException($"{doc.Label} has no {pairKey}; give --{pairKey}, or put \"{pairKey}\" on every JSONL line");
            if (string.IsNullOrWhiteSpace(doc.Text))
                throw new BigBirdInputException($"{doc.Label}: the {textKey} is empty; give some text.");
            if (doc.Pair is not null && string.IsNullOrWhiteSpace(doc.Pair))
                throw new BigBirdInputException($"{doc.Label}: the {pairKey} is empty; give some text.");
        }
        return docs;
    }

    /// <summary>Reads a file (a regular one: see <see cref="CliInput.CheckRegularFile"/>) or stdin as UTF-8, as far as
    /// <paramref name="maxPositions"/> allows, saying what was left unread.</summary>
    private Utf8Text ReadSource(string input, string source, Func<int>? maxPositions)
    {
        int positions = maxPositions?.Invoke() ?? 0;
        long maxChars = maxPositions is null ? Utf8Text.MaxWholeChars : (long)positions * PipelineEncoding.MaxCharactersPerToken;
        Utf8Text result;
        if (input == "-") result = Utf8Text.Read(Stdin, source, maxChars, Strict, Warn);
        else
        {
            if (Directory.Exists(input)) throw new BigBirdInputException($"{input} is a folder; --input takes a text or .jsonl file.");
            if (!File.Exists(input)) throw new BigBirdInputException($"{input}: file not found. Check the path, or give the text itself with --text.");
            using var stream = CliInput.OpenRegularFile(input, "--input");
            result = Utf8Text.Read(stream, source, maxChars, Strict, Warn);
        }
        if (!result.Complete && maxPositions is null)
            throw Utf8Text.TooLarge(source);
        if (!result.Complete)
        {
            string rest = result.BytesDropped is long dropped ? $"the remaining {dropped} bytes were dropped unread" : "the rest was not read";
            if (Overlong == OverlongInput.Reject)
                throw new BigBirdInputException(
                    $"{source} is longer than {maxChars} characters, more than the model's max_position_embeddings ({positions} tokens) can take; " +
                    "shorten it, or allow truncation (drop --no-truncate).");
            Warn($"{source}: read the first {result.Text.Length} characters ({result.BytesRead} bytes), more than the model's " +
                 $"max_position_embeddings ({positions} tokens) can take; {rest}. Pass --no-truncate to refuse over-long input instead.");
        }
        return result;
    }

    private IEnumerable<TextDocument> ParseJsonl(string source, string content, string textKey, string? pairKey, bool pairRequired, string? pairFromOption)
    {
        int number = 0;
        var docs = new List<TextDocument>();
        foreach (var raw in content.Split('\n'))
        {
            number++;
            string line = raw.TrimEnd('\r');
            if (string.IsNullOrWhiteSpace(line)) continue;
            string where = $"{source}:{number}";
            JsonElement root;
            try
            {
                using var doc = JsonDocument.Parse(line);
                root = doc.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new BigBirdInputException($"{where}: not valid JSON ({e.Message}); each line holds one object like {{\"{textKey}\": \"...\"}}.");
            }
            if (root.ValueKind != JsonValueKind.Object)
                throw new BigBirdInputException($"{where}: expected a JSON object like {{\"{textKey}\": \"...\"}}.");
            foreach (var prop in root.EnumerateObject())
            {
                string name;
                try
                {
                    name = prop.Name;
                }
                catch (InvalidOperationException)
                {
                    throw new BigBirdInputException($"{where}: a key holds a lone surrogate escape (such as \\ud800), which is not Unicode text; " +
                                                    $"lines hold \"{textKey}\"{(pairKey is null ? "" : $", \"{pairKey}\"")} and optionally \"id\".");
                }
                if (name != textKey && name != pairKey && name != "id")
                    throw new BigBirdInputException($"{where}: unknown key \"{name}\"; lines hold \"{textKey}\"{(pairKey is null ? "" : $", \"{pairKey}\"")} and optionally \"id\".");
            }
            string text = root.TryGetProperty(textKey, out var t) && t.ValueKind == JsonValueKind.String
                ? JsonText.GetString(t, line, where, textKey, Strict, Warn)
                : throw new BigBirdInputException($"{where}: \"{textKey}\" must be a string.");
            string? pair = pairFromOption;
            if (pairKey is not null && root.TryGetProperty(pairKey, out var p) && p.ValueKind != JsonValueKind.Null)
                pair = p.ValueKind == JsonValueKind.String ? JsonText.GetString(p, line, where, pairKey, Strict, Warn)
                                                           : throw new BigBirdInputException($"{where}: \"{pairKey}\" must be a string.");
            if (pairRequired && pair is null)
                throw new BigBirdInputException($"{where}: \"{pairKey}\" is missing; give it on each line or with --{pairKey}.");
            string? id = root.TryGetProperty("id", out var idValue) ? idValue.GetRawText() : null;
            docs.Add(new TextDocument(id is null ? where : $"{where} (id {id})", text, pair, id));
        }
        if (docs.Count == 0) throw new BigBirdInputException($"{source} has no lines; write one JSON object per line.");
        return docs;
    }

    /// <summary>Runs <paramref name="process"/> over every document, with a progress bar (tokens/s) on an interactive
    /// stderr and a summary line at the end. <paramref name="process"/> returns the tokens it ran.</summary>
    public void ForEach(IReadOnlyList<TextDocument> docs, Func<TextDocument, int> process)
    {
        var sw = Stopwatch.StartNew();
        long tokens = 0;
        bool bar = Interactive && !Quiet && docs.Count > 1;
        for (int i = 0; i < docs.Count; i++)
        {
            try
            {
                tokens += process(docs[i]);
            }
            catch (BigBirdInputException e) when (docs.Count > 1)
            {
                if (bar) Stderr.WriteLine();
                throw new BigBirdInputException($"{docs[i].Label}: {e.Message}");
            }
            if (bar) Stderr.Write($"\r{Bar(i + 1, docs.Count)} {i + 1}/{docs.Count} documents, {Rate(tokens, sw.Elapsed)}   ");
        }
        if (bar) Stderr.WriteLine();
        Info($"{docs.Count} document{(docs.Count == 1 ? "" : "s")}, {tokens} tokens in " +
             $"{sw.Elapsed.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture)} s ({Rate(tokens, sw.Elapsed)})");
    }

    private static string Bar(int done, int total)
    {
        const int width = 24;
        int filled = (int)((long)done * width / total);
        return "[" + new string('#', filled) + new string('.', width - filled) + "]";
    }

    private static string Rate(long tokens, TimeSpan elapsed) =>
        $"{(tokens / Math.Max(elapsed.TotalSeconds, 1e-9)).ToString("#,0", CultureInfo.InvariantCulture)} tokens/s";

    /// <summary>Warns when <paramref name="input"/> was cut to fit the model.</summary>
    public void WarnTruncated(TextDocument doc, PipelineEncoding input, int maxPositions)
    {
        if (!input.Truncated) return;
        string dropped = input.DroppedCharacters > 0
            ? $" (the last {input.DroppedCharacters} characters were never tokenized: the first ones already gave more tokens than the model takes)"
            : "";
        Warn($"{doc.Label}: {input.OriginalLength} tokens{dropped}, truncated to {input.Length} (the model's max_position_embeddings is {maxPositions}); " +
             "pass --no-truncate to refuse over-long input instead.");
    }

    /// <summary>Warns when the model's output for <paramref name="doc"/> holds NaN or ±Inf (<paramref name="count"/> of them);
    /// <paramref name="what"/> is plural ("scores").</summary>
    public void WarnNonFinite(TextDocument doc, int count, string what)
    {
        if (count == 0) return;
        Warn($"{doc.Label}: the {what} hold {count} non-finite value{(count == 1 ? "" : "s")} (NaN or ±Inf)" +
             $"{(Json ? ", written as null" : ", shown as nan")}; the checkpoint's weights (see any load warning) or the input are at fault.");
    }

    /// <summary>How many of <paramref name="values"/> are NaN or ±Inf.</summary>
    public static int NonFinite(IEnumerable<float> values) => values.Count(x => !float.IsFinite(x));

    /// <summary>Writes <paramref name="x"/>, or null when it is NaN or ±Inf (which JSON cannot hold).</summary>
    public static void Number(Utf8JsonWriter w, string name, float x)
    {
        if (float.IsFinite(x)) w.WriteNumber(name, x);
        else w.WriteNull(name);
    }

    /// <summary>Writes <paramref name="x"/> as an array element, or null when it is NaN or ±Inf.</summary>
    public static void NumberValue(Utf8JsonWriter w, float x)
    {
        if (float.IsFinite(x)) w.WriteNumberValue(x);
        else w.WriteNullValue();
    }

    /// <summary>Writes one JSON line to stdout for <paramref name="doc"/>, starting with its JSONL <c>id</c> when it has one.</summary>
    public void WriteJson(TextDocument doc, Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            if (doc.Id is not null)
            {
                w.WritePropertyName("id");
                w.WriteRawValue(doc.Id);
            }
            write(w);
            w.WriteEndObject();
        }
        Stdout.WriteLine(Encoding.UTF8.GetString(buffer.ToArray()));
    }

    public static string F(float x, string format = "0.0000") =>
        float.IsNaN(x) ? "nan" : float.IsPositiveInfinity(x) ? "inf" : float.IsNegativeInfinity(x) ? "-inf" : x.ToString(format, CultureInfo.InvariantCulture);
}
