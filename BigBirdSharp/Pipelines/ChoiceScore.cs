namespace BigBirdSharp.Pipelines;

/// <summary>One choice of <see cref="MultipleChoicePipeline"/>'s output.</summary>
/// <param name="Index">Its position in the choices given.</param>
/// <param name="Choice">Its text.</param>
/// <param name="Score">Softmax probability over the choices' logits.</param>
/// <param name="Logit">The head's raw logit.</param>
public sealed record ChoiceScore(int Index, string Choice, float Score, float Logit);
