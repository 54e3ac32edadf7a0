using BigBirdSharp.Cli;
using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;

namespace BigBirdSharp.Tests.Modeling.Heads;

/// <summary>Every typed error of the heads, the decoder, generation and the extended run command.</summary>
public sealed class HeadErrorTests
{
    private static string Model(string name) => Path.Combine(RepoPaths.Fixtures, "heads", "models", name);
    private static BigBirdPreTrainedModel Load(string name, string? architecture = null) => BigBirdPreTrainedModel.Load(Model(name), architecture);
    private static BigBirdInputs Ids(int batch, int seq, int start = 5) =>
        new(batch, seq) { InputIds = Enumerable.Range(0, batch * seq).Select(i => start + i % 50).ToArray() };

    [Fact]
    public void Labels_of_the_wrong_shape_are_rejected_by_every_head()
    {
        using var mlm = Load("mlm_bs");
        var e = Assert.Throws<BigBirdInputException>(() => mlm.Forward(new BigBirdInputs(1, 5) { InputIds = [65, 5, 6, 7, 66], Labels = [1, 2, 3] }));
        Assert.Contains("labels has 3 values, expected 5", e.Message);
        using var cls = Load("seqcls_single");
        Assert.Contains("labels", Assert.Throws<BigBirdInputException>(() => cls.Forward(new BigBirdInputs(2, 4) { InputIds = new int[8], Labels = [1] })).Message);
        using var tok = Load("tokcls_bs");
        Assert.Throws<BigBirdInputException>(() => tok.Forward(new BigBirdInputs(1, 4) { InputIds = [5, 6, 7, 8], Labels = [0, 1] }));
        using var pre = Load("pretraining_bs");
        Assert.Contains("next_sentence_label", Assert.Throws<BigBirdInputException>(() =>
            pre.Forward(new BigBirdInputs(1, 3) { InputIds = [5, 6, 7], Labels = [5, 6, 7], NextSentenceLabel = [0, 1] })).Message);
        using var mc = Load("multichoice_bs");
        Assert.Throws<BigBirdInputException>(() => mc.Forward(new BigBirdInputs(4, 3) { InputIds = new int[12], NumChoices = 2, Labels = [0, 1, 0] }));
    }

    [Fact]
    public void Labels_of_the_wrong_kind_or_range_are_rejected()
    {
        using var mlm = Load("mlm_bs");
        Assert.Throws<BigBirdInputException>(() => mlm.Forward(new BigBirdInputs(1, 2) { InputIds = [5, 6], FloatLabels = [1f, 2f] }));
        var range = Assert.Throws<BigBirdInputException>(() => mlm.Forward(new BigBirdInputs(1, 2) { InputIds = [5, 6], Labels = [5, 100] }));
        Assert.Contains("outside [0, 100)", range.Message);
        using var regression = Load("seqcls_regression");
        Assert.Contains("float labels", Assert.Throws<BigBirdInputException>(() =>
            regression.Forward(new BigBirdInputs(1, 3) { InputIds = [5, 6, 7], Labels = [1] })).Message);
        using var multi = Load("seqcls_multi"); // problem_type multi_label_classification in config.json
        Assert.Throws<BigBirdInputException>(() => multi.Forward(new BigBirdInputs(1, 3) { InputIds = [5, 6, 7], Labels = [1] }));
        using var single = Load("seqcls_single");
        Assert.Throws<BigBirdInputException>(() => single.Forward(new BigBirdInputs(1, 3) { InputIds = [5, 6, 7], Labels = [1], FloatLabels = [1f] }));
    }

    [Fact]
    public void A_head_that_does_not_match_the_checkpoint_names_the_missing_tensor()
    {
        var bare = Path.Combine(RepoPaths.Models, "bs_h32_a4_l2_b4_r2"); // a BigBirdModel checkpoint: no heads
        var e = Assert.Throws<TensorMismatchException>(() => BigBirdPreTrainedModel.Load(bare, "BigBirdForMaskedLM"));
        Assert.Contains("cls.predictions", e.Message);
        var wrongHead = Assert.Throws<TensorMismatchException>(() => Load("seqcls_single", "BigBirdForTokenClassification"));
        Assert.Contains("classifier.weight", wrongHead.Message);
        Assert.Contains("pooler", Assert.Throws<TensorMismatchException>(() => Load("qa_bs", "BigBirdForMultipleChoice")).Message);
        Assert.Throws<BigBirdException>(() => Load("mlm_bs", "BigBirdForImageClassification"));
    }

