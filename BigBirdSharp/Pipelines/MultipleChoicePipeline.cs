using BigBirdSharp.Modeling;
using BigBirdSharp.Modeling.Heads;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Pipelines;

/// <summary>
/// Scores the answers to one prompt with a <see cref="BigBirdForMultipleChoice"/>. HF has no pipeline for this head;
/// this one is ours, and runs the head the way HF's documentation of <c>BigBirdForMultipleChoice</c> does: the prompt
/// is paired with each choice (<c>[CLS] prompt [SEP] choice [SEP]</c>), the pairs are padded together to the longest
/// one and given to the head as one example of <c>num_choices</c> rows (input_ids [1, num_choices, seq]), and a softmax
/// over the [1, num_choices] logits gives each choice's score. As there, every token type is 0: HF's BigBird tokenizer
/// returns no <c>token_type_ids</c> (its <c>model_input_names</c> are input_ids and attention_mask). A pair longer than <c>max_position_embeddings</c> is cut
/// (the longer of prompt and choice first, HF's longest_first) or refused. Immutable and thread-safe.
/// </summary>
public sealed class MultipleChoicePipeline
{
    private readonly BigBirdForMultipleChoice model;
    private readonly BigBirdTokenizer tokenizer;

    /// <summary>Wraps a multiple-choice head and its tokenizer.</summary>
    /// <exception cref="ArgumentException">The head is not a <see cref="BigBirdForMultipleChoice"/>.</exception>
    public MultipleChoicePipeline(BigBirdPreTrainedModel model, BigBirdTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        this.model = model as BigBirdForMultipleChoice
            ?? throw new ArgumentException($"multiple choice needs BigBirdForMultipleChoice, not {model.Architecture}", nameof(model));
        this.tokenizer = tokenizer;
    }

    /// <summary>Scores each of <paramref name="choices"/> as the answer to <paramref name="prompt"/>.</summary>
    /// <param name="prompt">The question, or the context and question, shared by every choice.</param>
    /// <param name="choices">The candidate answers; at least one.</param>
    /// <param name="overlong">A pair longer than <c>max_position_embeddings</c> is cut, or refused.</param>
    /// <param name="options">Per-call model settings; null for the defaults.</param>
    /// <param name="cancellationToken">Checked before the model runs and between its layers.</param>
    /// <exception cref="BigBirdInputException">No choices, an empty prompt or choice, a pair too long under
    /// <see cref="OverlongInput.Reject"/>, or more choices than one call can hold.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public MultipleChoiceResult Run(string prompt, IReadOnlyList<string> choices, OverlongInput overlong = OverlongInput.Truncate,
                                    BigBirdForwardOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(choices);
        if (choices.Count == 0) throw new BigBirdInputException("there are no choices; give at least one answer to score.");
        if (string.IsNullOrWhiteSpace(prompt)) throw new BigBirdInputException("the prompt is empty; give the question the choices answer.");
        int num_choices = choices.Count;
        var inputs = new PipelineEncoding[num_choices];
        for (int i = 0; i < num_choices; i++)
        {
            ArgumentNullException.ThrowIfNull(choices[i], $"{nameof(choices)}[{i}]");
            cancellationToken.ThrowIfCancellationRequested();
            inputs[i] = PipelineEncoding.Encode(tokenizer, model.Config, prompt, choices[i], overlong, $"the prompt with choice {i}");
        }

        // the pairs padded together on the right (HF's padding=True): pad id, mask 0; no token_type_ids, as HF's tokenizer gives none
        int seq = inputs.Max(p => p.Length);
        int size = TensorSize.ForInput("input_ids", "[num_choices, seq]", "give fewer or shorter choices.", num_choices, seq);
        var input_ids = new int[size];
        var attention_mask = new int[size];
        Array.Fill(input_ids, tokenizer.PadTokenId);
        for (int i = 0; i < num_choices; i++)
        {
            var e = inputs[i].Encoding;
            e.InputIds.CopyTo(input_ids, i * seq);
            e.AttentionMask.CopyTo(attention_mask, i * seq);
        }
        var output = model.Forward(new BigBirdInputs(num_choices, seq)
        {
            InputIds = input_ids,
            AttentionMask = attention_mask,
            NumChoices = num_choices, // one example: [1, num_choices, seq]
        }, options, cancellationToken);
        var logits = output.Logits!.Data; // [1, num_choices]
        var scores = Scores.Softmax(logits);
        var ranked = Scores.TopK(scores, num_choices).Select(i => new ChoiceScore(i, choices[i], scores[i], logits[i])).ToArray();
        return new MultipleChoiceResult(prompt, inputs, ranked);
    }
}
