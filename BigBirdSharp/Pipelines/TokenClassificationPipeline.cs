using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Pipelines;

/// <summary>
/// HF's <c>token-classification</c> (<c>ner</c>) pipeline on a <see cref="BigBirdForTokenClassification"/>, as
/// transformers 4.27.1 <c>pipelines/token_classification.py</c> computes it: a softmax over each token's logits, the
/// label names of config.json's <c>id2label</c>, [CLS]/[SEP] left out, then the <see cref="AggregationStrategy"/>'s
/// grouping and the <c>ignore_labels</c> filter.
/// <para>Words. <see cref="AggregationStrategy.First"/>, <see cref="AggregationStrategy.Average"/> and
/// <see cref="AggregationStrategy.Max"/> need to know which tokens form a word. BigBird's SentencePiece vocabulary has
/// no continuing-subword prefix, so HF decides it with its fallback rule, and so do we: a token continues the word
/// before it unless it starts the text, or a space (U+0020) is just before it or is its first character; an unknown
/// token always starts a word. Punctuation written against a word (<c>Hello,</c>) therefore joins it. HF refuses these
/// three strategies with its slow BigBird tokenizer (it has no offsets); our tokenizer has them, as HF's fast one does.</para>
/// <para>Unlike HF, a model whose config.json has no <c>id2label</c> is refused (HF would name its labels
/// <c>LABEL_0</c>, <c>LABEL_1</c>, ..., which neither <c>ignore_labels</c> nor the B-/I- grouping can use).</para>
/// Immutable and thread-safe.
/// </summary>
public sealed class TokenClassificationPipeline
{
    private readonly BigBirdForTokenClassification model;
    private readonly BigBirdTokenizer tokenizer;
    private readonly string[] labels;

    /// <summary>HF's default <c>ignore_labels</c>: <c>["O"]</c>.</summary>
    public static IReadOnlyList<string> DefaultIgnoreLabels { get; } = ["O"];

    /// <summary>Wraps a token-classification head and its tokenizer.</summary>
    /// <exception cref="ArgumentException">The head is not a <see cref="BigBirdForTokenClassification"/>.</exception>
    /// <exception cref="BigBirdConfigException">config.json has no <c>id2label</c>, or it names fewer labels than the
    /// classifier has.</exception>
    public TokenClassificationPipeline(BigBirdPreTrainedModel model, BigBirdTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        this.model = model as BigBirdForTokenClassification
            ?? throw new ArgumentException($"token classification needs BigBirdForTokenClassification, not {model.Architecture}", nameof(model));
        var config = model.Config;
        if (config.Id2Label.Count == 0)
            throw new BigBirdConfigException(
                "config.json has no id2label: token classification needs the names of the model's labels (e.g. " +
                "{\"0\": \"O\", \"1\": \"B-PER\", \"2\": \"I-PER\"}) to report and group entities; add id2label to config.json.");
        labels = new string[config.NumLabels];
        for (int i = 0; i < labels.Length; i++)
            labels[i] = config.Id2Label.TryGetValue(i, out var name) ? name
                : throw new BigBirdConfigException(
                    $"config.json's id2label has no label {i}; the classifier has {config.NumLabels} labels (0 to {config.NumLabels - 1}), and each needs a name.");
        this.tokenizer = tokenizer;
    }