    [Fact]
    public void Encoder_states_need_a_cross_attention_model_and_the_right_shape()
    {
        using var causal = Load("causal_full");
        var e = Assert.Throws<BigBirdInputException>(() => causal.Forward(new BigBirdInputs(1, 3)
        {
            InputIds = [5, 6, 7], EncoderHiddenStates = new float[2 * 16], EncoderSequenceLength = 2,
        }));
        Assert.Contains("no cross-attention", e.Message);
        using var decoder = Load("decoder_xattn");
        Assert.Contains("encoder_hidden_states has", Assert.Throws<BigBirdInputException>(() => decoder.Forward(new BigBirdInputs(1, 3)
        {
            InputIds = [5, 6, 7], EncoderHiddenStates = new float[2 * 15], EncoderSequenceLength = 2,
        })).Message);
        Assert.Throws<BigBirdInputException>(() => decoder.Forward(new BigBirdInputs(1, 3) { InputIds = [5, 6, 7], EncoderAttentionMask = [1, 1] }));
        Assert.Throws<BigBirdInputException>(() => decoder.Forward(new BigBirdInputs(1, 3)
        {
            InputIds = [5, 6, 7], EncoderHiddenStates = new float[2 * 16], EncoderSequenceLength = 2, EncoderAttentionMask = [1, 2],
        }));
    }

    [Fact]
    public void The_cache_rejects_what_it_cannot_serve()
    {
        using var decoder = Load("decoder_xattn");
        var cache = new BigBirdKeyValueCache(decoder.Config, 1, 8);
        Assert.Contains("Run without a cache", Assert.Throws<BigBirdInputException>(() => decoder.Forward(new BigBirdInputs(1, 3)
        {
            InputIds = [5, 6, 7], EncoderHiddenStates = new float[2 * 16], EncoderSequenceLength = 2, PastKeyValues = cache,
        })).Message);
        using var causal = Load("causal_full");
        var small = new BigBirdKeyValueCache(causal.Config, 1, 4);
        Assert.Contains("larger capacity", Assert.Throws<BigBirdInputException>(() =>
            causal.Forward(new BigBirdInputs(1, 5) { InputIds = [5, 6, 7, 8, 9], PastKeyValues = small })).Message);
        Assert.Throws<BigBirdInputException>(() => causal.Forward(new BigBirdInputs(2, 1) { InputIds = [5, 6], PastKeyValues = small }));
        Assert.Contains("original_full", Assert.Throws<BigBirdInputException>(() => causal.Forward(
            new BigBirdInputs(1, 60) { InputIds = Enumerable.Repeat(5, 60).ToArray(), PastKeyValues = new BigBirdKeyValueCache(causal.Config, 1, 60) },
            new BigBirdForwardOptions { AttentionType = AttentionType.BlockSparse })).Message);
        Assert.Throws<BigBirdInputException>(() => new BigBirdKeyValueCache(causal.Config, 1, causal.Config.MaxPositionEmbeddings + 1));
        // with a cache the mask covers past + new tokens
        var cache2 = new BigBirdKeyValueCache(causal.Config, 1, 8);
        causal.Forward(new BigBirdInputs(1, 2) { InputIds = [5, 6], PastKeyValues = cache2 });
        Assert.Contains("2 past + 1 new", Assert.Throws<BigBirdInputException>(() =>
            causal.Forward(new BigBirdInputs(1, 1) { InputIds = [7], AttentionMask = [1], PastKeyValues = cache2 })).Message);
    }

