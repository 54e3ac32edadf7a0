using System.Text.Json;
using System.Text.Unicode;

namespace BigBirdSharp.IO;

/// <summary>
/// A pass over a JSON text that finds the first string or property name that cannot be turned into .NET text: an
/// escaped lone surrogate such as <c>"\ud800"</c> (valid JSON, but no UTF-16 string holds it) or bytes that are not
/// UTF-8. System.Text.Json accepts both while parsing and throws <see cref="InvalidOperationException"/> only when the
/// string is read, wherever that happens; the readers of config.json, tokenizer files and checkpoint headers run this
/// first, so such a file gets their typed error with the byte offset.
/// </summary>
internal static class JsonStrings
{
    /// <summary>The byte offset of the first undecodable string or property name, or -1 when every one decodes.</summary>
    /// <exception cref="JsonException">The text is not valid JSON under <paramref name="options"/>.</exception>
    public static long FirstUndecodable(ReadOnlySpan<byte> utf8, JsonReaderOptions options)
    {
        var reader = new Utf8JsonReader(utf8, options);
        while (reader.Read())
        {
            if (reader.TokenType is not (JsonTokenType.String or JsonTokenType.PropertyName)) continue;
            if (!reader.ValueIsEscaped)
            {
                if (!Utf8.IsValid(reader.ValueSpan)) return reader.TokenStartIndex;
                continue;
            }
            try
            {
                reader.GetString();
            }
            catch (InvalidOperationException)
            {
                return reader.TokenStartIndex;
            }
        }
        return -1;
    }

    /// <summary>The message part every reader uses for an undecodable string at <paramref name="offset"/>.</summary>
    public static string Describe(long offset) =>
        $"the string at byte offset {offset} is not text (an escaped lone surrogate such as \\ud800, or bytes that are not UTF-8)";

    /// <summary>The JSON kind of the value starting at a token, in <see cref="JsonValueKind"/>'s words (for messages).</summary>
    public static string Kind(JsonTokenType token) => token switch
    {
        JsonTokenType.StartObject => nameof(JsonValueKind.Object),
        JsonTokenType.StartArray => nameof(JsonValueKind.Array),
        JsonTokenType.String => nameof(JsonValueKind.String),
        JsonTokenType.Number => nameof(JsonValueKind.Number),
        JsonTokenType.True => nameof(JsonValueKind.True),
        JsonTokenType.False => nameof(JsonValueKind.False),
        JsonTokenType.Null => nameof(JsonValueKind.Null),
        _ => token.ToString(),
    };
}
