using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Pipelines;
using BigBirdSharp.RandomAttention;
using BigBirdSharp.Tests.Cli;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Tests.Modeling;

/// <summary>
/// Two checkpoint folders with random F32 weights in model.safetensors (so the weights are memory-mapped views of the
/// file, which an unmapped-too-early model would read after unmapping) and the default model's tokenizer: a 2-layer
/// block_sparse encoder with every task head, and a 2-layer decoder for the key/value cache.
/// </summary>
public sealed class LifetimeCheckpoints : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "bigbird-life-" + Guid.NewGuid().ToString("N"));

    public string Encoder => Path.Combine(_dir, "encoder");
    public string Decoder => Path.Combine(_dir, "decoder");

    public LifetimeCheckpoints()
    {
        // block 16, 2 random blocks: inputs over 144 tokens run block-sparse
        RandomCheckpoint.Write(Encoder, TextCommandTests.DefaultModelSource, Config("block_sparse", isDecoder: false), withTaskHeads: true, seed: 11);
        RandomCheckpoint.Write(Decoder, TextCommandTests.DefaultModelSource, Config("original_full", isDecoder: true), withTaskHeads: true, seed: 12);
    }

    private static Dictionary<string, object> Config(string attention, bool isDecoder) => new()
    {
        ["architectures"] = new[] { "BigBirdForMaskedLM" },
        ["vocab_size"] = 8000, ["hidden_size"] = 16, ["num_hidden_layers"] = 2, ["num_attention_heads"] = 2,
        ["intermediate_size"] = 32, ["max_position_embeddings"] = 512, ["attention_type"] = attention, ["block_size"] = 16,
        ["num_random_blocks"] = 2, ["sep_token_id"] = 5, ["is_decoder"] = isDecoder,
    };

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}

/// <summary>
/// A model's memory outlives every call it admitted; calls after Dispose throw ObjectDisposedException (model, heads,
/// head modules, pipelines); cancellation stops a call between layers or generation steps and leaves the model and its
/// pooled state as a fresh one.
/// </summary>
public sealed class ModelLifetimeTests(LifetimeCheckpoints checkpoints) : IClassFixture<LifetimeCheckpoints>
{
    // a guard against a hang, not a measurement: every wait below ends in well under a second when the code is right
    private static readonly TimeSpan HangGuard = TimeSpan.FromMinutes(2);

    private static BigBirdInputs Ids(int seq, int seed = 1)
    {
        var rng = new Random(seed);
        return new BigBirdInputs(1, seq) { InputIds = [.. Enumerable.Range(0, seq).Select(_ => rng.Next(6, 8000))] };
    }

    private static readonly BigBirdForwardOptions Seeded = new() { RandomAttention = RandomAttentionSemantics.Seeded };

    // ------------------------------------------------------------------------------------------------
    // dispose while calls run
    // ------------------------------------------------------------------------------------------------

    [Fact]
    public void Threads_calling_forward_while_another_disposes_get_the_right_result_or_ObjectDisposedException()
    {
        const int threads = 8, rounds = 4, callsBeforeDispose = 3;
        var inputs = Ids(200); // block-sparse
        for (int round = 0; round < rounds; round++)
        {
            var model = BigBirdModel.FromPretrained(checkpoints.Encoder);
            var expected = model.Forward(inputs, Seeded).LastHiddenState.Data;
            Assert.Equal(AttentionType.BlockSparse, model.Forward(inputs, Seeded).AttentionType);
            using var warmedUp = new CountdownEvent(threads);
            var outcomes = new (int Completed, int Wrong, Exception? Last)[threads];
            var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
            {
                int completed = 0, wrong = 0;
                try
                {
                    // bounded: after Dispose every call throws, so each thread stops at its first call after it
                    for (int call = 0; call < 100_000; call++)
                    {
                        var got = model.Forward(inputs, Seeded).LastHiddenState.Data;
                        if (!got.AsSpan().SequenceEqual(expected)) wrong++;
                        if (++completed == callsBeforeDispose) warmedUp.Signal();
                    }
                }
                catch (Exception e)
                {
                    outcomes[t] = (completed, wrong, e);
                    if (completed < callsBeforeDispose) warmedUp.Signal();
                    return;
                }
                outcomes[t] = (completed, wrong, null);
            })).ToArray();
            foreach (var w in workers) w.Start();
            Assert.True(warmedUp.Wait(HangGuard), "the workers did not get going");
            model.Dispose(); // while the workers are calling
            foreach (var w in workers) Assert.True(w.Join(HangGuard), "a worker hung after Dispose");