    [Fact]
    public void Generation_rejects_bad_settings()
    {
        using var head = Load("causal_full");
        var causal = (BigBirdForCausalLM)head;
        var prompt = new BigBirdInputs(1, 3) { InputIds = [65, 5, 6] };
        Assert.Contains("max_position_embeddings", Assert.Throws<BigBirdInputException>(() =>
            causal.Generate(prompt, new GenerationConfig { MaxNewTokens = 300 })).Message);
        Assert.Throws<BigBirdInputException>(() => causal.Generate(prompt, new GenerationConfig { MaxNewTokens = -1 }));
        Assert.Throws<BigBirdInputException>(() => causal.Generate(prompt, new GenerationConfig { DoSample = true, Temperature = 0 }));
        Assert.Throws<BigBirdInputException>(() => causal.Generate(prompt, new GenerationConfig { DoSample = true, TopP = 0 }));
        Assert.Contains("repetition_penalty", Assert.Throws<BigBirdInputException>(() => causal.Generate(prompt, new GenerationConfig { RepetitionPenalty = 0 })).Message);
        Assert.Contains("repetition_penalty", Assert.Throws<BigBirdInputException>(() => causal.Generate(prompt, new GenerationConfig { RepetitionPenalty = float.NaN })).Message);
        Assert.Contains("no_repeat_ngram_size", Assert.Throws<BigBirdInputException>(() => causal.Generate(prompt, new GenerationConfig { NoRepeatNgramSize = -1 })).Message);
        Assert.Throws<BigBirdInputException>(() => causal.Generate(new BigBirdInputs(1, 2) { InputsEmbeds = new float[32] }, new GenerationConfig()));
        using var decoder = Load("decoder_xattn");
        Assert.Contains("drops them", Assert.Throws<BigBirdInputException>(() => ((BigBirdForCausalLM)decoder).Generate(new BigBirdInputs(1, 3)
        {
            InputIds = [65, 5, 6], EncoderHiddenStates = new float[2 * 16], EncoderSequenceLength = 2,
        }, new GenerationConfig())).Message);
        Assert.Equal(3, causal.Generate(prompt, new GenerationConfig { MaxNewTokens = 0 }).Length);
        Assert.Contains("max_position_embeddings", Assert.Throws<BigBirdInputException>(() =>
            causal.Generate(prompt, new GenerationConfig { MaxNewTokens = int.MaxValue })).Message);
        Assert.Throws<BigBirdInputException>(() => causal.Generate(new BigBirdInputs(2, 3) { InputIds = [65, 5, 6] }, new GenerationConfig()));
        Assert.Throws<BigBirdInputException>(() => causal.Generate(new BigBirdInputs(1, 3) { InputIds = [65, 5, 6], AttentionMask = [1] }, new GenerationConfig()));
        Assert.Throws<BigBirdInputException>(() => causal.Generate(new BigBirdInputs(-1, 3) { InputIds = [65, 5, 6] }, new GenerationConfig()));
    }

    [Fact]
    public void A_cache_must_fit_the_model_and_needs_a_decoder()
    {
        using var causal = Load("causal_full");
        var other = causal.Config with { NumHiddenLayers = 1 };
        Assert.Contains("made for 1 layers", Assert.Throws<BigBirdInputException>(() =>
            causal.Forward(new BigBirdInputs(1, 2) { InputIds = [5, 6], PastKeyValues = new BigBirdKeyValueCache(other, 1, 4) })).Message);
        using var mlm = Load("mlm_bs");
        Assert.Contains("needs a decoder", Assert.Throws<BigBirdInputException>(() =>
            mlm.Forward(new BigBirdInputs(1, 2) { InputIds = [5, 6], PastKeyValues = new BigBirdKeyValueCache(mlm.Config, 1, 4) })).Message);
        using var tok = Load("tokcls_bs");
        Assert.Throws<BigBirdInputException>(() =>
            tok.Forward(new BigBirdInputs(1, 2) { InputIds = [5, 6], EncoderHiddenStates = new float[16], EncoderSequenceLength = 1 }));
        Assert.Throws<BigBirdInputException>(() => new BigBirdKeyValueCache(causal.Config with { MaxPositionEmbeddings = 1 << 30 }, 1 << 20, 1 << 20));
    }

    [Fact]
    public void Question_answering_checks_inputs_before_reading_them()
    {
        using var head = Load("qa_bs");
        var qa = (BigBirdForQuestionAnswering)head;
        Assert.Throws<BigBirdInputException>(() => qa.Forward(new BigBirdInputs(2, 5) { InputIds = [65, 5, 66, 7, 8] }));
        Assert.Throws<BigBirdInputException>(() => qa.QuestionMask(new BigBirdInputs(1, -3) { InputIds = [65] }));
        Assert.Throws<BigBirdInputException>(() => qa.Forward(new BigBirdInputs(1, 4) { InputIds = [65, 5, 66, 7], QuestionLengths = [-2] }));
    }

