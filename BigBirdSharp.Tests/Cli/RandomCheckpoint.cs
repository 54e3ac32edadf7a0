using System.Text.Json;
using BigBirdSharp.Serialization;

namespace BigBirdSharp.Tests.Cli;

/// <summary>Writes a checkpoint folder with random weights beside a real tokenizer: for the text commands on
/// shapes no fixture has (long positions, a large vocabulary, task heads with chosen problem types).</summary>
internal static class RandomCheckpoint
{
    /// <summary>Writes config.json (HF defaults overridden by <paramref name="overrides"/>), model.safetensors with
    /// every tensor of the encoder, pooler and LM head (and the classification and QA heads when
    /// <paramref name="withTaskHeads"/>), and copies the tokenizer files of <paramref name="tokenizerDir"/>.
    /// <paramref name="tamper"/> may change each tensor's values (by name) before they are written.</summary>
    public static void Write(string dir, string tokenizerDir, IReadOnlyDictionary<string, object> overrides, bool withTaskHeads, int seed,
                             bool withPooler = true, Action<string, float[]>? tamper = null)
    {
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.GetFiles(tokenizerDir))
            if (Path.GetFileName(f) is "spiece.model" or "special_tokens_map.json" or "tokenizer_config.json")
                File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        var config = new Dictionary<string, object>
        {
            ["model_type"] = "big_bird", ["hidden_act"] = "gelu_new", ["type_vocab_size"] = 2, ["layer_norm_eps"] = 1e-12,
            ["pad_token_id"] = 0, ["bos_token_id"] = 1, ["eos_token_id"] = 2, ["use_bias"] = true,
        };
        foreach (var (k, v) in overrides) config[k] = v;
        File.WriteAllText(Path.Combine(dir, "config.json"), JsonSerializer.Serialize(config));
        int hidden = Convert.ToInt32(config["hidden_size"]), intermediate = Convert.ToInt32(config["intermediate_size"]);
        int vocab = Convert.ToInt32(config["vocab_size"]), positions = Convert.ToInt32(config["max_position_embeddings"]);
        int layers = Convert.ToInt32(config["num_hidden_layers"]);
        int labels = config.TryGetValue("id2label", out var id2label) ? ((IDictionary<string, string>)id2label).Count
                   : config.TryGetValue("num_labels", out var n) ? Convert.ToInt32(n) : 2;

        var rng = new Random(seed);
        var entries = new List<SafeTensorsWriter.Entry>();
        void Add(string name, params int[] shape)
        {
            int count = shape.Aggregate(1, (a, b) => a * b);
            var data = new float[count];
            bool gain = name.EndsWith("LayerNorm.weight", StringComparison.Ordinal);
            for (int i = 0; i < count; i++) data[i] = gain ? 1f + 0.1f * Gaussian(rng) : 0.05f * Gaussian(rng);
            tamper?.Invoke(name, data);
            entries.Add(new SafeTensorsWriter.Entry(name, shape, data));
        }
        void AddLinear(string name, int outF, int inF) { Add(name + ".weight", outF, inF); Add(name + ".bias", outF); }
        void AddNorm(string name) { Add(name + ".weight", hidden); Add(name + ".bias", hidden); }
        Add("bert.embeddings.word_embeddings.weight", vocab, hidden);
        Add("bert.embeddings.position_embeddings.weight", positions, hidden);
        Add("bert.embeddings.token_type_embeddings.weight", 2, hidden);
        AddNorm("bert.embeddings.LayerNorm");
        for (int l = 0; l < layers; l++)
        {
            string p = $"bert.encoder.layer.{l}.";
            foreach (var qkv in new[] { "query", "key", "value" }) AddLinear(p + "attention.self." + qkv, hidden, hidden);
            AddLinear(p + "attention.output.dense", hidden, hidden);
            AddNorm(p + "attention.output.LayerNorm");
            AddLinear(p + "intermediate.dense", intermediate, hidden);
            AddLinear(p + "output.dense", hidden, intermediate);
            AddNorm(p + "output.LayerNorm");
        }
        if (withPooler) AddLinear("bert.pooler", hidden, hidden);
        AddLinear("cls.predictions.transform.dense", hidden, hidden);
        AddNorm("cls.predictions.transform.LayerNorm");
        Add("cls.predictions.bias", vocab);
        if (withTaskHeads)
        {
            AddLinear("classifier.dense", hidden, hidden);
            AddLinear("classifier.out_proj", labels, hidden);
            AddLinear("qa_classifier.intermediate.dense", intermediate, hidden);
            AddLinear("qa_classifier.output.dense", hidden, intermediate);
            AddNorm("qa_classifier.output.LayerNorm");
            AddLinear("qa_classifier.qa_outputs", 2, hidden);
        }
        SafeTensorsWriter.Write(Path.Combine(dir, "model.safetensors"), entries);
    }

    /// <summary>A standard normal draw (Box–Muller).</summary>
    internal static float Gaussian(Random rng) =>
        (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
}
