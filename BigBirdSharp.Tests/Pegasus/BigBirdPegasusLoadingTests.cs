using BigBirdSharp.IO;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Modeling.Pegasus;
using BigBirdSharp.Serialization;

namespace BigBirdSharp.Tests.Pegasus;

/// <summary>Loading errors, input errors, cancellation and disposal of the BigBirdPegasus classes.</summary>
public sealed class BigBirdPegasusLoadingTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "bbp-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    /// <summary>A copy of fixture model cg_full whose safetensors lacks <paramref name="drop"/> (or has it re-shaped).</summary>
    private string CopyWithout(string drop, bool reshape = false)
    {
        Directory.CreateDirectory(_dir);
        string source = PegasusFixture.ModelDir("cg_full");
        File.Copy(Path.Combine(source, "config.json"), Path.Combine(_dir, "config.json"));
        var entries = new List<SafeTensorsWriter.Entry>();
        using (var reader = CheckpointLoader.Open(source))
        {
            foreach (var name in reader.Names)
            {
                reader.TryGetInfo(name, out var info);
                var shape = info.Shape.Select(d => (int)d).ToArray();
                var data = reader.ReadFloat32(name).ToArray();
                if (name == drop && !reshape) continue;
                if (name == drop) shape = [shape.Aggregate(1, (a, b) => a * b)];
                entries.Add(new SafeTensorsWriter.Entry(name, shape, data));
            }
        }
        SafeTensorsWriter.Write(Path.Combine(_dir, "model.safetensors"), entries);
        return _dir;
    }

    [Theory]
    [InlineData("model.decoder.layers.1.encoder_attn.k_proj.weight")]
    [InlineData("model.encoder.layers.0.self_attn.self.query.weight")]
    [InlineData("model.decoder.layernorm_embedding.bias")]
    [InlineData("lm_head.weight")]
    public void MissingTensorNamesFileAndTensor(string tensor)
    {
        string dir = CopyWithout(tensor);
        var e = Assert.Throws<TensorMismatchException>(() => BigBirdPegasusForConditionalGeneration.FromPretrained(dir));
        Assert.Equal(tensor, e.TensorName);
        Assert.Contains($"'{tensor}'", e.Message);
        Assert.Contains(Path.Combine(dir, "model.safetensors"), e.Message);
    }

    [Fact]
    public void MisshapenTensorNamesFileTensorAndShapes()
    {
        const string tensor = "model.encoder.layers.0.fc1.weight";
        string dir = CopyWithout(tensor, reshape: true);
        var e = Assert.Throws<TensorMismatchException>(() => BigBirdPegasusForConditionalGeneration.FromPretrained(dir));
        Assert.Equal(tensor, e.TensorName);
        Assert.Contains("[1536]", e.Message);
        Assert.Contains("[48, 32]", e.Message);
        Assert.Contains(Path.Combine(dir, "model.safetensors"), e.Message);
    }

    [Fact]
    public void AFolderWithoutTheTiedCopiesAndTheBiasBufferLoadsAsHFLoadsIt()
    {
        // HF's _keys_to_ignore_on_load_missing lets a checkpoint lack final_logits_bias, lm_head.weight and the encoder's and
        // decoder's embed_tokens: the bias is then zeros and the others are tied to model.shared
        var c = PegasusFixture.Load("cg_bs_decoder_ids");
        Directory.CreateDirectory(_dir);
        File.Copy(Path.Combine(c.ModelPath, "config.json"), Path.Combine(_dir, "config.json"));
        string[] dropped = ["final_logits_bias", "lm_head.weight", "model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight"];
        var entries = new List<SafeTensorsWriter.Entry>();
        float[] bias = [];
        using (var reader = CheckpointLoader.Open(c.ModelPath))
        {
            foreach (var name in reader.Names)
            {
                reader.TryGetInfo(name, out var info);
                if (name == "final_logits_bias") bias = reader.ReadFloat32(name).ToArray();
                if (dropped.Contains(name)) continue;
                entries.Add(new SafeTensorsWriter.Entry(name, info!.Shape.Select(d => (int)d).ToArray(), reader.ReadFloat32(name).ToArray()));
            }
        }
        Assert.Equal(120, bias.Length);
        SafeTensorsWriter.Write(Path.Combine(_dir, "model.safetensors"), entries);
        using var model = BigBirdPegasusForConditionalGeneration.FromPretrained(_dir);
        Assert.Equal(new float[120], model.FinalLogitsBias.ToArray());
        var logits = model.Forward(c.Inputs(), c.Options).Logits.Data;
        // PyTorch's logits include the checkpoint's bias; ours, loaded without it, plus that bias must match them
        for (int i = 0; i < logits.Length; i++) logits[i] += bias[i % 120];
        Tolerance.AssertAllClose(logits, c.Expected("logits"), "logits without final_logits_bias, plus it");
    }

    [Fact]
    public void ACheckpointOfAnotherModelIsRefused()
    {
        Directory.CreateDirectory(_dir);
        File.Copy(Path.Combine(PegasusFixture.ModelDir("cg_full"), "config.json"), Path.Combine(_dir, "config.json"));
        SafeTensorsWriter.Write(Path.Combine(_dir, "model.safetensors"), [new SafeTensorsWriter.Entry("embeddings.word_embeddings.weight", [2, 2], new float[4])]);
        var e = Assert.Throws<TensorMismatchException>(() => BigBirdPegasusModel.FromPretrained(_dir));
        Assert.Contains("embeddings.word_embeddings.weight", e.Message);
        Assert.Contains("not a BigBirdPegasus checkpoint", e.Message);
    }

    [Fact]
    public void MissingFolderIsRefused()
    {
        var e = Assert.Throws<BigBirdException>(() => BigBirdPegasusForConditionalGeneration.FromPretrained(_dir));
        Assert.Contains(_dir, e.Message);
    }

    [Fact]
    public void BareModelLoadsTheModelPartOfAConditionalGenerationCheckpoint()
    {
        var c = PegasusFixture.Load("cg_bs_decoder_ids");
        using var bare = BigBirdPegasusModel.FromPretrained(c.ModelPath);
        var output = bare.Forward(c.Inputs(), c.Options);
        Tolerance.AssertAllClose(output.LastHiddenState.Data, c.Expected("decoder_last_hidden_state"), "decoder_last_hidden_state");
    }

    private static readonly Lazy<BigBirdPegasusForConditionalGeneration> Model =
        new(() => BigBirdPegasusForConditionalGeneration.FromPretrained(PegasusFixture.ModelDir("cg_full")));

    private static BigBirdPegasusInputs Document(int batch = 1, int seq = 10) =>
        new(batch, seq) { InputIds = Enumerable.Range(0, batch * seq).Select(i => 3 + i % 50).ToArray() };

    public static TheoryData<string, string> BadInputs() => new()
    {
        { "no-decoder", "decoder_input_ids or labels" },
        { "id-out-of-vocab", "input_ids[3] = 120" },
        { "decoder-id-negative", "decoder_input_ids[0] = -1" },
        { "mask-value", "attention_mask holds 2" },
        { "mask-length", "attention_mask has 9 values" },
        { "labels-out-of-vocab", "labels[1] = 500" },
        { "too-long", "max_position_embeddings" },
        { "both-encoder-inputs", "exactly one of input_ids and encoder_outputs" },
        { "cache-batch", "past_key_values holds 2 rows" },
        { "cache-full", "too few for 2 more" },
        { "decoder-mask-length", "decoder_attention_mask has 1 values" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void BadInputIsRefusedWithATypedError(string which, string expected)
    {
        var m = Model.Value;
        var doc = Document();
        BigBirdPegasusInputs inputs = which switch
        {
            "no-decoder" => doc,
            "id-out-of-vocab" => new(1, 10) { InputIds = doc.InputIds!.Select((v, i) => i == 3 ? 120 : v).ToArray(), DecoderInputIds = [3], DecoderSequenceLength = 1 },
            "decoder-id-negative" => new(1, 10) { InputIds = doc.InputIds, DecoderInputIds = [-1], DecoderSequenceLength = 1 },
            "mask-value" => new(1, 10) { InputIds = doc.InputIds, AttentionMask = [1, 1, 2, 1, 1, 1, 1, 1, 1, 1], DecoderInputIds = [3], DecoderSequenceLength = 1 },
            "mask-length" => new(1, 10) { InputIds = doc.InputIds, AttentionMask = new int[9], DecoderInputIds = [3], DecoderSequenceLength = 1 },
            "labels-out-of-vocab" => new(1, 10) { InputIds = doc.InputIds, Labels = [4, 500] },
            "too-long" => new(1, 600) { InputIds = new int[600], DecoderInputIds = [3], DecoderSequenceLength = 1 },
            "both-encoder-inputs" => new(1, 10) { InputIds = doc.InputIds, EncoderOutputs = new float[320], DecoderInputIds = [3], DecoderSequenceLength = 1 },
            "cache-batch" => new(1, 10)
            {
                InputIds = doc.InputIds, DecoderInputIds = [3], DecoderSequenceLength = 1,
                PastKeyValues = new BigBirdPegasusKeyValueCache(m.Config, 2, 4, m.Model.Backend),
            },
            "cache-full" => new(1, 10)
            {
                InputIds = doc.InputIds, DecoderInputIds = [3, 4], DecoderSequenceLength = 2,
                PastKeyValues = new BigBirdPegasusKeyValueCache(m.Config, 1, 1, m.Model.Backend),
            },
            "decoder-mask-length" => new(1, 10) { InputIds = doc.InputIds, DecoderInputIds = [3, 4], DecoderSequenceLength = 2, DecoderAttentionMask = [1] },
            _ => throw new ArgumentOutOfRangeException(nameof(which)),
        };
        var e = Assert.Throws<BigBirdInputException>(() => m.Forward(inputs));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void CacheBeyondMaxPositionsIsRefused()
    {
        var e = Assert.Throws<BigBirdInputException>(() => new BigBirdPegasusKeyValueCache(Model.Value.Config, 1, 513));
        Assert.Contains("max_position_embeddings 512", e.Message);
    }

    [Fact]
    public void GenerateRefusesDecoderInputsAndTooManyTokens()
    {
        var m = Model.Value;
        var withDecoder = new BigBirdPegasusInputs(1, 10) { InputIds = Document().InputIds, DecoderInputIds = [3], DecoderSequenceLength = 1 };
        Assert.Contains("makes its own decoder inputs",
                        Assert.Throws<BigBirdInputException>(() => m.Generate(withDecoder, new GenerationConfig())).Message);
        Assert.Contains("max_position_embeddings 512",
                        Assert.Throws<BigBirdInputException>(() => m.Generate(Document(), new GenerationConfig { MaxNewTokens = 512 })).Message);
        Assert.Contains("max_new_tokens",
                        Assert.Throws<BigBirdInputException>(() => m.Generate(Document(), new GenerationConfig { MaxNewTokens = -1 })).Message);
    }

    [Fact]
    public void EncoderOutputsSkipTheEncoder()
    {
        var m = Model.Value;
        var doc = Document(2, 17);
        var first = m.Forward(new BigBirdPegasusInputs(2, 17) { InputIds = doc.InputIds, DecoderInputIds = [3, 4, 5, 6], DecoderSequenceLength = 2 });
        var second = m.Forward(new BigBirdPegasusInputs(2, 17)
        {
            EncoderOutputs = first.EncoderLastHiddenState.Data, DecoderInputIds = [3, 4, 5, 6], DecoderSequenceLength = 2,
        });
        Assert.Equal(first.Logits.Data, second.Logits.Data);
    }

    [Fact]
    public void CancelledCallsThrow()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var m = Model.Value;
        var inputs = new BigBirdPegasusInputs(1, 10) { InputIds = Document().InputIds, DecoderInputIds = [3], DecoderSequenceLength = 1 };
        Assert.ThrowsAny<OperationCanceledException>(() => m.Forward(inputs, null, cts.Token));
        Assert.ThrowsAny<OperationCanceledException>(() => m.Generate(Document(), new GenerationConfig(), null, cts.Token));
    }

    [Fact]
    public void ConcurrentCallsOnOneModelGiveTheSerialResults()
    {
        var c = PegasusFixture.Load("cg_bs_padbatch_labels");
        using var model = BigBirdPegasusForConditionalGeneration.FromPretrained(c.ModelPath);
        var serial = model.Forward(c.Inputs(), c.Options);
        var inputs = new BigBirdPegasusInputs(c.Batch, c.Seq) { InputIds = c.InputIds, AttentionMask = c.AttentionMask };
        var serialIds = model.Generate(inputs, new GenerationConfig { MaxNewTokens = 6 }, c.Options);
        var logits = new float[8][];
        var ids = new int[8][];
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            if (i % 2 == 0) logits[i] = model.Forward(c.Inputs(), c.Options).Logits.Data;
            else ids[i] = model.Generate(inputs, new GenerationConfig { MaxNewTokens = 6 }, c.Options);
        });
        for (int i = 0; i < 8; i++)
        {
            if (i % 2 == 0) Assert.Equal(serial.Logits.Data, logits[i]);
            else Assert.Equal(serialIds, ids[i]);
        }
    }

    [Fact]
    public void DisposedModelRefusesCalls()
    {
        var m = BigBirdPegasusForConditionalGeneration.FromPretrained(PegasusFixture.ModelDir("cg_full"));
        m.Dispose();
        var inputs = new BigBirdPegasusInputs(1, 10) { InputIds = Document().InputIds, DecoderInputIds = [3], DecoderSequenceLength = 1 };
        Assert.Throws<ObjectDisposedException>(() => m.Forward(inputs));
        Assert.Throws<ObjectDisposedException>(() => m.Generate(Document(), new GenerationConfig()));
    }
}