    /// <summary>Labels every token of <paramref name="text"/> and groups them by <paramref name="aggregationStrategy"/>.</summary>
    /// <param name="text">The text.</param>
    /// <param name="aggregationStrategy">How tokens become entities (HF's default: none).</param>
    /// <param name="ignoreLabels">Entities with these labels (<see cref="TokenClassificationEntity.Entity"/>) are
    /// dropped; null for HF's default, <see cref="DefaultIgnoreLabels"/>; empty to keep every one.</param>
    /// <param name="overlong">A text longer than <c>max_position_embeddings</c> is cut to it (HF's <c>truncation=True</c>), or refused.</param>
    /// <param name="options">Per-call model settings; null for the defaults.</param>
    /// <param name="cancellationToken">Checked before the model runs and between its layers.</param>
    /// <exception cref="BigBirdInputException">Empty text, or too long under <see cref="OverlongInput.Reject"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public TokenClassificationResult Run(string text, AggregationStrategy aggregationStrategy = AggregationStrategy.None,
                                         IReadOnlyCollection<string>? ignoreLabels = null, OverlongInput overlong = OverlongInput.Truncate,
                                         BigBirdForwardOptions? options = null, CancellationToken cancellationToken = default)
    {
        if (!Enum.IsDefined(aggregationStrategy))
            throw new ArgumentOutOfRangeException(nameof(aggregationStrategy), aggregationStrategy, "not an aggregation strategy");
        var input = PipelineEncoding.Encode(tokenizer, model.Config, text, null, overlong, "the text");
        var logits = model.Forward(input.ToInputs(), options, cancellationToken).Logits!.Data; // [1, seq, num_labels]
        var preEntities = GatherPreEntities(text, input.Encoding, logits);
        var entities = aggregationStrategy is AggregationStrategy.None or AggregationStrategy.Simple
            ? preEntities.Select(p => TokenEntity(p)).ToList()
            : AggregateWords(preEntities, aggregationStrategy);
        if (aggregationStrategy != AggregationStrategy.None) entities = GroupEntities(entities);
        ignoreLabels ??= DefaultIgnoreLabels;
        return new TokenClassificationResult(text, input, [.. entities.Where(e => !ignoreLabels.Contains(e.Entity))], logits);
    }

    /// <summary>A token with what aggregation needs: its softmax scores and whether it continues the word before it.</summary>
    private sealed record PreEntity(string Word, float[] Scores, int Start, int End, int Index, bool IsSubword);

    /// <summary>HF's <c>gather_pre_entities</c>: every token but the added special ones.</summary>
    private List<PreEntity> GatherPreEntities(string text, TokenizerEncoding encoding, float[] logits)
    {
        int num_labels = labels.Length;
        var pre = new List<PreEntity>(encoding.Length);
        for (int idx = 0; idx < encoding.Length; idx++)
        {
            if (encoding.SequenceIds[idx] < 0) continue; // [CLS], [SEP]: HF's special_tokens_mask
            int id = encoding.InputIds[idx];
            var (start, end) = encoding.Offsets[idx];
            string word = tokenizer.ConvertIdsToTokens([id])[0];
            // HF's fallback word rule (no continuing-subword prefix in a SentencePiece vocabulary)
            bool isSubword = start > 0 && text[start - 1] != ' ' && (start >= text.Length || text[start] != ' ');
            if (id == tokenizer.UnkTokenId)
            {
                word = text[start..end];
                isSubword = false;
            }
            var scores = Scores.Softmax(logits.AsSpan(idx * num_labels, num_labels));
            pre.Add(new PreEntity(word, scores, start, end, idx, isSubword));
        }
        return pre;
    }

    private TokenClassificationEntity TokenEntity(PreEntity p)
    {
        int best = ArgMax(p.Scores);
        return new TokenClassificationEntity(labels[best], p.Scores[best], p.Index, p.Word, p.Start, p.End);
    }

    /// <summary>HF's <c>aggregate_words</c>: the tokens of each word agree on one label.</summary>
    private List<TokenClassificationEntity> AggregateWords(List<PreEntity> pre, AggregationStrategy strategy)
    {
        var words = new List<TokenClassificationEntity>();
        int first = 0;
        for (int i = 1; i <= pre.Count; i++)
        {
            if (i < pre.Count && pre[i].IsSubword) continue;
            if (i > first) words.Add(AggregateWord(pre.GetRange(first, i - first), strategy));
            first = i;
        }
        return words;
    }

    /// <summary>HF's <c>aggregate_word</c>.</summary>
    private TokenClassificationEntity AggregateWord(List<PreEntity> tokens, AggregationStrategy strategy)
    {
        string word = tokenizer.ConvertTokensToString([.. tokens.Select(t => t.Word)]);
        float[] scores;
        switch (strategy)
        {
            case AggregationStrategy.First:
                scores = tokens[0].Scores;
                break;
            case AggregationStrategy.Max:
                // the token whose best score is highest (the first of equals)
                scores = tokens[0].Scores;
                foreach (var t in tokens)
                    if (t.Scores.Max() > scores.Max()) scores = t.Scores;
                break;
            default: // Average
                scores = new float[labels.Length];
                for (int l = 0; l < scores.Length; l++)
                {
                    double sum = 0;
                    foreach (var t in tokens) sum += t.Scores[l];
                    scores[l] = (float)(sum / tokens.Count);
                }
                break;
        }
        int best = ArgMax(scores);
        return new TokenClassificationEntity(labels[best], scores[best], null, word, tokens[0].Start, tokens[^1].End);
    }

    /// <summary>HF's <c>group_entities</c>: adjacent entities of one tag form a group, and a <c>B-</c> label starts a new
    /// one; a label without a <c>B-</c>/<c>I-</c> prefix counts as <c>I-</c>.</summary>
    private List<TokenClassificationEntity> GroupEntities(List<TokenClassificationEntity> entities)
    {
        var groups = new List<TokenClassificationEntity>();
        var current = new List<TokenClassificationEntity>();
        foreach (var entity in entities)
        {
            if (current.Count > 0)
            {
                var (bi, tag) = GetTag(entity.Entity);
                var (_, lastTag) = GetTag(current[^1].Entity);
                if (tag != lastTag || bi == 'B')
                {
                    groups.Add(GroupSubEntities(current));
                    current.Clear();
                }
            }
            current.Add(entity);
        }
        if (current.Count > 0) groups.Add(GroupSubEntities(current));
        return groups;
    }

    /// <summary>HF's <c>group_sub_entities</c>: the group's tag is the first label's text after its last '-'.</summary>
    private TokenClassificationEntity GroupSubEntities(List<TokenClassificationEntity> entities)
    {
        string label = entities[0].Entity;
        string group = label[(label.LastIndexOf('-') + 1)..];
        double sum = 0;
        foreach (var e in entities) sum += e.Score;
        string word = tokenizer.ConvertTokensToString([.. entities.Select(e => e.Word)]);
        return new TokenClassificationEntity(group, (float)(sum / entities.Count), null, word, entities[0].Start, entities[^1].End);
    }

    /// <summary>HF's <c>get_tag</c>.</summary>
    private static (char Bi, string Tag) GetTag(string label) =>
        label.StartsWith("B-", StringComparison.Ordinal) ? ('B', label[2..])
        : label.StartsWith("I-", StringComparison.Ordinal) ? ('I', label[2..])
        : ('I', label);

    /// <summary>numpy's argmax: the first of equal maxima.</summary>
    private static int ArgMax(float[] values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best]) best = i;
        return best;
    }
}
