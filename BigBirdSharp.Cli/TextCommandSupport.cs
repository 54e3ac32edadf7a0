using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling;
using BigBirdSharp.Pipelines;
using BigBirdSharp.Tokenization;
using Spectre.Console;

namespace BigBirdSharp.Cli;

/// <summary>A checkpoint folder the text commands run on: the one given with <c>--model</c>, or the embedded default
/// model that the build copies next to the <c>bigbird</c> executable (<c>models/default</c>, and
/// <c>models/default-causal</c> for <c>generate</c>).</summary>
/// <param name="Directory">The folder.</param>
/// <param name="Description">One line saying plainly which model this is.</param>
/// <param name="IsDefault">True for the embedded default model.</param>
/// <param name="Config">Its config.json.</param>
internal sealed record ModelFolder(string Directory, string Description, bool IsDefault, BigBirdConfig Config)
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

/// <summary>One document of a text command: its text, optional second text or question, where it came from, its JSON
/// <c>id</c> (raw JSON) when it had one, and the error that keeps it from running when it could not be read.</summary>
internal sealed record TextDocument(string Label, string Text, string? Pair, string? Id = null, string? Error = null);

/// <summary>
/// Warnings (and notes) of one command, grouped: a warning given once prints as it was given (<c>warning: WHERE: …</c>);
/// one given for several documents prints once, with <c>×N</c> and where it happened. They are written when
/// <see cref="Flush"/> is called, never while the progress bar is drawn.
/// </summary>
internal sealed class WarningLog
{
    private sealed record Entry(string Prefix, string Group, List<(string? Where, string Message)> Items);

    private readonly List<Entry> _entries = [];
    private readonly Dictionary<(string, string), Entry> _byGroup = [];
    private readonly Lock _lock = new();

    /// <summary>Adds a message. <paramref name="where"/> names the document or file (null: none);
    /// <paramref name="group"/> is the text printed once for all messages of the same kind (null: the message itself,
    /// so only identical messages group).</summary>
    public void Add(string prefix, string? where, string message, string? group = null)
    {
        lock (_lock)
        {
            var key = (prefix, group ?? message);
            if (!_byGroup.TryGetValue(key, out var entry))
            {
                _byGroup[key] = entry = new Entry(prefix, group ?? message, []);
                _entries.Add(entry);
            }
            entry.Items.Add((where, message));
        }
    }

    /// <summary>Writes and forgets what was added.</summary>
    public void Flush(TextWriter writer)
    {
        Entry[] entries;
        lock (_lock)
        {
            entries = [.. _entries];
            _entries.Clear();
            _byGroup.Clear();
        }
        foreach (var e in entries)
        {
            if (e.Items.Count == 1)
            {
                var (where, message) = e.Items[0];
                writer.WriteLine(where is null ? $"{e.Prefix}{message}" : $"{e.Prefix}{where}: {message}");
                continue;
            }
            const int named = 5;
            var wheres = e.Items.Select(i => i.Where).OfType<string>().ToList();
            string list = wheres.Count == 0 ? ""
                : $" ({string.Join(", ", wheres.Take(named))}{(wheres.Count > named ? $" and {wheres.Count - named} more" : "")})";
            writer.WriteLine($"{e.Prefix}{e.Group} ×{e.Items.Count}{list}");
        }
    }
}

/// <summary>Shared plumbing of the text commands and tokenize: inputs and batches, options, warnings, progress and output.</summary>
internal sealed class TextCommandContext : IDisposable
{
    public required BigBirdCli.Options Options { get; init; }
    public required TextWriter Stdout { get; init; }
    public required TextWriter Stderr { get; init; }
    public required Stream Stdin { get; init; }
    public required bool StdinRedirected { get; init; }
    /// <summary>True when stderr is a terminal: the load clock and the progress bar are drawn only then.</summary>
    public required bool Interactive { get; init; }
    /// <summary>True when stdout is a terminal (then results on stdout show the progress, and there is no bar).</summary>
    public bool StdoutIsTerminal { get; init; }

