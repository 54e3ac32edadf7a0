namespace BigBirdSharp.Pipelines;

/// <summary>The entities of one text.</summary>
/// <param name="Text">The input.</param>
/// <param name="Input">How it was encoded (<see cref="PipelineEncoding.Truncated"/> says whether tokens were cut).</param>
/// <param name="Entities">In text order, without those whose label is ignored.</param>
/// <param name="Logits">[seq, num_labels] raw logits of every token, [CLS] and [SEP] included.</param>
public sealed record TokenClassificationResult(string Text, PipelineEncoding Input, IReadOnlyList<TokenClassificationEntity> Entities,
                                               float[] Logits);
