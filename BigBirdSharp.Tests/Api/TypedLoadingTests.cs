using BigBirdSharp.Backends;
using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;

namespace BigBirdSharp.Tests.Api;

/// <summary>Each head's FromPretrained (HF's from_pretrained), the PascalCase module tree it exposes, and its typed refusals.</summary>
public sealed class TypedLoadingTests
{
    private static string Model(string name) => Path.Combine(RepoPaths.Fixtures, "heads", "models", name);
    private static BigBirdInputs Ids(int seq) => new(1, seq) { InputIds = Enumerable.Range(0, seq).Select(i => 5 + i % 50).ToArray() };

    [Fact]
    public void Each_head_loads_its_own_checkpoint_and_exposes_hf_modules_in_dotnet_case()
    {
        using (var pre = BigBirdForPreTraining.FromPretrained(Model("pretraining_bs")))
        {
            Assert.Equal("BigBirdForPreTraining", pre.Architecture);
            Assert.Equal(2, pre.Cls.SeqRelationship.OutFeatures);
            Assert.Equal(pre.Config.VocabSize, pre.Cls.Predictions.Decoder.OutFeatures);
            Assert.NotNull(pre.Forward(Ids(8)).PredictionLogits);
        }
        using (var mlm = BigBirdForMaskedLM.FromPretrained(Model("mlm_bs")))
        {
            var query = mlm.Bert.Encoder.Layer[0].Attention.Self.Query;
            Assert.Equal(mlm.Config.HiddenSize, query.OutFeatures);
            Assert.Equal(mlm.Config.HiddenSize, mlm.Cls.Predictions.Transform.Dense.InFeatures);
            Assert.Equal(mlm.Config.NumHiddenLayers, mlm.Bert.Encoder.Layer.Count);
            Assert.Equal(mlm.Config.VocabSize, mlm.Forward(Ids(8)).Logits!.Shape[2]);
        }
        using (var causal = BigBirdForCausalLM.FromPretrained(Model("causal_full")))
        {
            Assert.True(causal.Config.IsDecoder);
            Assert.Equal(causal.Config.VocabSize, causal.Cls.Predictions.Decoder.OutFeatures);
        }
        using (var seq = BigBirdForSequenceClassification.FromPretrained(Model("seqcls_single")))
        {
            Assert.Equal(seq.Config.NumLabels, seq.Classifier.OutProj.OutFeatures);
            Assert.Equal([1, seq.Config.NumLabels], seq.Forward(Ids(8)).Logits!.Shape);
        }
        using (var mc = BigBirdForMultipleChoice.FromPretrained(Model("multichoice_bs")))
            Assert.Equal(1, mc.Classifier.OutFeatures);
        using (var tok = BigBirdForTokenClassification.FromPretrained(Model("tokcls_bs")))
            Assert.Equal(tok.Config.NumLabels, tok.Classifier.OutFeatures);
        using (var qa = BigBirdForQuestionAnswering.FromPretrained(Model("qa_bs")))
        {
            Assert.Equal(2, qa.QaClassifier.QaOutputs.OutFeatures);
            Assert.Equal(qa.Config.IntermediateSize, qa.QaClassifier.Intermediate.Dense.OutFeatures);
            Assert.NotNull(qa.Forward(Ids(8)).StartLogits);
        }
    }

    [Fact]
    public void A_head_loads_from_a_checkpoint_saved_as_another_head_that_carries_it()
    {
        // HF: BigBirdForMaskedLM.from_pretrained on a BigBirdForPreTraining checkpoint (cls.predictions is shared)
        using var mlm = BigBirdForMaskedLM.FromPretrained(Model("pretraining_bs"));
        Assert.Equal("BigBirdForMaskedLM", mlm.Architecture);
        // the default model names BigBirdForMaskedLM and carries the classification and QA heads too
        using var cls = BigBirdForSequenceClassification.FromPretrained(BigBirdDefaultModel.Directory);
        Assert.Equal(7, cls.Config.NumLabels);
        using var qa = BigBirdForQuestionAnswering.FromPretrained(BigBirdDefaultModel.Directory);
        Assert.Equal("BigBirdForQuestionAnswering", qa.Architecture);
    }

    public static TheoryData<string, string, string> Mismatches() => new()
    {
        // requested head, checkpoint, what the message must name
        { "BigBirdForQuestionAnswering", "mlm_bs", "qa_classifier.qa_outputs.weight" },
        { "BigBirdForPreTraining", "mlm_bs", "cls.seq_relationship.weight" },
        { "BigBirdForMultipleChoice", "seqcls_single", "classifier.weight" },
        { "BigBirdForSequenceClassification", "tokcls_bs", "classifier.out_proj.weight" },
        { "BigBirdForTokenClassification", "qa_bs", "classifier.weight" },
        { "BigBirdForMaskedLM", "qa_bs", "cls.predictions.transform.dense.weight" },
        { "BigBirdForCausalLM", "mlm_bs", "is_decoder false" },
        { "BigBirdForMaskedLM", "causal_full", "is_decoder true" },
    };