    private readonly WarningLog _log = new();
    private TextWriter? _out;
    private bool _outIsFile;

    public bool Quiet => Options.Flag("--quiet");
    public bool Json => Options.Flag("--json");
    public bool Strict => Options.Flag("--strict");
    public bool FailFast => Options.Flag("--fail-fast");
    public OverlongInput Overlong => Options.Flag("--no-truncate") ? OverlongInput.Reject : OverlongInput.Truncate;

    /// <summary>True when the documents are a batch: a JSON batch, <c>--lines</c>, or more than one document. A document
    /// of a batch that fails gives an error record and the others still run.</summary>
    public bool IsBatch { get; private set; }

    /// <summary>True when the command writes <c>--output</c> itself (embed's matrix files); then <see cref="Out"/> is stdout.</summary>
    public bool CommandWritesOutput { get; set; }

    /// <summary>Where results go: <c>--output FILE</c> (created on first use), or stdout (no --output, or <c>-</c>).</summary>
    public TextWriter Out
    {
        get
        {
            if (_out is not null) return _out;
            string? output = Options.Get("--output");
            if (output is null or "-" || CommandWritesOutput) return _out = Stdout;
            if (Directory.Exists(output)) throw new BigBirdInputException($"{output} is a folder; --output takes a file (or - for standard output).");
            _outIsFile = true;
            return _out = new StreamWriter(output, append: false, new UTF8Encoding(false));
        }
    }

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

    /// <summary>Load-time settings: weight warnings are logged, and --strict refuses non-finite weights.</summary>
    public BigBirdModelOptions ModelOptions() => new() { Warning = Warn, RejectNonFiniteWeights = Strict, Backend = BigBirdCli.Backend(Options) };

    public void Info(string line)
    {
        if (!Quiet) Stderr.WriteLine(line);
    }

    /// <summary>A note about one document (shown unless <c>--quiet</c>), grouped like the warnings.</summary>
    public void Note(string where, string message, string group)
    {
        if (!Quiet) _log.Add("", where, message, group);
    }

    /// <summary>A warning, written with the others at the next <see cref="FlushWarnings"/>.</summary>
    public void Warn(string line) => _log.Add("warning: ", null, line);

    /// <summary>A warning about <paramref name="where"/>; <paramref name="group"/> is what prints once when several
    /// documents give it.</summary>
    public void Warn(string where, string message, string group) => _log.Add("warning: ", where, message, group);

    /// <summary>Writes the warnings logged so far, grouped.</summary>
    public void FlushWarnings() => _log.Flush(Stderr);