            for (int t = 0; t < threads; t++)
            {
                var (completed, wrong, last) = outcomes[t];
                Assert.True(completed >= callsBeforeDispose, $"round {round} thread {t}: {completed} calls before the end, {last}");
                Assert.Equal(0, wrong);
                Assert.IsType<ObjectDisposedException>(last);
            }
            // everything the calls returned to the model was freed, not kept
            Assert.True(model.Lifetime.IsReleased);
            Assert.Equal(0, model.IdleStateCount);
        }
    }

    [Fact]
    public void A_call_in_flight_when_the_model_is_disposed_completes_and_the_memory_goes_when_it_returns()
    {
        var inputs = Ids(200);
        float[] expected;
        using (var fresh = BigBirdModel.FromPretrained(checkpoints.Encoder)) expected = fresh.Forward(inputs, Seeded).LastHiddenState.Data;

        var model = BigBirdModel.FromPretrained(checkpoints.Encoder);
        using var inLayer1 = new ManualResetEventSlim();
        using var disposed = new ManualResetEventSlim();
        var options = Seeded with
        {
            Trace = (name, _) =>
            {
                if (name != "encoder.layer.0.output") return;
                inLayer1.Set();
                Assert.True(disposed.Wait(HangGuard)); // hold the call between layer 0 and layer 1 until Dispose has run
            },
        };
        float[]? got = null;
        Exception? error = null;
        var caller = new Thread(() =>
        {
            try { got = model.Forward(inputs, options).LastHiddenState.Data; }
            catch (Exception e) { error = e; }
        });
        caller.Start();
        Assert.True(inLayer1.Wait(HangGuard));
        model.Dispose();
        Assert.True(model.IsDisposed);
        Assert.False(model.Lifetime.IsReleased); // the weights stay mapped: a call is running
        Assert.Throws<ObjectDisposedException>(() => model.Forward(inputs, Seeded)); // but no new call gets in
        disposed.Set();
        Assert.True(caller.Join(HangGuard));

        Assert.Null(error);
        Assert.Equal(expected, got); // layer 1, the pooler and the download read the mapped weights after Dispose
        Assert.True(model.Lifetime.IsReleased);
        Assert.Equal(0, model.IdleStateCount);
    }

    [Fact]
    public void A_head_disposed_during_its_encoder_still_runs_its_head_modules_on_mapped_weights()
    {
        var inputs = Ids(60);
        float[] expected;
        using (var fresh = BigBirdPreTrainedModel.Load(checkpoints.Encoder, "BigBirdForMaskedLM")) expected = fresh.Forward(inputs).Logits!.Data;

        var head = BigBirdPreTrainedModel.Load(checkpoints.Encoder, "BigBirdForMaskedLM");
        // the LM decoder is tied to the mapped word embeddings and its bias is mapped too
        var options = new BigBirdForwardOptions { Trace = (name, _) => { if (name == "encoder.layer.0.output") head.Dispose(); } };
        var got = head.Forward(inputs, options).Logits!.Data; // disposed from inside its own call: no deadlock
        Assert.Equal(expected, got);
        Assert.True(head.Bert.Lifetime.IsReleased);
        Assert.Throws<ObjectDisposedException>(() => head.Forward(inputs));
    }

    [Fact]
    public void Dispose_twice_does_nothing_and_disposing_a_heads_bert_disposes_the_head()
    {
        var model = BigBirdModel.FromPretrained(checkpoints.Encoder);
        model.Dispose();
        model.Dispose();
        Assert.Throws<ObjectDisposedException>(() => model.Forward(Ids(10)));

        var head = BigBirdPreTrainedModel.Load(checkpoints.Encoder, "BigBirdForSequenceClassification");
        head.Bert.Dispose();
        Assert.Throws<ObjectDisposedException>(() => head.Forward(Ids(10)));
        head.Dispose();
    }

    // ------------------------------------------------------------------------------------------------
    // after Dispose
    // ------------------------------------------------------------------------------------------------

    [Fact]
    public void Forward_after_dispose_throws_ObjectDisposedException_naming_the_model()
    {
        var model = BigBirdModel.FromPretrained(checkpoints.Encoder);
        var word_embeddings = model.Embeddings.WordEmbeddings;
        Assert.Equal(8000 * 16, word_embeddings.Weight.Span.Length);
        model.Dispose();
        var e = Assert.Throws<ObjectDisposedException>(() => model.Forward(Ids(10)));
        Assert.Contains("BigBirdModel", e.Message);
        Assert.Contains("has been disposed", e.Message);
        Assert.Throws<ObjectDisposedException>(() => model.Forward(Ids(200)));
        // a weight view taken from the model refuses to hand out the unmapped memory
        Assert.Throws<ObjectDisposedException>(() => word_embeddings.Weight.Span.Length);
        Assert.Throws<ObjectDisposedException>(() => word_embeddings.Row(3).Length);
    }

    [Theory]
    [InlineData("BigBirdForPreTraining", "pretraining_bs")]
    [InlineData("BigBirdForMaskedLM", null)]
    [InlineData("BigBirdForCausalLM", null)]
    [InlineData("BigBirdForSequenceClassification", null)]
    [InlineData("BigBirdForMultipleChoice", "multichoice_bs")]
    [InlineData("BigBirdForTokenClassification", "tokcls_bs")]
    [InlineData("BigBirdForQuestionAnswering", null)]
    public void Every_head_throws_ObjectDisposedException_after_dispose(string architecture, string? fixture)
    {
        // the random checkpoint has no seq_relationship and no [n, hidden] classifier: those heads come from the head fixtures
        string folder = fixture is null ? checkpoints.Encoder : Path.Combine(RepoPaths.Fixtures, "heads", "models", fixture);
        var head = BigBirdPreTrainedModel.Load(folder, architecture);
        var inputs = new BigBirdInputs(2, 12) { InputIds = [.. Enumerable.Range(0, 24).Select(i => 6 + i)], NumChoices = 2 };
        Assert.NotNull(head.Forward(inputs));
        head.Dispose();
        var e = Assert.Throws<ObjectDisposedException>(() => head.Forward(inputs));
        Assert.Contains(architecture, e.Message);
        Assert.Throws<ObjectDisposedException>(() => head.Bert.Forward(inputs));
        switch (head)
        {
            case BigBirdForMaskedLM mlm:
                Assert.Throws<ObjectDisposedException>(() => mlm.Cls.Predictions.Forward(new float[16], 1));
                break;
            case BigBirdForPreTraining pre:
                Assert.Throws<ObjectDisposedException>(() => pre.Cls.Predictions.Forward(new float[16], 1));
                break;
            case BigBirdForCausalLM causal:
                Assert.Throws<ObjectDisposedException>(() => causal.Cls.Predictions.Forward(new float[16], 1));
                Assert.Throws<ObjectDisposedException>(() => causal.Generate(Ids(4), new GenerationConfig { MaxNewTokens = 2 }));
                break;
            case BigBirdForSequenceClassification cls:
                Assert.Throws<ObjectDisposedException>(() => cls.Classifier.Forward(new FloatTensor(new float[16], 1, 1, 16)));
                break;
            case BigBirdForQuestionAnswering qa:
                Assert.Throws<ObjectDisposedException>(() => qa.QaClassifier.Forward(new float[16], 1));
                break;
        }
    }

    [Fact]
    public void Every_pipeline_throws_ObjectDisposedException_after_its_model_is_disposed()
    {
        var tokenizer = BigBirdTokenizer.FromPretrained(checkpoints.Encoder);
        var bare = BigBirdModel.FromPretrained(checkpoints.Encoder);
        var mlm = BigBirdPreTrainedModel.Load(checkpoints.Encoder, "BigBirdForMaskedLM");
        var cls = (BigBirdForSequenceClassification)BigBirdPreTrainedModel.Load(checkpoints.Encoder, "BigBirdForSequenceClassification");
        var qa = (BigBirdForQuestionAnswering)BigBirdPreTrainedModel.Load(checkpoints.Encoder, "BigBirdForQuestionAnswering");
        var causal = (BigBirdForCausalLM)BigBirdPreTrainedModel.Load(checkpoints.Decoder, "BigBirdForCausalLM");
        var embed = new FeatureExtractionPipeline(bare, tokenizer);
        var fill = new FillMaskPipeline(mlm, tokenizer);
        var classify = new TextClassificationPipeline(cls, tokenizer);
        var answer = new QuestionAnsweringPipeline(qa, tokenizer);
        var generate = new TextGenerationPipeline(causal, tokenizer);
        var g = new GenerationConfig { MaxNewTokens = 3 };
        // they work before
        Assert.Equal(16, embed.Run("In the beginning God created the heaven.").Vector.Length);
        Assert.NotEmpty(fill.Run("In the beginning God created the [MASK].").Masks);
        Assert.Equal(2, classify.Run("In the beginning.").Labels.Count);
        Assert.NotEmpty(answer.Run("Who created?", "In the beginning God created the heaven.").Answers);
        Assert.NotNull(generate.Run("In the beginning", g).GeneratedText);

        foreach (var model in new IDisposable[] { bare, mlm, cls, qa, causal }) model.Dispose();
        Assert.Throws<ObjectDisposedException>(() => embed.Run("In the beginning God created the heaven."));
        Assert.Throws<ObjectDisposedException>(() => fill.Run("In the beginning God created the [MASK]."));
        Assert.Throws<ObjectDisposedException>(() => classify.Run("In the beginning."));
        Assert.Throws<ObjectDisposedException>(() => answer.Run("Who created?", "In the beginning God created the heaven."));
        Assert.Throws<ObjectDisposedException>(() => generate.Run("In the beginning", g));
    }

    // ------------------------------------------------------------------------------------------------
    // cancellation
    // ------------------------------------------------------------------------------------------------

    [Fact]
    public void A_cancelled_token_stops_forward_before_any_work()
    {
        using var model = BigBirdModel.FromPretrained(checkpoints.Encoder);
        var traced = new List<string>();
        var options = Seeded with { Trace = (name, _) => traced.Add(name) };
        var e = Assert.ThrowsAny<OperationCanceledException>(() => model.Forward(Ids(200), options, new CancellationToken(canceled: true)));
        Assert.True(e.CancellationToken.IsCancellationRequested);
        Assert.Empty(traced);
        Assert.Equal(0, model.IdleStateCount); // no state was even rented
    }

    [Theory]
    [InlineData(200)] // block_sparse
    [InlineData(40)]  // original_full
    public void Cancelled_between_layers_the_model_then_matches_a_fresh_one_bit_for_bit(int seq)
    {
        var inputs = Ids(seq, seed: seq);
        BigBirdModelOutput expected;
        using (var fresh = BigBirdModel.FromPretrained(checkpoints.Encoder)) expected = fresh.Forward(inputs, Seeded);

        using var model = BigBirdModel.FromPretrained(checkpoints.Encoder);
        using var source = new CancellationTokenSource();
        var traced = new List<string>();
        var options = Seeded with
        {
            Trace = (name, _) =>
            {
                traced.Add(name);
                if (name == "encoder.layer.0.output") source.Cancel(); // after layer 0, before layer 1
            },
        };
        var e = Assert.ThrowsAny<OperationCanceledException>(() => model.Forward(inputs, options, source.Token));
        Assert.Equal(source.Token, e.CancellationToken);
        Assert.Contains("encoder.layer.0.output", traced);
        Assert.DoesNotContain(traced, n => n.StartsWith("encoder.layer.1.", StringComparison.Ordinal) || n == "pooler");
        Assert.Equal(1, model.IdleStateCount); // the run state went back to the pool, and the next call reuses it

        var again = model.Forward(inputs, Seeded);
        Assert.Equal(1, model.IdleStateCount);
        Assert.Equal(expected.LastHiddenState.Data, again.LastHiddenState.Data);
        Assert.Equal(expected.PoolerOutput!.Data, again.PoolerOutput!.Data);
    }

    [Fact]
    public void A_head_cancelled_between_layers_then_matches_a_fresh_one()
    {
        var inputs = Ids(60);
        float[] expected;
        using (var fresh = BigBirdPreTrainedModel.Load(checkpoints.Encoder, "BigBirdForQuestionAnswering")) expected = fresh.Forward(inputs).StartLogits!.Data;

        using var head = BigBirdPreTrainedModel.Load(checkpoints.Encoder, "BigBirdForQuestionAnswering");
        using var source = new CancellationTokenSource();
        var options = new BigBirdForwardOptions { Trace = (name, _) => { if (name == "encoder.layer.0.output") source.Cancel(); } };
        Assert.ThrowsAny<OperationCanceledException>(() => head.Forward(inputs, options, source.Token));
        Assert.ThrowsAny<OperationCanceledException>(() => head.Forward(inputs, null, source.Token));
        Assert.Equal(expected, head.Forward(inputs).StartLogits!.Data);
    }

    [Fact]
    public void A_step_cancelled_between_layers_leaves_the_key_value_cache_as_it_was()
    {
        var prompt = Ids(9, seed: 3);
        var step = new BigBirdInputs(1, 1) { InputIds = [77] };
        using var model = BigBirdModel.FromPretrained(checkpoints.Decoder);
        Assert.True(model.Config.IsDecoder);

        // reference: prompt, then the step, on a fresh cache
        var reference = new BigBirdKeyValueCache(model.Config, 1, 32);
        model.Forward(new BigBirdInputs(1, 9) { InputIds = prompt.InputIds, PastKeyValues = reference });
        var expected = model.Forward(new BigBirdInputs(1, 1) { InputIds = step.InputIds, PastKeyValues = reference }).LastHiddenState.Data;

        var cache = new BigBirdKeyValueCache(model.Config, 1, 32);
        model.Forward(new BigBirdInputs(1, 9) { InputIds = prompt.InputIds, PastKeyValues = cache });
        using var source = new CancellationTokenSource();
        var options = new BigBirdForwardOptions { Trace = (name, _) => { if (name == "encoder.layer.0.output") source.Cancel(); } };
        // layer 0 has already written the step's keys and values into the cache when the call stops
        Assert.ThrowsAny<OperationCanceledException>(() =>
            model.Forward(new BigBirdInputs(1, 1) { InputIds = step.InputIds, PastKeyValues = cache }, options, source.Token));
        Assert.Equal(9, cache.Length);

        var got = model.Forward(new BigBirdInputs(1, 1) { InputIds = step.InputIds, PastKeyValues = cache }).LastHiddenState.Data;
        Assert.Equal(expected, got);
        Assert.Equal(10, cache.Length);
        for (int layer = 0; layer < 2; layer++)
        {
            Assert.Equal(reference.KeyLayer(layer).Data, cache.KeyLayer(layer).Data);
            Assert.Equal(reference.ValueLayer(layer).Data, cache.ValueLayer(layer).Data);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Generation_cancelled_between_steps_stops_there_and_the_next_generation_matches_a_fresh_one(bool useCache)
    {
        var prompt = Ids(6, seed: 5);
        var g = new GenerationConfig { MaxNewTokens = 5, UseCache = useCache };
        int[] expected;
        using (var fresh = (BigBirdForCausalLM)BigBirdPreTrainedModel.Load(checkpoints.Decoder, "BigBirdForCausalLM")) expected = fresh.Generate(prompt, g);
        Assert.Equal(11, expected.Length);

        using var causal = (BigBirdForCausalLM)BigBirdPreTrainedModel.Load(checkpoints.Decoder, "BigBirdForCausalLM");
        using var source = new CancellationTokenSource();
        int steps = 0;
        // each step's forward begins with "embeddings"; cancel once the second step has finished (at its pooler-free end)
        var options = new BigBirdForwardOptions
        {
            Trace = (name, _) =>
            {
                if (name == "encoder.layer.1.output" && ++steps == 2) source.Cancel();
            },
        };
        Assert.ThrowsAny<OperationCanceledException>(() => causal.Generate(prompt, g, options, source.Token));
        Assert.Equal(2, steps); // the third step never started
        Assert.Equal(expected, causal.Generate(prompt, g));
    }

    [Fact]
    public void Every_pipeline_honours_a_cancelled_token()
    {
        var tokenizer = BigBirdTokenizer.FromPretrained(checkpoints.Encoder);
        using var bare = BigBirdModel.FromPretrained(checkpoints.Encoder);
        using var mlm = BigBirdPreTrainedModel.Load(checkpoints.Encoder, "BigBirdForMaskedLM");
        using var cls = (BigBirdForSequenceClassification)BigBirdPreTrainedModel.Load(checkpoints.Encoder, "BigBirdForSequenceClassification");
        using var qa = (BigBirdForQuestionAnswering)BigBirdPreTrainedModel.Load(checkpoints.Encoder, "BigBirdForQuestionAnswering");
        using var causal = (BigBirdForCausalLM)BigBirdPreTrainedModel.Load(checkpoints.Decoder, "BigBirdForCausalLM");
        var cancelled = new CancellationToken(canceled: true);
        Assert.ThrowsAny<OperationCanceledException>(() => new FeatureExtractionPipeline(bare, tokenizer).Run("In the beginning.", cancellationToken: cancelled));
        Assert.ThrowsAny<OperationCanceledException>(() => new FillMaskPipeline(mlm, tokenizer).Run("In the [MASK].", cancellationToken: cancelled));
        Assert.ThrowsAny<OperationCanceledException>(() => new TextClassificationPipeline(cls, tokenizer).Run("In the beginning.", cancellationToken: cancelled));
        Assert.ThrowsAny<OperationCanceledException>(() =>
            new QuestionAnsweringPipeline(qa, tokenizer).Run("Who?", "In the beginning God created the heaven.", cancellationToken: cancelled));
        Assert.ThrowsAny<OperationCanceledException>(() =>
            new TextGenerationPipeline(causal, tokenizer).Run("In the beginning", new GenerationConfig { MaxNewTokens = 2 }, cancellationToken: cancelled));

        // a long context is read in several windows; cancelling after the first window's encoder stops the rest
        string context = string.Concat(Enumerable.Range(0, 120).Select(i => $"God created the heaven number {i}. "));
        var answer = new QuestionAnsweringPipeline(qa, tokenizer);
        var expected = answer.Run("Who created?", context);
        Assert.True(expected.Windows >= 2, $"{expected.Windows} windows");
        using var source = new CancellationTokenSource();
        int windows = 0;
        var options = new BigBirdForwardOptions { Trace = (name, _) => { if (name == "encoder.layer.1.output" && ++windows == 1) source.Cancel(); } };
        Assert.ThrowsAny<OperationCanceledException>(() => answer.Run("Who created?", context, options: options, cancellationToken: source.Token));
        Assert.Equal(1, windows);
        Assert.Equal(expected.Answers, answer.Run("Who created?", context).Answers);
    }

    // ------------------------------------------------------------------------------------------------
    // many threads, one model
    // ------------------------------------------------------------------------------------------------

    [Fact]
    public void Thirty_two_threads_on_one_model_give_the_sequential_bits()
    {
        const int threads = 32;
        using var model = BigBirdModel.FromPretrained(Path.Combine(RepoPaths.Models, "bs_h32_a4_l2_b4_r2"));
        // a block-sparse shape, a full-attention shape and a batch, each thread running all three in its own order
        BigBirdInputs[] inputs =
        [
            new(1, 77) { InputIds = [.. Enumerable.Range(0, 77).Select(i => (i * 13) % 90)] },
            new(1, 20) { InputIds = [.. Enumerable.Range(0, 20).Select(i => (i * 7 + 3) % 90)] },
            new(2, 45) { InputIds = [.. Enumerable.Range(0, 90).Select(i => (i * 11 + 1) % 90)], AttentionMask = [.. Enumerable.Range(0, 90).Select(i => i % 45 < 40 ? 1 : 0)] },
        ];
        var expected = inputs.Select(i => model.Forward(i, Seeded)).ToArray();
        Assert.Equal(AttentionType.BlockSparse, expected[0].AttentionType);
        Assert.Equal(AttentionType.OriginalFull, expected[1].AttentionType);

        var results = new BigBirdModelOutput[threads, inputs.Length];
        var errors = new Exception?[threads];
        using var start = new Barrier(threads);
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            try
            {
                start.SignalAndWait();
                for (int k = 0; k < inputs.Length; k++)
                {
                    int which = (t + k) % inputs.Length;
                    results[t, which] = model.Forward(inputs[which], Seeded);
                }
            }
            catch (Exception e) { errors[t] = e; }
        })).ToArray();
        foreach (var w in workers) w.Start();
        foreach (var w in workers) Assert.True(w.Join(HangGuard));
        for (int t = 0; t < threads; t++)
        {
            Assert.Null(errors[t]);
            for (int k = 0; k < inputs.Length; k++)
            {
                Assert.Equal(expected[k].LastHiddenState.Data, results[t, k].LastHiddenState.Data);
                Assert.Equal(expected[k].PoolerOutput!.Data, results[t, k].PoolerOutput!.Data);
            }
        }
    }
}
