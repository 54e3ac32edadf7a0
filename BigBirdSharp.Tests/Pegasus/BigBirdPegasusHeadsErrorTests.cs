using BigBirdSharp.IO;
using BigBirdSharp.Modeling.Pegasus;
using BigBirdSharp.Serialization;

namespace BigBirdSharp.Tests.Pegasus;

/// <summary>Input errors, loading errors, cancellation and disposal of BigBirdPegasusForSequenceClassification,
/// BigBirdPegasusForQuestionAnswering and BigBirdPegasusForCausalLM.</summary>
public sealed class BigBirdPegasusHeadsErrorTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "bbph-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private static readonly Lazy<BigBirdPegasusForSequenceClassification> Classifier =
        new(() => BigBirdPegasusForSequenceClassification.FromPretrained(PegasusFixture.ModelDir("sc_bs")));
    private static readonly Lazy<BigBirdPegasusForSequenceClassification> Regressor =
        new(() => BigBirdPegasusForSequenceClassification.FromPretrained(PegasusFixture.ModelDir("sc_reg")));
    private static readonly Lazy<BigBirdPegasusForQuestionAnswering> Qa =
        new(() => BigBirdPegasusForQuestionAnswering.FromPretrained(PegasusFixture.ModelDir("qa_bs")));
    private static readonly Lazy<BigBirdPegasusForCausalLM> CausalLM =
        new(() => BigBirdPegasusForCausalLM.FromPretrained(PegasusFixture.ModelDir("clm")));

    /// <summary>batch rows of 12 tokens; row b ends with eosPerRow[b] eos tokens (id 1).</summary>
    private static int[] Rows(params int[] eosPerRow)
    {
        const int seq = 12;
        var ids = new int[eosPerRow.Length * seq];
        for (int b = 0; b < eosPerRow.Length; b++)
            for (int s = 0; s < seq; s++)
                ids[b * seq + s] = s >= seq - eosPerRow[b] ? 1 : 3 + (b * 7 + s) % 50;
        return ids;
    }

    public static TheoryData<string, string> BadClassificationInputs() => new()
    {
        { "eos-counts-differ", "All examples must have the same number of <eos> tokens (eos_token_id 1): row 0 has 1, row 1 has 2." },
        { "no-eos", "input_ids hold no <eos> token" },
        { "no-input-ids", "needs input_ids" },
        { "decoder-length", "decoder_input_ids are [1, 3] but input_ids are [1, 12]" },
        { "int-and-float-labels", "not both" },
        { "label-out-of-range", "labels[1] = 3 is outside [0, 3)" },
        { "label-count", "labels has 3 values, expected 2 for shape [2]" },
        { "multi-label-count", "labels has 4 values, expected 6 for shape [2, 3]" },
        { "cache", "takes no past_key_values" },
        { "positions", "belong to BigBirdPegasusForQuestionAnswering" },
        { "id-out-of-vocab", "input_ids[0] = 120" },
    };

    [Theory]
    [MemberData(nameof(BadClassificationInputs))]
    public void BadClassificationInputIsRefusedWithATypedError(string which, string expected)
    {
        var m = Classifier.Value;
        BigBirdPegasusInputs inputs = which switch
        {
            "eos-counts-differ" => new(2, 12) { InputIds = Rows(1, 2) },
            "no-eos" => new(2, 12) { InputIds = Rows(0, 0) },
            "no-input-ids" => new(1, 12) { EncoderOutputs = new float[12 * 32], DecoderInputIds = Rows(1), DecoderSequenceLength = 12 },
            "decoder-length" => new(1, 12) { InputIds = Rows(1), DecoderInputIds = [3, 4, 5], DecoderSequenceLength = 3 },
            "int-and-float-labels" => new(2, 12) { InputIds = Rows(1, 1), Labels = [0, 1], FloatLabels = [0, 1, 0, 1, 0, 1] },
            "label-out-of-range" => new(2, 12) { InputIds = Rows(1, 1), Labels = [0, 3] },
            "label-count" => new(2, 12) { InputIds = Rows(1, 1), Labels = [0, 1, 2] },
            "multi-label-count" => new(2, 12) { InputIds = Rows(1, 1), FloatLabels = [0, 1, 0, 1] },
            "cache" => new(1, 12) { InputIds = Rows(1), PastKeyValues = new BigBirdPegasusKeyValueCache(m.Config, 1, 12, m.Model.Backend) },
            "positions" => new(1, 12) { InputIds = Rows(1), StartPositions = [1], EndPositions = [2] },
            "id-out-of-vocab" => new(1, 12) { InputIds = Rows(1).Select((v, i) => i == 0 ? 120 : v).ToArray() },
            _ => throw new ArgumentOutOfRangeException(nameof(which)),
        };
        var e = Assert.Throws<BigBirdInputException>(() => m.Forward(inputs));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void RegressionRefusesClassIdsAndWrongCounts()
    {
        var m = Regressor.Value;
        Assert.Equal("regression", m.ProblemType(integerLabels: true));
        Assert.Contains("needs float labels", Assert.Throws<BigBirdInputException>(
            () => m.Forward(new BigBirdPegasusInputs(2, 12) { InputIds = Rows(1, 1), Labels = [0, 1] })).Message);
        Assert.Contains("labels has 3 values, expected 2 for shape [2]", Assert.Throws<BigBirdInputException>(
            () => m.Forward(new BigBirdPegasusInputs(2, 12) { InputIds = Rows(1, 1), FloatLabels = [0.5f, 1, 2] })).Message);
    }

    [Fact]
    public void ProblemTypeIsInferredAsHFDoesUnlessConfigured()
    {
        var m = Classifier.Value;
        Assert.Equal("single_label_classification", m.ProblemType(integerLabels: true));
        Assert.Equal("multi_label_classification", m.ProblemType(integerLabels: false));
    }

    [Fact]
    public void AConfiguredProblemTypeDecidesTheLoss()
    {
        // config.json's problem_type regression with num_labels 3: float labels [batch, 3] and the MSE, as HF
        string dir = CopyModel("sc_bs", config => config.Replace("\"model_type\"", "\"problem_type\": \"regression\", \"model_type\""));
        using var m = BigBirdPegasusForSequenceClassification.FromPretrained(dir);
        Assert.Equal("regression", m.ProblemType(integerLabels: true));
        var targets = new float[] { 0.5f, -1, 2, 0, 1, -0.25f };
        var output = m.Forward(new BigBirdPegasusInputs(2, 12) { InputIds = Rows(1, 1), FloatLabels = targets });
        double sum = 0;
        for (int i = 0; i < 6; i++) sum += Math.Pow(output.Logits.Data[i] - targets[i], 2);
        Assert.Equal(sum / 6, output.Loss!.Value, 5);
        Assert.Contains("needs float labels", Assert.Throws<BigBirdInputException>(
            () => m.Forward(new BigBirdPegasusInputs(2, 12) { InputIds = Rows(1, 1), Labels = [0, 1] })).Message);
    }

    public static TheoryData<string, string> BadQuestionAnsweringInputs() => new()
    {
        { "start-only", "give both start_positions and end_positions" },
        { "end-count", "end_positions has 3 values, expected 2 for shape [2]" },
        { "labels", "not labels" },
        { "cache", "takes no past_key_values" },
        { "no-decoder", "give decoder_input_ids, or input_ids" },
    };

    [Theory]
    [MemberData(nameof(BadQuestionAnsweringInputs))]
    public void BadQuestionAnsweringInputIsRefusedWithATypedError(string which, string expected)
    {
        var m = Qa.Value;
        BigBirdPegasusInputs inputs = which switch
        {
            "start-only" => new(2, 12) { InputIds = Rows(1, 1), StartPositions = [1, 2] },
            "end-count" => new(2, 12) { InputIds = Rows(1, 1), StartPositions = [1, 2], EndPositions = [1, 2, 3] },
            "labels" => new(2, 12) { InputIds = Rows(1, 1), Labels = [1, 2] },
            "cache" => new(1, 12) { InputIds = Rows(1), PastKeyValues = new BigBirdPegasusKeyValueCache(m.Config, 1, 12, m.Model.Backend) },
            "no-decoder" => new(1, 12) { EncoderOutputs = new float[12 * 32] },
            _ => throw new ArgumentOutOfRangeException(nameof(which)),
        };
        var e = Assert.Throws<BigBirdInputException>(() => m.Forward(inputs));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void QuestionAnsweringPositionsOutsideTheSequenceAreIgnored()
    {
        // HF clamps positions to [0, decoder_seq] and ignores decoder_seq: a row whose positions are both outside adds nothing
        var m = Qa.Value;
        var both = m.Forward(new BigBirdPegasusInputs(2, 12) { InputIds = Rows(1, 1), StartPositions = [2, 50], EndPositions = [4, -1 + 100] });
        var first = m.Forward(new BigBirdPegasusInputs(1, 12) { InputIds = Rows(1), StartPositions = [2], EndPositions = [4] });
        Assert.Equal(first.Loss!.Value, both.Loss!.Value, 5);
        // a negative position clamps to 0, which counts
        var negative = m.Forward(new BigBirdPegasusInputs(1, 12) { InputIds = Rows(1), StartPositions = [-5], EndPositions = [0] });
        var zero = m.Forward(new BigBirdPegasusInputs(1, 12) { InputIds = Rows(1), StartPositions = [0], EndPositions = [0] });
        Assert.Equal(zero.Loss!.Value, negative.Loss!.Value);
    }

    private static BigBirdPegasusCausalLMInputs Tokens(int batch, int seq) =>
        new(batch, seq) { InputIds = Enumerable.Range(0, batch * seq).Select(i => 3 + i % 60).ToArray() };

    public static TheoryData<string, string> BadCausalLMInputs() => new()
    {
        { "id-out-of-vocab", "input_ids[2] = 120" },
        { "ids-count", "input_ids has 5 values, expected 6 for shape [2, 3]" },
        { "mask-value", "attention_mask holds 2" },
        { "mask-length-with-past", "attention_mask has 6 values, expected 8 for shape [2, 1 past + 3 new]" },
        { "encoder-length", "encoder_hidden_states has 64 values, expected 128 for shape [2, 2, 32]" },
        { "encoder-no-length", "EncoderSequenceLength 0" },
        { "encoder-mask-alone", "encoder_attention_mask is given without encoder_hidden_states" },
        { "encoder-mask-length", "encoder_attention_mask has 3 values, expected 4 for shape [2, 2]" },
        { "labels-count", "labels has 4 values, expected 6 for shape [2, 3]" },
        { "labels-out-of-vocab", "labels[1] = 500 is outside [0, 120)" },
        { "too-long", "exceed max_position_embeddings 512" },
        { "cache-batch", "past_key_values holds 1 rows but the input has 2" },
        { "cache-full", "too few for 3 more" },
        { "cache-encoder", "cross-attention keys of 2 encoder tokens, but encoder_hidden_states have 3" },
        { "empty", "empty input" },
    };

    [Theory]
    [MemberData(nameof(BadCausalLMInputs))]
    public void BadCausalLMInputIsRefusedWithATypedError(string which, string expected)
    {
        var m = CausalLM.Value;
        var t = Tokens(2, 3);
        BigBirdPegasusKeyValueCache Cache(int batch, int capacity) => new(m.Config, batch, capacity, m.Backend);
        BigBirdPegasusCausalLMInputs inputs;
        switch (which)
        {
            case "id-out-of-vocab": inputs = new(2, 3) { InputIds = [3, 4, 120, 5, 6, 7] }; break;
            case "ids-count": inputs = new(2, 3) { InputIds = [3, 4, 5, 6, 7] }; break;
            case "mask-value": inputs = new(2, 3) { InputIds = t.InputIds, AttentionMask = [1, 1, 2, 1, 1, 1] }; break;
            case "mask-length-with-past":
            {
                var cache = Cache(2, 8);
                m.Forward(new BigBirdPegasusCausalLMInputs(2, 1) { InputIds = [3, 4], PastKeyValues = cache });
                inputs = new(2, 3) { InputIds = t.InputIds, AttentionMask = new int[6], PastKeyValues = cache };
                break;
            }
            case "encoder-length": inputs = new(2, 3) { InputIds = t.InputIds, EncoderHiddenStates = new float[64], EncoderSequenceLength = 2 }; break;
            case "encoder-no-length": inputs = new(2, 3) { InputIds = t.InputIds, EncoderHiddenStates = new float[64] }; break;
            case "encoder-mask-alone": inputs = new(2, 3) { InputIds = t.InputIds, EncoderAttentionMask = [1, 1] }; break;
            case "encoder-mask-length":
                inputs = new(2, 3) { InputIds = t.InputIds, EncoderHiddenStates = new float[128], EncoderSequenceLength = 2, EncoderAttentionMask = [1, 1, 1] };
                break;
            case "labels-count": inputs = new(2, 3) { InputIds = t.InputIds, Labels = [3, 4, 5, 6] }; break;
            case "labels-out-of-vocab": inputs = new(2, 3) { InputIds = t.InputIds, Labels = [3, 500, 5, 6, 7, 8] }; break;
            case "too-long": inputs = Tokens(1, 513); break;
            case "cache-batch": inputs = new(2, 3) { InputIds = t.InputIds, PastKeyValues = Cache(1, 8) }; break;
            case "cache-full": inputs = new(2, 3) { InputIds = t.InputIds, PastKeyValues = Cache(2, 2) }; break;
            case "cache-encoder":
            {
                var cache = Cache(2, 8);
                m.Forward(new BigBirdPegasusCausalLMInputs(2, 1)
                {
                    InputIds = [3, 4], EncoderHiddenStates = new float[2 * 2 * 32], EncoderSequenceLength = 2, PastKeyValues = cache,
                });
                inputs = new(2, 3) { InputIds = t.InputIds, EncoderHiddenStates = new float[2 * 3 * 32], EncoderSequenceLength = 3, PastKeyValues = cache };
                break;
            }
            case "empty": inputs = new(0, 3) { InputIds = [] }; break;
            default: throw new ArgumentOutOfRangeException(nameof(which));
        }
        var e = Assert.Throws<BigBirdInputException>(() => m.Forward(inputs));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void CausalLMStepRefusesLabels()
    {
        var t = Tokens(1, 2);
        Assert.Contains("no labels", Assert.Throws<BigBirdInputException>(
            () => CausalLM.Value.LastPositionLogits(new BigBirdPegasusCausalLMInputs(1, 2) { InputIds = t.InputIds, Labels = [3, 4] })).Message);
    }

    /// <summary>A copy of a fixture model folder with config.json edited; a safetensors copy without <paramref name="drop"/> when given.</summary>
    private string CopyModel(string model, Func<string, string>? editConfig = null, string? drop = null)
    {
        Directory.CreateDirectory(_dir);
        string source = PegasusFixture.ModelDir(model);
        string config = File.ReadAllText(Path.Combine(source, "config.json"));
        File.WriteAllText(Path.Combine(_dir, "config.json"), editConfig is null ? config : editConfig(config));
        var entries = new List<SafeTensorsWriter.Entry>();
        using (var reader = CheckpointLoader.Open(source))
        {
            foreach (var name in reader.Names)
            {
                if (name == drop) continue;
                reader.TryGetInfo(name, out var info);
                entries.Add(new SafeTensorsWriter.Entry(name, info!.Shape.Select(d => (int)d).ToArray(), reader.ReadFloat32(name).ToArray()));
            }
        }
        SafeTensorsWriter.Write(Path.Combine(_dir, "model.safetensors"), entries);
        return _dir;
    }

    [Theory]
    [InlineData("sequence-classification", "classification_head.out_proj.weight")]
    [InlineData("sequence-classification", "model.decoder.layers.0.fc2.weight")]
    [InlineData("question-answering", "qa_outputs.bias")]
    [InlineData("causal-lm", "model.decoder.layers.2.encoder_attn.v_proj.weight")]
    [InlineData("causal-lm-untied", "lm_head.weight")]
    public void MissingTensorNamesFileAndTensor(string head, string tensor)
    {
        string model = head switch
        {
            "sequence-classification" => "sc_bs",
            "question-answering" => "qa_bs",
            "causal-lm" => "clm",
            _ => "clm_untied",
        };
        string dir = CopyModel(model, drop: tensor);
        Action load = head switch
        {
            "sequence-classification" => () => BigBirdPegasusForSequenceClassification.FromPretrained(dir).Dispose(),
            "question-answering" => () => BigBirdPegasusForQuestionAnswering.FromPretrained(dir).Dispose(),
            _ => () => BigBirdPegasusForCausalLM.FromPretrained(dir).Dispose(),
        };
        var e = Assert.Throws<TensorMismatchException>(load);
        Assert.Equal(tensor, e.TensorName);
        Assert.Contains($"'{tensor}'", e.Message);
        Assert.Contains(Path.Combine(dir, "model.safetensors"), e.Message);
    }

    [Fact]
    public void AConditionalGenerationFolderIsNotASequenceClassifier()
    {
        var e = Assert.Throws<TensorMismatchException>(() => BigBirdPegasusForSequenceClassification.FromPretrained(PegasusFixture.ModelDir("cg_full")));
        Assert.Equal("classification_head.dense.weight", e.TensorName);
    }

    [Fact]
    public void ACheckpointWithoutADecoderIsNotACausalLM()
    {
        Directory.CreateDirectory(_dir);
        File.Copy(Path.Combine(PegasusFixture.ModelDir("clm"), "config.json"), Path.Combine(_dir, "config.json"));
        SafeTensorsWriter.Write(Path.Combine(_dir, "model.safetensors"), [new SafeTensorsWriter.Entry("model.encoder.embed_positions.weight", [2, 2], new float[4])]);
        var e = Assert.Throws<TensorMismatchException>(() => BigBirdPegasusForCausalLM.FromPretrained(_dir));
        Assert.Contains("not a BigBirdPegasus decoder checkpoint", e.Message);
        Assert.Contains("model.encoder.embed_positions.weight", e.Message);
    }

    [Fact]
    public void TheCausalLMLoadsABareModelsDecoder()
    {
        // HF's from_pretrained strips the 'model.' prefix when the checkpoint has none: decoder.* of a BigBirdPegasusModel
        // folder; with tie_word_embeddings the lm_head is the decoder's embedding, which in that folder is the shared table
        using var clm = BigBirdPegasusForCausalLM.FromPretrained(PegasusFixture.ModelDir("model_bs"));
        using var bare = BigBirdPegasusModel.FromPretrained(PegasusFixture.ModelDir("model_bs"));
        Assert.Equal(bare.Shared.Weight.ToArray(), clm.Model.EmbedTokens.Weight.ToArray());
        Assert.Equal(bare.Decoder.EmbedPositions.Weight.Weight.ToArray(), clm.Model.Decoder.EmbedPositions.Weight.Weight.ToArray());
    }

    [Fact]
    public void CancelledAndDisposedModelsRefuseCalls()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var sc = BigBirdPegasusForSequenceClassification.FromPretrained(PegasusFixture.ModelDir("sc_reg"));
        var qa = BigBirdPegasusForQuestionAnswering.FromPretrained(PegasusFixture.ModelDir("qa_bs"));
        var clm = BigBirdPegasusForCausalLM.FromPretrained(PegasusFixture.ModelDir("clm_untied"));
        var document = new BigBirdPegasusInputs(1, 12) { InputIds = Rows(1) };
        Assert.ThrowsAny<OperationCanceledException>(() => sc.Forward(document, null, cts.Token));
        Assert.ThrowsAny<OperationCanceledException>(() => qa.Forward(document, null, cts.Token));
        Assert.ThrowsAny<OperationCanceledException>(() => clm.Forward(Tokens(1, 2), cts.Token));
        sc.Dispose();
        qa.Dispose();
        clm.Dispose();
        clm.Dispose();
        Assert.Throws<ObjectDisposedException>(() => sc.Forward(document));
        Assert.Throws<ObjectDisposedException>(() => qa.Forward(document));
        Assert.Throws<ObjectDisposedException>(() => clm.Forward(Tokens(1, 2)));
    }
}
