using System.Text;
using BigBirdSharp.IO;
using static BigBirdSharp.Tests.IO.SafeTensorsWriter;

namespace BigBirdSharp.Tests.IO;

/// <summary>
/// Safetensors headers and sharded indexes with hostile sizes: ranks, offsets past 64 bits, arrays of the wrong length,
/// trailing content. Each is refused with <see cref="CheckpointFormatException"/> naming the file and the tensor.
/// </summary>
public sealed class HostileSafeTensorsTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private CheckpointFormatException Rejects(string header, byte[] data, params string[] fragments)
    {
        string path = _dir.Write("t.safetensors", Raw(header, data));
        var e = Assert.Throws<CheckpointFormatException>(() => new SafeTensorsReader(path).Dispose());
        Assert.Equal(path, e.FilePath);
        foreach (var fragment in fragments) Assert.Contains(fragment, e.Message);
        return e;
    }

    private static string Ones(int rank) => string.Join(",", Enumerable.Repeat("1", rank));

    [Fact]
    public void A_shape_of_more_than_64_dimensions_is_refused_without_storing_it()
    {
        // a million dimensions of 1 describe one element; the list is not kept past the 65th
        Rejects($"{{\"w\":{{\"dtype\":\"F32\",\"shape\":[{Ones(1_000_000)}],\"data_offsets\":[0,4]}}}}", new byte[4],
            "'w'", $"more than the {SafeTensorsReader.MaxRank} dimensions");
    }

    [Fact]
    public void A_shape_of_exactly_64_dimensions_is_read()
    {
        string path = _dir.Write("t.safetensors", Raw($"{{\"w\":{{\"dtype\":\"F32\",\"shape\":[{Ones(64)}],\"data_offsets\":[0,4]}}}}", F32(7)));
        using var reader = new SafeTensorsReader(path);
        Assert.True(reader.TryGetInfo("w", out var info));
        Assert.Equal(64, info.Shape.Length);
        Assert.Equal(new float[] { 7 }, reader.ReadFloat32("w").ToArray());
    }

    [Theory]
    [InlineData("[0,4,8]")]
    [InlineData("[0]")]
    [InlineData("[]")]
    [InlineData("{\"begin\":0,\"end\":4}")]
    public void Data_offsets_that_are_not_two_integers_are_refused(string offsets) =>
        Rejects($"{{\"w\":{{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{offsets}}}}}", new byte[4], "'w'", "two integers");

    [Theory]
    [InlineData("[0,18446744073709551615]", "data_offsets end 18446744073709551615 is too large")]
    [InlineData("[9223372036854775808,0]", "data_offsets begin 9223372036854775808 is too large")]
    [InlineData("[0,18446744073709551616]", "data_offsets end 18446744073709551616 is not a non-negative integer")]
    [InlineData("[0,\"4\"]", "data_offsets end 4 is not a non-negative integer")]
    [InlineData("[0,[4]]", "data_offsets end Array is not a non-negative integer")]
    public void Offsets_past_64_bits_or_not_integers_are_refused(string offsets, string fragment) =>
        Rejects($"{{\"w\":{{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{offsets}}}}}", new byte[4], "'w'", fragment);

    [Fact]
    public void A_shape_entry_past_64_bits_is_refused() =>
        Rejects("{\"w\":{\"dtype\":\"F32\",\"shape\":[9223372036854775808],\"data_offsets\":[0,4]}}", new byte[4], "'w'", "shape entry 9223372036854775808 is too large");

    [Fact]
    public void Content_after_the_header_object_is_refused() =>
        Rejects("{} {}", [], "not valid JSON");

    [Fact]
    public void Nesting_past_the_depth_limit_is_refused_as_JSON() =>
        Rejects("{\"__metadata__\":" + new string('[', 40) + new string(']', 40) + "}", [], "not valid JSON");

    [Fact]
    public void Unknown_keys_in_a_tensor_entry_are_skipped_whatever_they_hold()
    {
        string path = _dir.Write("t.safetensors", Raw("{\"w\":{\"extra\":{\"a\":[1,{\"b\":null}]},\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", F32(3)));
        using var reader = new SafeTensorsReader(path);
        Assert.Equal(new float[] { 3 }, reader.ReadFloat32("w").ToArray());
    }

    [Theory]
    [InlineData("\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]", "'dtype'")]
    [InlineData("\"dtype\":\"F32\",\"shape\":[1],\"shape\":[1],\"data_offsets\":[0,4]", "'shape'")]
    [InlineData("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"data_offsets\":[0,4]", "'data_offsets'")]
    [InlineData("\"x\":1,\"dtype\":\"F32\",\"shape\":[1],\"x\":2,\"data_offsets\":[0,4]", "'x'")]
    public void A_key_twice_in_a_tensor_entry_is_refused(string fields, string key) =>
        Rejects("{\"w\":{" + fields + "}}", new byte[4], "'w'", $"key {key} appears twice");

    [Fact]
    public void A_metadata_value_that_is_an_object_is_refused() =>
        Rejects("{\"__metadata__\":{\"format\":{\"pt\":1}}}", [], "__metadata__", "'format'", "Object");

    [Fact]
    public void An_index_with_a_weight_map_twice_uses_the_last_as_json_load_does()
    {
        _dir.Write("a.safetensors", Build([new StTensor("w", "F32", [1], F32(1))]));
        _dir.Write("b.safetensors", Build([new StTensor("w", "F32", [1], F32(2))]));
        string index = _dir.Write("model.safetensors.index.json",
            Encoding.UTF8.GetBytes("{\"weight_map\":{\"w\":\"a.safetensors\"},\"metadata\":{\"x\":[1,2]},\"weight_map\":{\"w\":\"b.safetensors\"}}"));
        using var reader = ShardedCheckpointReader.Open(index);
        Assert.Equal(new float[] { 2 }, reader.ReadFloat32("w").ToArray());
        Assert.Equal(1, reader.ShardCount);
    }

    [Fact]
    public void An_index_whose_weight_map_is_not_an_object_is_refused()
    {
        string index = _dir.Write("model.safetensors.index.json", Encoding.UTF8.GetBytes("{\"weight_map\":[\"a.safetensors\"]}"));
        var e = Assert.Throws<CheckpointFormatException>(() => ShardedCheckpointReader.Open(index).Dispose());
        Assert.Contains("weight_map", e.Message);
    }

    [Fact]
    public void An_index_larger_than_its_cap_is_refused_before_it_is_read()
    {
        string index = _dir.File("model.safetensors.index.json");
        using (var f = new FileStream(index, FileMode.CreateNew))
            f.SetLength(ShardedCheckpointReader.MaxIndexBytes + 1); // sparse: no disk is written
        var e = Assert.Throws<CheckpointFormatException>(() => ShardedCheckpointReader.Open(index).Dispose());
        Assert.Contains($"more than the {ShardedCheckpointReader.MaxIndexBytes}-byte limit", e.Message);
    }
}
