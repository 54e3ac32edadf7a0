using System.Text.Json.Nodes;
using BigBirdSharp.IO;
using BigBirdSharp.Modeling.EncoderDecoder;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Serialization;

namespace BigBirdSharp.Tests.EncoderDecoder;

/// <summary>Loading errors, input errors, disposal and cancellation of EncoderDecoderModel, and what its incremental
/// decoding entry must satisfy.</summary>
public sealed class EncoderDecoderModelTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "bbed-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    /// <summary>A copy of a fixture model as F32 safetensors, without the tensors <paramref name="drop"/> selects (or with
    /// them flattened), and with its config.json edited by <paramref name="edit"/>.</summary>
    private string Copy(string model, Func<string, bool>? drop = null, bool reshape = false, Action<JsonObject>? edit = null)
    {
        Directory.CreateDirectory(_dir);
        string source = EncoderDecoderFixture.ModelDir(model);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "config.json")))!.AsObject();
        edit?.Invoke(config);
        File.WriteAllText(Path.Combine(_dir, "config.json"), config.ToJsonString());
        var entries = new List<SafeTensorsWriter.Entry>();
        using (var reader = CheckpointLoader.Open(source))
        {
            foreach (var name in reader.Names)
            {
                reader.TryGetInfo(name, out var info);
                if (info.DType != TensorDType.F32) continue; // the position_ids / token_type_ids buffers, which no loader reads
                var shape = info.Shape.Select(d => (int)d).ToArray();
                bool selected = drop?.Invoke(name) ?? false;
                if (selected && !reshape) continue;
                if (selected) shape = [shape.Aggregate(1, (a, b) => a * b)];
                entries.Add(new SafeTensorsWriter.Entry(name, shape, reader.ReadFloat32(name).ToArray()));
            }
        }
        SafeTensorsWriter.Write(Path.Combine(_dir, "model.safetensors"), entries);
        return _dir;
    }

    // ---- loading ---------------------------------------------------------------------------------------------------

    [Fact]
    public void MissingFolderIsNamed()
    {
        string dir = Path.Combine(_dir, "absent");
        var e = Assert.Throws<BigBirdException>(() => EncoderDecoderModel.FromPretrained(dir));
        Assert.Contains(dir, e.Message);
    }

    [Fact]
    public void ACheckpointWithoutDecoderHeadIsRefused()
    {
        string dir = Copy("ed_proj", drop: n => n.StartsWith("decoder.cls.", StringComparison.Ordinal));
        var e = Assert.Throws<BigBirdArchitectureException>(() => EncoderDecoderModel.FromPretrained(dir));
        Assert.Equal("EncoderDecoderModel", e.Architecture);
        Assert.Contains("decoder.cls.predictions.transform.dense.weight", e.Message);
    }

    [Fact]
    public void ACheckpointWithoutEncoderIsRefused()
    {
        string dir = Copy("ed_proj", drop: n => n.StartsWith("encoder.", StringComparison.Ordinal));
        var e = Assert.Throws<BigBirdArchitectureException>(() => EncoderDecoderModel.FromPretrained(dir));
        Assert.Contains("encoder.embeddings.word_embeddings.weight", e.Message);
    }

    [Theory]
    [InlineData("decoder.bert.encoder.layer.2.crossattention.self.key.weight")]
    [InlineData("encoder.encoder.layer.0.attention.output.LayerNorm.bias")]
    [InlineData("enc_to_dec_proj.bias")]
    [InlineData("decoder.cls.predictions.transform.LayerNorm.weight")]
    public void MissingTensorIsNamedAsInTheCheckpoint(string tensor)
    {
        string dir = Copy("ed_proj", drop: n => n == tensor);
        var e = Assert.Throws<TensorMismatchException>(() => EncoderDecoderModel.FromPretrained(dir));
        Assert.Equal(tensor, e.TensorName);
        Assert.Contains($"'{tensor}'", e.Message);
        Assert.Contains(dir, e.Message);
    }

    [Fact]
    public void MisshapenTensorNamesTensorAndShapes()
    {
        const string tensor = "decoder.bert.encoder.layer.1.intermediate.dense.weight";
        string dir = Copy("ed_proj", drop: n => n == tensor, reshape: true);
        var e = Assert.Throws<TensorMismatchException>(() => EncoderDecoderModel.FromPretrained(dir));
        Assert.Equal(tensor, e.TensorName);
        Assert.Contains("[2048]", e.Message);
        Assert.Contains("[64, 32]", e.Message);
    }

    [Fact]
    public void TiedCheckpointHoldsSharedTensorsOnceAndNeedsTheTie()
    {
        // the fixture stores the decoder's shared bert tensors only under encoder.*; its parity test passes because they are tied
        using (var reader = CheckpointLoader.Open(EncoderDecoderFixture.ModelDir("ed_tied")))
        {
            Assert.False(reader.TryGetInfo("decoder.bert.embeddings.word_embeddings.weight", out _));
            Assert.False(reader.TryGetInfo("decoder.bert.encoder.layer.0.attention.self.query.weight", out _));
            Assert.True(reader.TryGetInfo("decoder.bert.encoder.layer.0.crossattention.self.query.weight", out _));
        }
        using (var model = EncoderDecoderModel.FromPretrained(EncoderDecoderFixture.ModelDir("ed_tied")))
            Assert.True(model.Config.TieEncoderDecoder);
        // the same file without tie_encoder_decoder lacks the decoder's own tensors
        string dir = Copy("ed_tied", edit: c => c["tie_encoder_decoder"] = false);
        var e = Assert.Throws<TensorMismatchException>(() => EncoderDecoderModel.FromPretrained(dir));
        Assert.StartsWith("decoder.", e.TensorName);
    }

    [Fact]
    public void AnInvalidConfigIsRefusedBeforeTheWeightsAreRead()
    {
        string dir = Copy("ed_proj", edit: c => c["decoder"]!["add_cross_attention"] = false);
        var e = Assert.Throws<BigBirdConfigException>(() => EncoderDecoderModel.FromPretrained(dir));
        Assert.Contains("decoder.add_cross_attention is false", e.Message);
        Assert.Contains(Path.Combine(dir, "config.json"), e.Message);
    }

    // ---- forward inputs --------------------------------------------------------------------------------------------

    private static EncoderDecoderInputs Small(int[]? decoderIds = null, int decoderSeq = 0, int[]? labels = null, int[]? decoderMask = null) =>
        new(1, 5) { InputIds = [5, 6, 7, 8, 9], DecoderInputIds = decoderIds, DecoderSequenceLength = decoderSeq, Labels = labels, DecoderAttentionMask = decoderMask };

    public static TheoryData<string, string> BadInputs() => new()
    {
        { "none", "give decoder_input_ids or labels" },
        { "ids-length", "decoder_input_ids has 3 values, expected 2" },
        { "ids-range", "decoder_input_ids[1] = 110 is outside [0, 110) (decoder vocab_size)" },
        { "labels-length", "labels has 3 values, expected 2" },
        { "labels-ragged", "labels has 3 values, not a whole number of rows for batch 2" },
        { "labels-range", "labels[1] = 110 is outside [0, 110)" },
        { "mask-length", "decoder_attention_mask has 1 values, expected 2" },
        { "mask-value", "decoder_attention_mask holds 2" },
        { "encoder-ids-range", "input_ids[0] = 120 is outside [0, 120)" },
        { "no-encoder-input", "give input_ids (the encoder's tokens) or encoder_outputs" },
        { "encoder-outputs-length", "encoder_outputs has 3 values, expected 160 for shape [1, 5, 32]" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void BadInputsAreNamed(string what, string expected)
    {
        using var model = EncoderDecoderModel.FromPretrained(EncoderDecoderFixture.ModelDir("ed_bs"));
        var inputs = what switch
        {
            "none" => Small(),
            "ids-length" => Small([3, 4, 5], 2),
            "ids-range" => Small([3, 110], 2),
            "labels-length" => Small([3, 4], 2, labels: [3, 4, 5]),
            "labels-ragged" => new EncoderDecoderInputs(2, 5) { InputIds = new int[10], Labels = [3, 4, 5] },
            "labels-range" => Small(labels: [3, 110]),
            "mask-length" => Small([3, 4], 2, decoderMask: [1]),
            "mask-value" => Small([3, 4], 2, decoderMask: [1, 2]),
            "encoder-ids-range" => new EncoderDecoderInputs(1, 2) { InputIds = [120, 3], DecoderInputIds = [3], DecoderSequenceLength = 1 },
            "no-encoder-input" => new EncoderDecoderInputs(1, 2) { DecoderInputIds = [3], DecoderSequenceLength = 1 },
            "encoder-outputs-length" => new EncoderDecoderInputs(1, 5) { EncoderOutputs = [1, 2, 3], DecoderInputIds = [3], DecoderSequenceLength = 1 },
            _ => throw new ArgumentOutOfRangeException(nameof(what)),
        };
        var e = Assert.Throws<BigBirdInputException>(() => model.Forward(inputs));
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("decoder_start_token_id")]
    [InlineData("pad_token_id")]
    public void LabelsWithoutTheTokensToShiftThemAreRefused(string field)
    {
        string dir = Copy("ed_proj", edit: c => c.Remove(field));
        using var model = EncoderDecoderModel.FromPretrained(dir);
        var e = Assert.Throws<BigBirdConfigException>(() => model.Forward(Small(labels: [3, 4])));
        Assert.Contains($"{field} is not set", e.Message);
        // decoder_input_ids make them unnecessary, as in HF
        Assert.NotNull(model.Forward(Small([3, 4], 2, labels: [3, 4])).Loss);
    }

    [Fact]
    public void ShiftTokensRightIsHuggingFaces()
    {
        int[] labels = [7, 8, 9, 10, -100, -100];
        Assert.Equal([2, 7, 8, 2, 10, 0], EncoderDecoderInputs.ShiftTokensRight(labels, 2, 3, padTokenId: 0, decoderStartTokenId: 2));
        Assert.Throws<BigBirdInputException>(() => EncoderDecoderInputs.ShiftTokensRight(labels, 4, 2, 0, 2));
    }

    [Fact]
    public void GivenEncoderOutputsSkipTheEncoder()
    {
        var c = EncoderDecoderFixture.Load("ed_proj_deterministic_labels");
        using var model = EncoderDecoderModel.FromPretrained(c.ModelPath);
        var full = model.Forward(c.Inputs(), c.Options);
        var skipped = model.Forward(new EncoderDecoderInputs(c.Batch, c.Seq)
        {
            EncoderOutputs = full.EncoderLastHiddenState.Data, AttentionMask = c.AttentionMask, Labels = c.Labels,
        }, c.Options);
        Assert.Equal(full.Logits.Data, skipped.Logits.Data);
        Assert.Equal(full.Loss, skipped.Loss);
        Tolerance.AssertAllClose(skipped.Logits.Data, c.Expected("logits"), "logits");
    }

    [Fact]
    public void TheDecoderAttentionMaskChangesNothingAsIn4271()
    {
        var c = EncoderDecoderFixture.Load("ed_bs_decoder_ids_and_labels");
        Assert.Contains(0, c.DecoderAttentionMask!);
        using var model = EncoderDecoderModel.FromPretrained(c.ModelPath);
        var masked = model.Forward(c.Inputs(), c.Options);
        var unmasked = model.Forward(new EncoderDecoderInputs(c.Batch, c.Seq)
        {
            InputIds = c.InputIds, DecoderInputIds = c.DecoderInputIds, DecoderSequenceLength = c.DecoderSeq,
        }, c.Options);
        Assert.Equal(unmasked.Logits.Data, masked.Logits.Data);
    }

    // ---- disposal and cancellation ---------------------------------------------------------------------------------

    [Fact]
    public void DisposedModelRefusesCalls()
    {
        var model = EncoderDecoderModel.FromPretrained(EncoderDecoderFixture.ModelDir("ed_bs"));
        model.Dispose();
        model.Dispose();
        Assert.Throws<ObjectDisposedException>(() => model.Forward(Small([3], 1)));
        Assert.Throws<ObjectDisposedException>(() => model.Generate(Small(), new GenerationConfig { MaxNewTokens = 2 }));
        Assert.Throws<ObjectDisposedException>(() => model.Encoder.Forward(new BigBirdSharp.Modeling.BigBirdInputs(1, 2) { InputIds = [3, 4] }));
    }

    [Fact]
    public void CancelledCallsThrow()
    {
        using var model = EncoderDecoderModel.FromPretrained(EncoderDecoderFixture.ModelDir("ed_bs"));
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.Throws<OperationCanceledException>(() => model.Forward(Small([3], 1), cancellationToken: cancelled.Token));
        Assert.Throws<OperationCanceledException>(() => model.Generate(Small(), new GenerationConfig { MaxNewTokens = 2 }, cancellationToken: cancelled.Token));
        // the model is unharmed
        Assert.Equal(110, model.Forward(Small([3], 1)).Logits.Shape[2]);
    }

    // ---- generation ------------------------------------------------------------------------------------------------

    [Fact]
    public void GenerateRefusesBadSettings()
    {
        using var model = EncoderDecoderModel.FromPretrained(EncoderDecoderFixture.ModelDir("ed_bs"));
        Assert.Contains("generation makes its own decoder inputs",
            Assert.Throws<BigBirdInputException>(() => model.Generate(Small([3], 1), new GenerationConfig())).Message);
        Assert.Contains("max_new_tokens must be non-negative",
            Assert.Throws<BigBirdInputException>(() => model.Generate(Small(), new GenerationConfig { MaxNewTokens = -1 })).Message);
        Assert.Contains("eos_token_id 110 is outside",
            Assert.Throws<BigBirdInputException>(() => model.Generate(Small(), new GenerationConfig { EosTokenId = 110 })).Message);
        Assert.Contains("repetition_penalty must be a positive number",
            Assert.Throws<BigBirdInputException>(() => model.Generate(Small(), new GenerationConfig { RepetitionPenalty = 0 })).Message);
    }

    [Fact]
    public void GenerateWithoutAStartTokenIsRefused()
    {
        string dir = Copy("ed_proj", edit: c => c.Remove("decoder_start_token_id"));
        using (var model = EncoderDecoderModel.FromPretrained(dir))
            Assert.Contains("neither decoder_start_token_id nor bos_token_id",
                Assert.Throws<BigBirdConfigException>(() => model.Generate(Small(), new GenerationConfig { MaxNewTokens = 1 })).Message);
        // bos_token_id stands in for it, as in HF
        Directory.Delete(_dir, recursive: true);
        dir = Copy("ed_proj", edit: c => { c.Remove("decoder_start_token_id"); c["bos_token_id"] = 7; });
        using (var model = EncoderDecoderModel.FromPretrained(dir))
            Assert.Equal(7, model.Generate(Small(), new GenerationConfig { MaxNewTokens = 1 })[0]);
    }

    [Fact]
    public void GenerateInfersTheMaskFromPadTokensAsHuggingFace()
    {
        var c = EncoderDecoderFixture.Load("gen_ed_bs_b2");
        using var model = EncoderDecoderModel.FromPretrained(c.ModelPath);
        var generation = new GenerationConfig { MaxNewTokens = 6, PadTokenId = 0 };
        // the fixture's rows are right-padded with pad 0 and masked; without the mask, HF masks the pad tokens itself
        Assert.Equal(model.Generate(c.EncoderInputs(), generation, c.Options),
                     model.Generate(new EncoderDecoderInputs(c.Batch, c.Seq) { InputIds = c.InputIds }, generation, c.Options));
    }

    // ---- the incremental decoding entry ----------------------------------------------------------------------------

    [Theory]
    [InlineData("ed_bs_padbatch_labels")]
    [InlineData("ed_proj_padbatch_decoder_ids")]
    [InlineData("ed_tied_deterministic_nomask")]
    public void UncachedStepsEqualTheForwardLogitsOfEachPosition(string name)
    {
        // each 4.27.1 decoder position depends only on its token, its position and the encoder, so stepping one token at a
        // time without a cache gives the teacher-forced logits of every position
        var c = EncoderDecoderFixture.Load(name);
        using var model = EncoderDecoderModel.FromPretrained(c.ModelPath);
        var forward = model.Forward(c.Inputs(), c.Options);
        var decoderIds = c.DecoderInputIds ?? EncoderDecoderInputs.ShiftTokensRight(c.Labels!, c.Batch, c.DecoderSeq, model.Config.PadTokenId,
                                                                                    model.Config.DecoderStartTokenId);
        int vocab = model.Config.Decoder.VocabSize, t = c.DecoderSeq;
        var state = model.BeginDecoding(c.EncoderInputs(), 1, useCache: false, c.Options, default);
        for (int s = 0; s < t; s++)
        {
            var step = Enumerable.Range(0, c.Batch).Select(b => decoderIds[b * t + s]).ToArray();
            var logits = model.DecodeStep(state, step, 1, c.Options, default);
            for (int b = 0; b < c.Batch; b++)
                Tolerance.AssertAllClose(logits.AsSpan(b * vocab, vocab), forward.Logits.Data.AsSpan((b * t + s) * vocab, vocab), $"{name} row {b} step {s}",
                                         atol: 1e-5, rtol: 1e-5);
        }
        Assert.Equal(t, state.Length);
    }

    [Fact]
    public void SeveralNewTokensAtOnceEqualTheirLastOneAlone()
    {
        var c = EncoderDecoderFixture.Load("ed_bs_decoder_ids_and_labels");
        using var model = EncoderDecoderModel.FromPretrained(c.ModelPath);
        var forward = model.Forward(c.Inputs(), c.Options);
        int vocab = model.Config.Decoder.VocabSize;
        foreach (bool useCache in new[] { true, false })
        {
            // the first step sits at positions 0..n-1 whether or not HF caches
            var state = model.BeginDecoding(c.EncoderInputs(), 1, useCache, c.Options, default);
            var logits = model.DecodeStep(state, c.DecoderInputIds.AsSpan(0, 4), 4, c.Options, default);
            Tolerance.AssertAllClose(logits, forward.Logits.Data.AsSpan(3 * vocab, vocab), $"use_cache {useCache}", atol: 1e-5, rtol: 1e-5);
            Assert.Equal(4, state.Length);
        }
    }

    [Fact]
    public void CachedStepsAfterTheFirstSitAtTheEncoderLength()
    {
        var c = EncoderDecoderFixture.Load("ed_bs_decoder_ids_and_labels");
        using var model = EncoderDecoderModel.FromPretrained(c.ModelPath);
        var cached = model.BeginDecoding(c.EncoderInputs(), 1, useCache: true, c.Options, default);
        var uncached = model.BeginDecoding(c.EncoderInputs(), 1, useCache: false, c.Options, default);
        Assert.Equal(0, cached.LastPosition(1));
        model.DecodeStep(cached, [5], 1, c.Options, default);
        model.DecodeStep(uncached, [5], 1, c.Options, default);
        Assert.Equal(c.Seq, cached.LastPosition(1));
        Assert.Equal(1, uncached.LastPosition(1));
        // the same token at another position gives other logits: the position is what the two modes differ in
        Assert.NotEqual(model.DecodeStep(cached, [9], 1, c.Options, default), model.DecodeStep(uncached, [9], 1, c.Options, default));
    }

    [Fact]
    public void ReorderingRowsFollowsTheirInputs()
    {
        var c = EncoderDecoderFixture.Load("gen_ed_bs_b2");
        using var model = EncoderDecoderModel.FromPretrained(c.ModelPath);
        int vocab = model.Config.Decoder.VocabSize;
        // 2 inputs × 2 rows each, as beam search expands them
        var state = model.BeginDecoding(c.EncoderInputs(), 2, useCache: true, c.Options, default);
        var first = model.DecodeStep(state, [2, 2, 2, 2], 1, c.Options, default);
        Tolerance.AssertAllClose(first.AsSpan(0, vocab), first.AsSpan(vocab, vocab), "rows of input 0", atol: 1e-6, rtol: 1e-6);
        Tolerance.AssertAllClose(first.AsSpan(2 * vocab, vocab), first.AsSpan(3 * vocab, vocab), "rows of input 1", atol: 1e-6, rtol: 1e-6);
        var before = model.DecodeStep(state, [11, 12, 13, 14], 1, c.Options, default);
        // within each input (what beam search does): nothing moves but the rows' order
        EncoderDecoderModel.ReorderRows(state, [1, 0, 3, 2]);
        Assert.Equal([0, 0, 1, 1], Enumerable.Range(0, 4).Select(state.InputOf));
        // across inputs: row 0 now reads input 1, row 3 input 0
        EncoderDecoderModel.ReorderRows(state, [2, 1, 0, 0]);
        Assert.Equal([1, 0, 0, 0], Enumerable.Range(0, 4).Select(state.InputOf));
        var after = model.DecodeStep(state, [13, 12, 11, 12], 1, c.Options, default);
        Tolerance.AssertAllClose(after.AsSpan(0, vocab), before.AsSpan(2 * vocab, vocab), "row 0 reads input 1", atol: 1e-5, rtol: 1e-5);
        Tolerance.AssertAllClose(after.AsSpan(vocab, vocab), before.AsSpan(vocab, vocab), "row 1", atol: 1e-5, rtol: 1e-5);
        Tolerance.AssertAllClose(after.AsSpan(2 * vocab, vocab), before.AsSpan(0, vocab), "row 2 reads input 0", atol: 1e-5, rtol: 1e-5);
        Tolerance.AssertAllClose(after.AsSpan(3 * vocab, vocab), before.AsSpan(vocab, vocab), "row 3 reads input 0", atol: 1e-5, rtol: 1e-5);
    }

    [Fact]
    public void DecodingEntryRefusesWhatItCannotRun()
    {
        using var model = EncoderDecoderModel.FromPretrained(EncoderDecoderFixture.ModelDir("ed_bs"));
        var state = model.BeginDecoding(Small(), 2, useCache: false, null, default);
        Assert.Contains("a decoding step takes [rows, new tokens] = [2, 1] ids, got 3",
            Assert.Throws<BigBirdInputException>(() => model.DecodeStep(state, [1, 2, 3], 1, null, default)).Message);
        Assert.Contains("decoder token 110 is outside [0, 110)",
            Assert.Throws<BigBirdInputException>(() => model.DecodeStep(state, [1, 110], 1, null, default)).Message);
        Assert.Contains("beam_idx holds 2",
            Assert.Throws<BigBirdInputException>(() => EncoderDecoderModel.ReorderRows(state, [0, 2])).Message);
        Assert.Contains("beam_idx has 1 values",
            Assert.Throws<BigBirdInputException>(() => EncoderDecoderModel.ReorderRows(state, [0])).Message);
        Assert.Contains("rows per input (beams × returned sequences) must be positive",
            Assert.Throws<BigBirdInputException>(() => model.BeginDecoding(Small(), 0, true, null, default)).Message);
        Assert.Contains("outside decoder max_position_embeddings 512; generate fewer tokens",
            Assert.Throws<BigBirdInputException>(() => model.DecodeStep(state, new int[2 * 513], 513, null, default)).Message);
        Assert.Equal(0, state.Steps);
    }

    [Fact]
    public void CachedDecodingBeyondThePositionTableSaysWhy()
    {
        // 4.27.1 embeds every cached step after the first at position encoder_length: a 512-token input leaves no room
        using var model = EncoderDecoderModel.FromPretrained(EncoderDecoderFixture.ModelDir("ed_bs"));
        var ids = Enumerable.Range(0, 512).Select(i => 3 + i % 100).ToArray();
        var state = model.BeginDecoding(new EncoderDecoderInputs(1, 512) { InputIds = ids }, 1, useCache: true, null, default);
        model.DecodeStep(state, [2], 1, null, default);
        var e = Assert.Throws<BigBirdInputException>(() => model.DecodeStep(state, [5], 1, null, default));
        Assert.Contains("position 512", e.Message);
        Assert.Contains("encoder_length (512)", e.Message);
        // without a cache the same step is at position 1
        var uncached = model.BeginDecoding(new EncoderDecoderInputs(1, 512) { InputIds = ids }, 1, useCache: false, null, default);
        model.DecodeStep(uncached, [2], 1, null, default);
        Assert.Equal(110, model.DecodeStep(uncached, [5], 1, null, default).Length);
    }
}