    public void Dispose()
    {
        if (_outIsFile) _out?.Dispose();
        else _out?.Flush();
        FlushWarnings();
    }

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
        finally
        {
            FlushWarnings(); // what the load warned about, after its line
        }
    }

    /// <summary>
    /// The documents: each positional argument, <c>--text</c>, and <c>--input FILE</c> (<c>-</c> for stdin). A file
    /// ending in <c>.jsonl</c>, <c>.ndjson</c> or <c>.json</c>, or any input with <c>--jsonl</c>, is a JSON batch: one
    /// JSON object per line, or one JSON array of objects (or strings), each with <paramref name="textKey"/>, optionally
    /// <paramref name="pairKey"/> and <c>id</c>. With <c>--lines</c> each non-blank line is a document. Without
    /// <c>--input</c>, a batch format or no text at all reads stdin when it is redirected.
    /// <paramref name="pairKey"/> is required on JSON documents when <paramref name="pairRequired"/>.
    /// A single plain-text file or stdin is read only as far as the model can take: <paramref name="maxPositions"/>
    /// (called only then) gives the model's max_position_embeddings, and reading stops after
    /// <see cref="PipelineEncoding.MaxCharactersPerToken"/> characters per position (null: read it all, as qa does).
    /// A document of a batch that cannot be read (bad JSON, a missing key, empty text unless <paramref name="allowEmpty"/>) carries its error and is reported
    /// when its turn comes; a single document's error is thrown here, before any model is loaded.
    /// </summary>
    public IReadOnlyList<TextDocument> ReadDocuments(string textKey, string? pairKey, bool pairRequired, string? pairFromOption,
                                                     Func<int>? maxPositions, bool allowEmpty = false)
    {
        var docs = new List<TextDocument>();
        foreach (var (p, i) in Options.Positionals.Select((p, i) => (p, i)))
            docs.Add(new TextDocument($"argument {i + 1}", p, pairFromOption));
        if (Options.Get("--text") is { } text) docs.Add(new TextDocument("--text", text, pairFromOption));
        string? input = Options.Input;
        bool lines = Options.Flag("--lines"), jsonFlag = Options.Flag("--jsonl");
        if (lines && jsonFlag) throw new BigBirdCli.UsageException("--lines and --jsonl are two batch formats; give one");
        bool json = !lines && (jsonFlag || input is not null && input != "-" && IsJsonBatchFile(input));
        if ((json || lines) && input is null)
        {
            if (!StdinRedirected)
                throw new BigBirdCli.UsageException($"{(lines ? "--lines" : "--jsonl")} goes with --input FILE (or --input - for stdin), or with text piped to stdin");
            input = "-";
        }
        if (input is not null)
        {
            string source = input == "-" ? "stdin" : input;
            if (json)
            {
                docs.AddRange(ParseJsonBatch(source, ReadSource(input, source, null).Text, textKey, pairKey, pairRequired, pairFromOption));
                IsBatch = true;
            }
            else if (lines)
            {
                docs.AddRange(ParseLines(source, ReadSource(input, source, null).Text, pairFromOption));
                IsBatch = true;
            }
            else docs.Add(new TextDocument(source, ReadSource(input, source, maxPositions).Text, pairFromOption));
        }
        if (docs.Count == 0)
        {
            if (!StdinRedirected)
                throw new BigBirdCli.UsageException("give the text as an argument, with --text TEXT, with --input FILE (.jsonl for a batch), or on stdin");
            docs.Add(new TextDocument("stdin", ReadSource("-", "stdin", maxPositions).Text, pairFromOption));
        }
        if (pairRequired && pairFromOption is null && !json)
            throw new BigBirdCli.UsageException($"this command needs --{pairKey} (or a JSON batch whose documents have \"{textKey}\" and \"{pairKey}\")");
        foreach (var doc in docs)
            if (pairRequired && doc.Pair is null && doc.Error is null)
                throw new BigBirdCli.UsageException($"{doc.Label} has no {pairKey}; give --{pairKey}, or put \"{pairKey}\" on every JSON document");
        IsBatch |= docs.Count > 1;
        // checked before any model is loaded
        for (int i = 0; i < docs.Count; i++)
        {
            var doc = docs[i];
            if (doc.Error is not null || allowEmpty) continue;
            string? error = string.IsNullOrWhiteSpace(doc.Text) ? $"the {textKey} is empty; give some text."
                : doc.Pair is not null && string.IsNullOrWhiteSpace(doc.Pair) ? $"the {pairKey} is empty; give some text."
                : null;
            if (error is not null) docs[i] = doc with { Error = error };
        }
        if (!IsBatch && docs[0].Error is { } only)
            throw new BigBirdInputException($"{docs[0].Label}: {only}");
        return docs;
    }

    private static bool IsJsonBatchFile(string path) =>
        path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".ndjson", StringComparison.OrdinalIgnoreCase) ||
        path.EndsWith(".json", StringComparison.OrdinalIgnoreCase);

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

    private static List<TextDocument> ParseLines(string source, string content, string? pairFromOption)
    {
        var docs = new List<TextDocument>();
        int number = 0;
        foreach (var raw in content.Split('\n'))
        {
            number++;
            string line = raw.TrimEnd('\r');
            if (!string.IsNullOrWhiteSpace(line)) docs.Add(new TextDocument($"{source}:{number}", line, pairFromOption));
        }
        if (docs.Count == 0) throw new BigBirdInputException($"{source} has no lines; --lines takes one document per line.");
        return docs;
    }

    private List<TextDocument> ParseJsonBatch(string source, string content, string textKey, string? pairKey, bool pairRequired, string? pairFromOption)
    {
        var docs = new List<TextDocument>();
        if (content.AsSpan().TrimStart().StartsWith("["))
        {
            // one JSON array: each element one document
            JsonElement array;
            try
            {
                using var doc = JsonDocument.Parse(content);
                array = doc.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new BigBirdInputException($"{source}: not a valid JSON array ({e.Message}); a JSON batch is one array of objects like " +
                                                $"{{\"{textKey}\": \"...\"}}, or one such object per line.");
            }
            int index = 0;
            foreach (var element in array.EnumerateArray())
            {
                string where = $"{source}[{index++}]";
                docs.Add(element.ValueKind == JsonValueKind.String && !pairRequired
                    ? Document(where, () => new TextDocument(where, JsonText.GetString(element, element.GetRawText(), where, textKey, Strict, Warn), pairFromOption), element)
                    : Document(where, () => FromJsonObject(element, element.GetRawText(), where, textKey, pairKey, pairRequired, pairFromOption), element));
            }
        }
        else if (SingleJsonObject(content) is { } single)
        {
            // one (pretty-printed) object: one document
            docs.Add(Document(source, () => FromJsonObject(single, content, source, textKey, pairKey, pairRequired, pairFromOption), single));
        }
        else
        {
            int number = 0;
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
                    docs.Add(new TextDocument(where, "", null, Error: $"not valid JSON ({e.Message}); each line holds one object like {{\"{textKey}\": \"...\"}}."));
                    continue;
                }
                docs.Add(Document(where, () => FromJsonObject(root, line, where, textKey, pairKey, pairRequired, pairFromOption), root));
            }
        }
        if (docs.Count == 0) throw new BigBirdInputException($"{source} has no documents; write one JSON object per line, or a JSON array of objects.");
        return docs;
    }

    /// <summary>The object <paramref name="content"/> holds when it is one JSON object over several lines (JSON lines
    /// hold one per line, and parsing stops at the second); null otherwise.</summary>
    private static JsonElement? SingleJsonObject(string content)
    {
        if (!content.AsSpan().Trim().ContainsAny('\n', '\r')) return null;
        try
        {
            using var doc = JsonDocument.Parse(content);
            return doc.RootElement.ValueKind == JsonValueKind.Object ? doc.RootElement.Clone() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The document <paramref name="read"/> makes, or one that carries its error (and its id, when it has one).</summary>
    private static TextDocument Document(string where, Func<TextDocument> read, JsonElement element)
    {
        try
        {
            return read();
        }
        catch (BigBirdInputException e)
        {
            string? id = element.ValueKind == JsonValueKind.Object && element.TryGetProperty("id", out var idValue) ? idValue.GetRawText() : null;
            // the record names the document already
            string message = e.Message.StartsWith(where + ": ", StringComparison.Ordinal) || e.Message.StartsWith(where + ", ", StringComparison.Ordinal)
                ? e.Message[(where.Length + 2)..] : e.Message;
            return new TextDocument(id is null ? where : $"{where} (id {id})", "", null, id, message);
        }
    }

    private TextDocument FromJsonObject(JsonElement root, string line, string where, string textKey, string? pairKey, bool pairRequired, string? pairFromOption)
    {
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
                                                $"documents hold \"{textKey}\"{(pairKey is null ? "" : $", \"{pairKey}\"")} and optionally \"id\".");
            }
            if (name != textKey && name != pairKey && name != "id")
                throw new BigBirdInputException($"{where}: unknown key \"{name}\"; documents hold \"{textKey}\"{(pairKey is null ? "" : $", \"{pairKey}\"")} and optionally \"id\".");
        }
        string text = root.TryGetProperty(textKey, out var t) && t.ValueKind == JsonValueKind.String
            ? JsonText.GetString(t, line, where, textKey, Strict, Warn)
            : throw new BigBirdInputException($"{where}: \"{textKey}\" must be a string.");
        string? pair = pairFromOption;
        if (pairKey is not null && root.TryGetProperty(pairKey, out var p) && p.ValueKind != JsonValueKind.Null)
            pair = p.ValueKind == JsonValueKind.String ? JsonText.GetString(p, line, where, pairKey, Strict, Warn)
                                                       : throw new BigBirdInputException($"{where}: \"{pairKey}\" must be a string.");
        if (pairRequired && pair is null)
            throw new BigBirdInputException($"{where}: \"{pairKey}\" is missing; give it on each document or with --{pairKey}.");
        string? id = root.TryGetProperty("id", out var idValue) ? idValue.GetRawText() : null;
        return new TextDocument(id is null ? where : $"{where} (id {id})", text, pair, id);
    }

    /// <summary>
    /// Runs <paramref name="process"/> over every document (it returns the tokens it ran) and returns the exit code. In a
    /// batch, a document that fails (or could not be read) gives an error record in the output (<see cref="WriteError"/>)
    /// and the others still run, unless <c>--fail-fast</c>; then the code is <see cref="BigBirdCli.SomeDocumentsFailed"/>.
    /// A single document's error is thrown. On an interactive stderr, with stdout not a terminal, a Spectre.Console
    /// progress bar (documents, tokens/s, time left) runs while the batch does; warnings wait until it is gone. A
    /// summary line ends the run. <paramref name="onError"/> writes the error record (null: <see cref="WriteError"/>).
    /// </summary>
    public int ForEach(IReadOnlyList<TextDocument> docs, Func<TextDocument, int> process, Action<TextDocument, string>? onError = null)
    {
        onError ??= WriteError;
        var sw = Stopwatch.StartNew();
        long tokens = 0;
        int failed = 0, done = 0;
        FlushWarnings();
        bool stdoutShows = StdoutIsTerminal && ReferenceEquals(Out, Stdout);
        bool bar = Interactive && !Quiet && IsBatch && docs.Count > 1 && !stdoutShows;

        bool Step(TextDocument doc)
        {
            done++;
            string? error = doc.Error;
            if (error is null)
            {
                try
                {
                    tokens += process(doc);
                    return true;
                }
                catch (BigBirdException e) when (IsBatch)
                {
                    error = e.Message;
                }
            }
            else if (!IsBatch) throw new BigBirdInputException($"{doc.Label}: {error}");
            failed++;
            onError(doc, error);
            return !FailFast;
        }

        if (bar)
        {
            var console = AnsiConsole.Create(new AnsiConsoleSettings
            {
                Ansi = AnsiSupport.Yes,
                ColorSystem = ColorSystemSupport.Detect,
                Interactive = InteractionSupport.Yes,
                Out = new AnsiConsoleOutput(Stderr),
            });
            console.Progress()
                .AutoClear(true)
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                         new RemainingTimeColumn(), new SpinnerColumn())
                .Start(progress =>
                {
                    var task = progress.AddTask($"0/{docs.Count} documents", maxValue: docs.Count);
                    foreach (var doc in docs)
                    {
                        bool go = Step(doc);
                        task.Increment(1);
                        task.Description = Markup.Escape($"{done}/{docs.Count} documents, {Rate(tokens, sw.Elapsed)}" +
                                                         (failed > 0 ? $", {failed} failed" : ""));
                        if (!go) break;
                    }
                });
        }
        else
        {
            foreach (var doc in docs)
                if (!Step(doc)) break;
        }
        Out.Flush();
        FlushWarnings();
        if (failed > 0 && FailFast && done < docs.Count)
            Stderr.WriteLine($"bigbird: stopped at the first failure (--fail-fast): {docs.Count - done} of {docs.Count} documents not run.");
        Info($"{done - failed} document{(done - failed == 1 ? "" : "s")}, {tokens} tokens in " +
             $"{sw.Elapsed.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture)} s ({Rate(tokens, sw.Elapsed)})" +
             (failed > 0 ? $"; {failed} failed (error records in the output)" : ""));
        return failed > 0 ? BigBirdCli.SomeDocumentsFailed : BigBirdCli.Ok;
    }

    /// <summary>The error record of a document that failed: with <c>--json</c> (and for tokenize) a JSON line
    /// <c>{"id": …, "source": …, "error": …}</c> (id null when the document had none), else <c>error: SOURCE: MESSAGE</c>.</summary>
    public void WriteError(TextDocument doc, string message)
    {
        if (Json || Options.Command == "tokenize") WriteErrorJson(Out, doc, message);
        else Out.WriteLine($"error: {doc.Label}: {OneLine(message)}");
    }

    /// <summary>The JSON error record of <paramref name="doc"/> on <paramref name="writer"/>.</summary>
    public static void WriteErrorJson(TextWriter writer, TextDocument doc, string message)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WritePropertyName("id");
            if (doc.Id is not null) w.WriteRawValue(doc.Id);
            else w.WriteNullValue();
            w.WriteString("source", doc.Label);
            w.WriteString("error", OneLine(message));
            w.WriteEndObject();
        }
        writer.WriteLine(Encoding.UTF8.GetString(buffer.ToArray()));
    }

    private static string OneLine(string message) =>
        string.Join(' ', message.Split((char[])['\r', '\n'], StringSplitOptions.RemoveEmptyEntries)).Trim();

    private static string Rate(long tokens, TimeSpan elapsed) =>
        $"{(tokens / Math.Max(elapsed.TotalSeconds, 1e-9)).ToString("#,0", CultureInfo.InvariantCulture)} tokens/s";

    /// <summary>Warns when <paramref name="input"/> was cut to fit the model.</summary>
    public void WarnTruncated(TextDocument doc, PipelineEncoding input, int maxPositions)
    {
        if (!input.Truncated) return;
        string dropped = input.DroppedCharacters > 0
            ? $" (the last {input.DroppedCharacters} characters were never tokenized: the first ones already gave more tokens than the model takes)"
            : "";
        Warn(doc.Label,
             $"{input.OriginalLength} tokens{dropped}, truncated to {input.Length} (the model's max_position_embeddings is {maxPositions}); " +
             "pass --no-truncate to refuse over-long input instead.",
             $"documents truncated to {input.Length} tokens (the model's max_position_embeddings is {maxPositions}); " +
             "pass --no-truncate to refuse over-long input instead.");
    }

    /// <summary>Warns when the model's output for <paramref name="doc"/> holds NaN or ±Inf (<paramref name="count"/> of them);
    /// <paramref name="what"/> is plural ("scores").</summary>
    public void WarnNonFinite(TextDocument doc, int count, string what)
    {
        if (count == 0) return;
        string tail = $"{(Json ? ", written as null" : ", shown as nan")}; the checkpoint's weights (see any load warning) or the input are at fault.";
        Warn(doc.Label, $"the {what} hold {count} non-finite value{(count == 1 ? "" : "s")} (NaN or ±Inf){tail}",
             $"the {what} hold non-finite values (NaN or ±Inf){tail}");
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

    /// <summary>Writes one JSON line to the output for <paramref name="doc"/>, starting with its JSON <c>id</c> when it has one.</summary>
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
        Out.WriteLine(Encoding.UTF8.GetString(buffer.ToArray()));
    }

    public static string F(float x, string format = "0.0000") =>
        float.IsNaN(x) ? "nan" : float.IsPositiveInfinity(x) ? "inf" : float.IsNegativeInfinity(x) ? "-inf" : x.ToString(format, CultureInfo.InvariantCulture);
}