    [Fact]
    public void Question_answering_and_multiple_choice_inputs_are_checked()
    {
        using var qa = Load("qa_bs");
        Assert.Throws<BigBirdInputException>(() => qa.Forward(new BigBirdInputs(1, 4) { InputIds = [65, 5, 66, 7], StartPositions = [1] }));
        Assert.Throws<BigBirdInputException>(() => qa.Forward(new BigBirdInputs(1, 4) { InputIds = [65, 5, 66, 7], QuestionLengths = [1, 2] }));
        Assert.Throws<BigBirdInputException>(() => qa.Forward(new BigBirdInputs(1, 4) { InputIds = [65, 5, 66, 7], Labels = [1] }));
        using var mc = Load("multichoice_bs");
        Assert.Contains("[batch, choices, seq]", Assert.Throws<BigBirdInputException>(() => mc.Forward(Ids(2, 4))).Message);
    }

    [Fact]
    public void Config_problem_type_and_num_labels_follow_hf()
    {
        Assert.Throws<BigBirdConfigException>(() => BigBirdConfig.FromJson("""{"problem_type": "ranking"}"""));
        Assert.Equal(3, BigBirdConfig.FromJson("""{"id2label": {"0": "a", "1": "b", "2": "c"}, "num_labels": 7}""").NumLabels);
        Assert.Equal(7, BigBirdConfig.FromJson("""{"num_labels": 7}""").NumLabels);
        Assert.Equal(2, BigBirdConfig.FromJson("{}").NumLabels);
        Assert.Equal("LABEL_4", BigBirdConfig.FromJson("{}").LabelName(4));
    }

    [Theory]
    [InlineData("""{"input_ids": [[5, 6, 7]]}""", "BigBirdForMaskedLM", new[] { "--generate", "3" }, BigBirdCli.Usage)]
    [InlineData("""{"input_ids": [[5, 6, 7]]}""", "BigBirdForCausalLM", new[] { "--eos-token-id", "3" }, BigBirdCli.Usage)]
    [InlineData("""{"input_ids": [[[5, 6, 7]]]}""", "BigBirdForCausalLM", new string[0], BigBirdCli.Failed)]
    [InlineData("""{"input_ids": [[5, 6, 7]], "labels": [[1, 2], [3]]}""", "BigBirdForCausalLM", new string[0], BigBirdCli.Failed)]
    [InlineData("""{"input_ids": [[5, 6, 7]], "question_lengths": [1, 2]}""", "BigBirdForCausalLM", new string[0], BigBirdCli.Failed)]
    [InlineData("""{"input_ids": [[5, 6, 7]], "encoder_hidden_states": [[[0.5]]]}""", "BigBirdForCausalLM", new string[0], BigBirdCli.Failed)]
    [InlineData("""{"input_ids": [[5, 6, 7]], "decoder_input_ids": [[1]]}""", "BigBirdForCausalLM", new string[0], BigBirdCli.Failed)]
    [InlineData("""{"input_ids": [[5, 6, 7]]}""", "BigBirdForPanoptic", new string[0], BigBirdCli.Failed)]
    public void Cli_run_rejects_bad_head_inputs(string json, string architecture, string[] extra, int exitCode)
    {
        string dir = Path.Combine(Path.GetTempPath(), "bigbird-head-cli-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string inputs = Path.Combine(dir, "inputs.json");
            File.WriteAllText(inputs, json);
            var stderr = new StringWriter();
            int code = BigBirdCli.Run(["run", "--model", Model("causal_full"), "--inputs", inputs, "--output", Path.Combine(dir, "out.safetensors"),
                                       "--architecture", architecture, .. extra], TextWriter.Null, stderr);
            Assert.True(code == exitCode, $"exit {code}: {stderr}");
            Assert.StartsWith("bigbird: ", stderr.ToString());
            Assert.False(File.Exists(Path.Combine(dir, "out.safetensors")));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
