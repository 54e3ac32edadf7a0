namespace BigBirdSharp.Pipelines;

/// <summary>The choices of one prompt, scored.</summary>
/// <param name="Prompt">The prompt (or context) every choice was paired with.</param>
/// <param name="Inputs">Per choice, in the order given: <c>[CLS] prompt [SEP] choice [SEP]</c> as encoded, before padding.</param>
/// <param name="Choices">Every choice, highest score first (ties: the earlier choice first).</param>
public sealed record MultipleChoiceResult(string Prompt, IReadOnlyList<PipelineEncoding> Inputs, IReadOnlyList<ChoiceScore> Choices);
