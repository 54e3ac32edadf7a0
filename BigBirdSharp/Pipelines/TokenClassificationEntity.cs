namespace BigBirdSharp.Pipelines;

/// <summary>One token, or one group of tokens, of <see cref="TokenClassificationPipeline"/>'s output, with HF's fields.</summary>
/// <param name="Entity">The label: config <c>id2label</c>'s name for one token (HF <c>entity</c>, e.g. <c>B-PER</c>);
/// for a group, its tag without the <c>B-</c>/<c>I-</c> prefix (HF <c>entity_group</c>, e.g. <c>PER</c>).</param>
/// <param name="Score">The label's softmax probability; for a group, the mean over its tokens or words.</param>
/// <param name="Index">The token's position in <see cref="TokenClassificationResult.Input"/> ([CLS] is 0) under
/// <see cref="AggregationStrategy.None"/>; null for groups (HF has no <c>index</c> there).</param>
/// <param name="Word">The token as the vocabulary spells it (<c>▁Hello</c>; an unknown token is the text it covers);
/// for a group, its tokens joined as the tokenizer's <c>convert_tokens_to_string</c> joins them.</param>
/// <param name="Start">Where it starts in the text (UTF-16 code units; HF counts code points).</param>
/// <param name="End">One past its end.</param>
public sealed record TokenClassificationEntity(string Entity, float Score, int? Index, string Word, int Start, int End)
{
    /// <summary>True for a group (<see cref="AggregationStrategy"/> other than <see cref="AggregationStrategy.None"/>),
    /// whose <see cref="Entity"/> is HF's <c>entity_group</c>.</summary>
    public bool IsGroup => Index is null;
}
