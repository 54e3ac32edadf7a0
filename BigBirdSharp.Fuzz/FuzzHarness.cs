using BigBirdSharp.Cli;
using BigBirdSharp.Configuration;
using BigBirdSharp.IO;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Fuzz;

/// <summary>
/// The fuzz targets: each feeds one input file's bytes to the real loader or parser, the way a user's file reaches it,
/// and then uses what was loaded (every tensor read, the tokenizer run on a few texts). A <see cref="BigBirdException"/>
/// (the typed errors: CheckpointFormatException, BigBirdConfigException, TokenizerFormatException, ...) is the
/// expected answer to a bad file and is swallowed; any other exception escapes, and the driver counts it as a crash.
/// Shared by the SharpFuzz driver (Program.cs) and, as a linked file, by the test project's corpus replay.
/// </summary>
public sealed class FuzzHarness : IDisposable
{
    /// <summary>The targets, as named on the command line and as folders under fixtures/fuzz.</summary>
    public static readonly string[] Targets =
        ["safetensors", "sharded-index", "torch-bin", "spiece", "tokenizer-json", "config", "config-model", "run-inputs"];

    private static readonly string[] Texts =
    [
        "Hello world",
        "",
        "  The quick\tbrown fox\u00a0jumps [MASK] over <unk> </s> [SEP] the lazy dog.  ",
        "caf\u00e9 \u4e2d\u6587 \ud83d\ude00 \u0000 \u200b x\u0301",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbb",
        "lone \ud800 surrogate \udc00 end",
    ];

    private readonly string _work;
    private readonly string _shardTemplates;
    private readonly string _modelWeights;
    private ITensorReader? _weights;

    /// <summary>Creates a harness with its own scratch folder.</summary>
    /// <param name="fuzzFixtures">The repository's <c>fixtures/fuzz</c> folder (for the sharded target's shard files).</param>
    public FuzzHarness(string fuzzFixtures)
    {
        _work = Path.Combine(Path.GetTempPath(), $"bigbird-fuzz-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(_work);
        _shardTemplates = Path.Combine(fuzzFixtures, "sharded-index", "shards");
        _modelWeights = Path.Combine(fuzzFixtures, "config-model", "model.safetensors");
    }

    /// <summary>The typed error the last <see cref="Run"/> ended with, or null when the input loaded.</summary>
    public BigBirdException? LastTypedError { get; private set; }

    /// <summary>Runs one input through one target. Throws only what a correct library must never throw.</summary>
    public void Run(string target, byte[] data)
    {
        LastTypedError = null;
        try
        {
            switch (target)
            {
                case "safetensors": Checkpoint(Write("safetensors", "model.safetensors", data)); break;
                case "torch-bin": Checkpoint(Write("torch-bin", "pytorch_model.bin", data)); break;
                case "sharded-index": Sharded(data); break;
                case "spiece": Tokenizer(Path.GetDirectoryName(Write("spiece", "spiece.model", data))!); break;
                case "tokenizer-json": Tokenizer(Path.GetDirectoryName(Write("tokenizer-json", "tokenizer.json", data))!); break;
                case "config": Config(Write("config", "config.json", data)); break;
                case "config-model": ConfigModel(Write("config-model", "config.json", data)); break;
                case "run-inputs":
                {
                    // both readings of run's inputs, a BigBird head's and an encoder-decoder's: the file is valid when
                    // either takes it, and refused (with the encoder-decoder reading's error) when neither does
                    string path = Write("run-inputs", "inputs.json", data), text = RunInputs.ReadText(path);
                    BigBirdException? refused = null;
                    try
                    {
                        RunInputs.Parse(text, path);
                    }
                    catch (BigBirdException e)
                    {
                        refused = e;
                    }
                    try
                    {
                        RunInputs.ParseSeq2Seq(text, path);
                    }
                    catch (BigBirdException) when (refused is null)
                    {
                    }
                    break;
                }
                default: throw new ArgumentException($"unknown fuzz target '{target}'; targets: {string.Join(", ", Targets)}");
            }
        }
        catch (BigBirdException e)
        {
            // the typed answer to a bad file: what the product promises
            LastTypedError = e;
        }
    }

    private string Write(string folder, string name, byte[] data)
    {
        string dir = Path.Combine(_work, folder);
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, name);
        File.WriteAllBytes(path, data);
        return path;
    }

    /// <summary>Opens the checkpoint and reads every tensor, touching every element.</summary>
    private static void Checkpoint(string path)
    {
        using var reader = CheckpointLoader.Open(path);
        ReadAll(reader);
    }

