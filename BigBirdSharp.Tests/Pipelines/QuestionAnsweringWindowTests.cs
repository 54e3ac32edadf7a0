using BigBirdSharp.Pipelines;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace BigBirdSharp.Tests.Pipelines;

/// <summary>The windows a long QA context is read in, and the word alignment of answers.</summary>
public sealed class QuestionAnsweringWindowTests
{
    [Property(MaxTest = 300)]
    public Property Windows_cover_the_context_in_order_with_the_overlap_asked(PositiveInt countGen, PositiveInt capacityGen, NonNegativeInt overlapGen)
    {
        int count = countGen.Get % 5000 + 1, capacity = capacityGen.Get % 600 + 1, overlap = overlapGen.Get % capacity;
        var windows = QuestionAnsweringPipeline.Windows(count, capacity, overlap);
        bool ok = windows[0].From == 0 && windows[^1].From + windows[^1].Count == count
                  && windows.All(w => w.Count >= 1 && w.Count <= capacity);
        for (int i = 1; i < windows.Count && ok; i++)
        {
            var (prev, cur) = (windows[i - 1], windows[i]);
            ok = prev.Count == capacity && cur.From == prev.From + capacity - overlap; // every window but the last is full
        }
        ok &= count <= capacity ? windows.Count == 1 : windows[^2].From + capacity < count; // no window past what is needed
        return ok.Label($"count {count} capacity {capacity} overlap {overlap}: {string.Join(" ", windows)}");
    }

    [Theory]
    [InlineData("and Abraham begat Isaac; and", 4, 11, "Abraham")]    // inside a word → the word
    [InlineData("and Abraham begat Isaac; and", 6, 17, "Abraham begat")]
    [InlineData("and Abraham begat Isaac; and", 18, 24, "Isaac;")]    // punctuation stays with its word, as in HF
    [InlineData("and Abraham begat Isaac; and", 3, 5, "Abraham")]     // leading space dropped
    [InlineData("  x  ", 0, 5, "x")]
    public void Answers_widen_to_whole_whitespace_delimited_words(string text, int start, int end, string expected)
    {
        var (s, e) = QuestionAnsweringPipeline.WidenToWords(text, start, end);
        Assert.Equal(expected, text[s..e]);
    }
}
