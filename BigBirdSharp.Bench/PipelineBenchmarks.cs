using BenchmarkDotNet.Attributes;
using BigBirdSharp.Configuration;
using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Pipelines;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Bench;

/// <summary>
/// What a user of <c>bigbird fill-mask</c> and <c>bigbird qa</c> waits for on the embedded default model
/// (fixtures/default_model/model: 4 layers × 256, block 16): tokenize, forward and decode one document of
/// <see cref="Tokens"/> tokens, block-sparse and full.
/// </summary>
[MemoryDiagnoser]
public class PipelineBenchmarks
{
    private BigBirdPreTrainedModel mlm = null!, qa = null!;
    private FillMaskPipeline fillMask = null!;
    private QuestionAnsweringPipeline questionAnswering = null!;
    private string document = "", context = "";
    private BigBirdForwardOptions options = null!;

    /// <summary>Document length in tokens ([CLS] and [SEP] included).</summary>
    [Params(128, 512)]
    public int Tokens { get; set; }

    /// <summary>Attention type (a 128-token input falls back to full attention under block_sparse, as in HF).</summary>
    [Params("block_sparse", "original_full")]
    public string Attention { get; set; } = "block_sparse";

    /// <summary>Loads the default model and builds a document of exactly <see cref="Tokens"/> tokens.</summary>
    [GlobalSetup]
    public void Setup()
    {
        string? root = null;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "BigBirdSharp.sln"))) { root = dir.FullName; break; }
        string folder = Path.Combine(root ?? throw new InvalidOperationException("cannot find BigBirdSharp.sln"), "fixtures", "default_model", "model");
        var tokenizer = BigBirdTokenizer.FromPretrained(folder);
        mlm = BigBirdPreTrainedModel.Load(folder, "BigBirdForMaskedLM");
        fillMask = new FillMaskPipeline(mlm, tokenizer);
        const string verse = "And the children of Israel went out of the land of Egypt with a high hand. ";
        var words = new List<string> { "And", "the", "[MASK]", "said" };
        while (tokenizer.Encode(string.Join(' ', words)).Length < Tokens) words.AddRange(verse.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        while (tokenizer.Encode(string.Join(' ', words)).Length > Tokens) words.RemoveAt(words.Count - 1);
        document = string.Join(' ', words);
        context = document.Replace("[MASK]", "LORD", StringComparison.Ordinal);
        if (File.Exists(Path.Combine(folder, "model.safetensors.index.json")))
        {
            qa = BigBirdPreTrainedModel.Load(folder, "BigBirdForQuestionAnswering");
            questionAnswering = new QuestionAnsweringPipeline((BigBirdForQuestionAnswering)qa, tokenizer);
        }
        options = new BigBirdForwardOptions { AttentionType = BigBirdConfig.ParseAttentionType(Attention, "Attention") };
    }

    /// <summary>Releases the models.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        mlm.Dispose();
        qa?.Dispose();
    }

    /// <summary>fill-mask: top 5 for the one [MASK].</summary>
    [Benchmark]
    public float FillMask() => fillMask.Run(document, 5, OverlongInput.Reject, options).Masks[0].Candidates[0].Score;

    /// <summary>qa: the best span for a question over the document (the default model's QA head).</summary>
    [Benchmark]
    public float QuestionAnswering() => questionAnswering?.Run("Who said?", context, 1, 30, OverlongInput.Truncate, options).Answers[0].Score ?? 0;
}