    [Theory]
    [MemberData(nameof(Mismatches))]
    public void A_head_refuses_a_checkpoint_that_is_not_one_with_a_typed_error(string architecture, string checkpoint, string named)
    {
        string dir = Model(checkpoint);
        Func<object> load = architecture switch
        {
            "BigBirdForPreTraining" => () => BigBirdForPreTraining.FromPretrained(dir),
            "BigBirdForMaskedLM" => () => BigBirdForMaskedLM.FromPretrained(dir),
            "BigBirdForCausalLM" => () => BigBirdForCausalLM.FromPretrained(dir),
            "BigBirdForSequenceClassification" => () => BigBirdForSequenceClassification.FromPretrained(dir),
            "BigBirdForMultipleChoice" => () => BigBirdForMultipleChoice.FromPretrained(dir),
            "BigBirdForTokenClassification" => () => BigBirdForTokenClassification.FromPretrained(dir),
            "BigBirdForQuestionAnswering" => () => BigBirdForQuestionAnswering.FromPretrained(dir),
            _ => throw new ArgumentException(architecture),
        };
        var e = Assert.Throws<BigBirdArchitectureException>(load);
        Assert.Equal(architecture, e.Architecture);
        Assert.Equal(dir, e.Directory);
        Assert.StartsWith(dir + ":", e.Message);
        Assert.Contains(named, e.Message);
        Assert.Contains(architecture, e.Message);
    }

    [Fact]
    public void A_missing_folder_or_config_is_a_typed_error()
    {
        string missing = Path.Combine(Path.GetTempPath(), "bigbird-no-such-" + Guid.NewGuid().ToString("N"));
        Assert.Contains(missing, Assert.Throws<BigBirdException>(() => BigBirdForQuestionAnswering.FromPretrained(missing)).Message);
        string empty = Directory.CreateTempSubdirectory("bigbird-empty").FullName;
        try
        {
            Assert.Throws<BigBirdConfigException>(() => BigBirdForMaskedLM.FromPretrained(empty));
        }
        finally { Directory.Delete(empty, recursive: true); }
    }

    [Fact]
    public void Threads_selects_a_cpu_backend_of_that_many_threads()
    {
        using var model = BigBirdModel.FromPretrained(Model("mlm_bs"), new BigBirdModelOptions { Threads = 2 });
        var cpu = Assert.IsType<CpuBackend>(model.Backend);
        Assert.Equal(2, cpu.Threads);
        Assert.Same(CpuBackend.Create(2), cpu);
        using var head = BigBirdForMaskedLM.FromPretrained(Model("mlm_bs"), new BigBirdModelOptions { Threads = 1 });
        Assert.Equal(1, ((CpuBackend)head.Bert.Backend).Threads);
        using var byDefault = BigBirdModel.FromPretrained(Model("mlm_bs"), new BigBirdModelOptions());
        Assert.Same(CpuBackend.Instance, byDefault.Backend);
        // both set, and agreeing
        using var both = BigBirdModel.FromPretrained(Model("mlm_bs"), new BigBirdModelOptions { Backend = CpuBackend.Create(2), Threads = 2 });
        Assert.Same(CpuBackend.Create(2), both.Backend);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    public void A_thread_count_below_one_is_refused(int threads)
    {
        var options = new BigBirdModelOptions { Threads = threads };
        var e = Assert.Throws<BigBirdOptionsException>(() => BigBirdModel.FromPretrained(Model("mlm_bs"), options));
        Assert.Equal("Threads", e.OptionName);
        Assert.Contains($"Threads is {threads}", e.Message);
        Assert.Throws<BigBirdOptionsException>(() => BigBirdForMaskedLM.FromPretrained(Model("mlm_bs"), options));
    }

    [Fact]
    public void Threads_that_contradict_the_backend_are_refused()
    {
        var other = Assert.Throws<BigBirdOptionsException>(() =>
            BigBirdModel.FromPretrained(Model("mlm_bs"), new BigBirdModelOptions { Backend = CpuBackend.Create(3), Threads = 2 }));
        Assert.Contains("CPU backend of 3 threads", other.Message);
        var foreign = Assert.Throws<BigBirdOptionsException>(() =>
            BigBirdForMaskedLM.FromPretrained(Model("mlm_bs"), new BigBirdModelOptions { Backend = BigBirdSharp.Tests.Backends.ForeignBackend.Instance, Threads = 2 }));
        Assert.Contains($"Backend is '{BigBirdSharp.Tests.Backends.ForeignBackend.Instance.Name}'", foreign.Message);
    }
}