    private static void ReadAll(ITensorReader reader)
    {
        foreach (var name in reader.Names.ToArray())
        {
            if (!reader.TryGetInfo(name, out var info))
                throw new InvalidOperationException($"Names lists '{name}' but TryGetInfo does not find it");
            _ = info.ShapeText;
            try
            {
                var view = reader.ReadFloat32(name);
                float sum = 0;
                foreach (float f in view.Span) sum += f;
                var copy = reader.ReadFloat32Copy(name);
                if (copy.Length != view.Length)
                    throw new InvalidOperationException($"'{name}': ReadFloat32 gave {view.Length} elements, ReadFloat32Copy {copy.Length}");
                if (info.ElementCount != view.Length)
                    throw new InvalidOperationException($"'{name}': shape {info.ShapeText} but {view.Length} elements were read");
            }
            catch (CheckpointFormatException)
            {
                // a dtype that cannot be read as float, or data that fails validation on read: typed
            }
        }
    }

    /// <summary>The index goes in a folder that holds a few small valid shards the seed indexes name.</summary>
    private void Sharded(byte[] data)
    {
        string dir = Path.Combine(_work, "sharded-index");
        if (!Directory.Exists(dir))
        {
            Directory.CreateDirectory(dir);
            if (Directory.Exists(_shardTemplates))
                foreach (var f in Directory.GetFiles(_shardTemplates))
                    File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        }
        // the first byte picks which index name the file gets; both go through the same reader
        string name = data.Length > 0 && (data[0] & 1) == 1 ? "pytorch_model.bin.index.json" : "model.safetensors.index.json";
        string path = Path.Combine(dir, name);
        File.WriteAllBytes(path, data);
        try
        {
            using var reader = CheckpointLoader.Open(path);
            ReadAll(reader);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>Loads the tokenizer folder and runs it: encode, batch encode with padding and truncation, decode.</summary>
    private static void Tokenizer(string folder)
    {
        var tok = BigBirdTokenizer.FromPretrained(folder);
        foreach (var text in Texts)
        {
            try
            {
                var tokens = tok.Tokenize(text);
                var enc = tok.Encode(text, "pair " + text);
                tok.Decode(enc.InputIds);
                tok.Decode(enc.InputIds, skipSpecialTokens: true);
                tok.ConvertIdsToTokens(enc.InputIds);
                tok.ConvertTokensToString(tokens);
            }
            catch (BigBirdException)
            {
                // e.g. text the tokenizer refuses: typed
            }
        }
        try
        {
            var batch = tok.EncodeBatch(Texts, null, new TokenizerEncodeOptions
            {
                Padding = PaddingStrategy.Longest, Truncation = TruncationStrategy.LongestFirst, MaxLength = 16,
            });
            foreach (var row in batch) tok.Decode(row.InputIds);
        }
        catch (BigBirdException)
        {
        }
    }

    private static void Config(string path)
    {
        var config = BigBirdConfig.FromFile(path);
        config.Validate(path);
        _ = config.AttentionHeadSize;
        _ = config.MaxTokensToAttend;
        _ = config.HiddenActKind;
        for (int i = 0; i < Math.Min(config.NumLabels, 4); i++) _ = config.LabelName(i);
    }

    /// <summary>A fuzzed config.json over fixed real weights (a 2-layer, 24-wide block-sparse model): the model is built
    /// and run on a short and a block-sparse-long sequence, so hostile sizes reach the size arithmetic of loading and of
    /// the forward pass.</summary>
    private void ConfigModel(string path)
    {
        var config = BigBirdConfig.FromFile(path);
        _weights ??= new SafeTensorsReader(_modelWeights);
        using var model = Modeling.BigBirdModel.FromReader(config, _weights);
        foreach (int length in (int[])[9, 100])
        {
            var ids = new int[length];
            for (int i = 0; i < length; i++) ids[i] = (int)((i * 7L + 3) % Math.Max(1, config.VocabSize));
            try
            {
                var output = model.Forward(Modeling.BigBirdInputs.FromIds([ids]));
                _ = output.LastHiddenState;
            }
            catch (BigBirdInputException)
            {
                // e.g. longer than max_position_embeddings: typed
            }
        }
    }

    /// <summary>Deletes the scratch folder.</summary>
    public void Dispose()
    {
        _weights?.Dispose();
        try { Directory.Delete(_work, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
