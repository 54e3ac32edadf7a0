using System.Text;
using System.Text.Json;
using BigBirdSharp.Configuration;
using BigBirdSharp.IO;

namespace BigBirdSharp.Tests.IO;

/// <summary>Strings that parse as JSON but are not text: escaped lone surrogates and bytes that are not UTF-8.</summary>
public sealed class JsonStringsTests
{
    private static long Find(byte[] utf8) => JsonStrings.FirstUndecodable(utf8, new JsonReaderOptions());

    [Theory]
    [InlineData("""{"a": "\ud800"}""", 6)]
    [InlineData("""{"a": "x", "\udfff": 1}""", 11)]
    [InlineData("""["ok", "\ud800\ud800"]""", 7)]
    [InlineData("""{"hidden_act": "gelu\udc00"}""", 15)]
    public void An_escaped_lone_surrogate_is_found_at_its_offset(string json, long offset)
        => Assert.Equal(offset, Find(Encoding.ASCII.GetBytes(json)));

    [Theory]
    [InlineData("""{"a": "\ud83d\ude00", "b": "plain", "c": "\u00e9\n"}""")]
    [InlineData("""[1, 2.5, true, null, {"k": []}]""")]
    public void Valid_text_passes(string json) => Assert.Equal(-1, Find(Encoding.UTF8.GetBytes(json)));

    [Fact]
    public void Bytes_that_are_not_UTF8_inside_a_string_are_found()
    {
        byte[] json = [(byte)'[', (byte)'"', (byte)'a', 0xC3, 0x28, (byte)'"', (byte)']'];
        Assert.Equal(1, Find(json));
    }

    [Fact]
    public void Malformed_JSON_is_left_to_the_caller_as_a_JsonException()
        => Assert.ThrowsAny<JsonException>(() => Find(Encoding.ASCII.GetBytes("{\"a\": ")));

    [Fact]
    public void A_config_with_a_lone_surrogate_is_a_config_error_with_the_offset()
    {
        var e = Assert.Throws<BigBirdConfigException>(() => BigBirdConfig.FromJson("""{"model_type": "big_bird", "id2label": {"0": "\ud800"}}""", "cfg.json"));
        Assert.Contains("cfg.json", e.Message);
        Assert.Contains("byte offset", e.Message);
    }
}
