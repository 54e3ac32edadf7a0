namespace BigBirdSharp.Pipelines;

/// <summary>How <see cref="TokenClassificationPipeline"/> fuses tokens into entities (HF's <c>aggregation_strategy</c>,
/// transformers 4.27.1 <c>pipelines/token_classification.py</c>).</summary>
public enum AggregationStrategy
{
    /// <summary>One entity per token, with its full label (<c>B-PER</c>) and its index (HF <c>"none"</c>, the default).</summary>
    None,
    /// <summary>Adjacent tokens of the same tag are grouped, and a <c>B-</c> label starts a new group (HF <c>"simple"</c>).
    /// A word split into pieces may end up in several groups.</summary>
    Simple,
    /// <summary>As <see cref="Simple"/>, after each word takes the label of its first token (HF <c>"first"</c>).</summary>
    First,
    /// <summary>As <see cref="Simple"/>, after each word takes the best label of its tokens' averaged scores (HF
    /// <c>"average"</c>).</summary>
    Average,
    /// <summary>As <see cref="Simple"/>, after each word takes the label of its most confident token (HF <c>"max"</c>).</summary>
    Max,
}
