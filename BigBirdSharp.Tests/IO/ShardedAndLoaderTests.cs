using System.Text;
using BigBirdSharp.IO;
using static BigBirdSharp.Tests.IO.SafeTensorsWriter;

namespace BigBirdSharp.Tests.IO;

public sealed class ShardedCheckpointReaderTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private void WriteShards()
    {
        _dir.Write("model-00001-of-00002.safetensors", Build([
            new StTensor("a", "F32", [2], F32(1f, 2f)),
            new StTensor("b", "BF16", [1], U16(0x4040)),
        ]));
        _dir.Write("model-00002-of-00002.safetensors", Build([new StTensor("c", "F16", [2], U16(0x3800, 0xBC00))]));
    }

    private string WriteIndex(string weightMapJson, string name = "model.safetensors.index.json") =>
        _dir.Write(name, Encoding.UTF8.GetBytes("{\"metadata\":{\"total_size\":14},\"weight_map\":{" + weightMapJson + "}}"));

    private const string GoodMap =
        "\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00001-of-00002.safetensors\",\"c\":\"model-00002-of-00002.safetensors\"";

    [Fact]
    public void Good_index_exposes_the_union_of_its_shards()
    {
        WriteShards();
        using var reader = ShardedCheckpointReader.Open(WriteIndex(GoodMap));
        Assert.Equal(["a", "b", "c"], reader.Names);
        Assert.Equal(2, reader.ShardCount);
        Assert.Equal([1f, 2f], reader.ReadFloat32("a").ToArray());
        Assert.Equal([3f], reader.ReadFloat32("b").ToArray());
        Assert.Equal([0.5f, -1f], reader.ReadFloat32("c").ToArray());
        Assert.True(reader.TryGetInfo("c", out var info));
        Assert.Equal(TensorDType.F16, info.DType);
        Assert.EndsWith("model-00002-of-00002.safetensors", info.FilePath);
        Assert.False(reader.TryGetInfo("zzz", out _));
        Assert.Throws<KeyNotFoundException>(() => reader.ReadFloat32("zzz"));
    }

    [Theory]
    [InlineData("../model-00001-of-00002.safetensors")]
    [InlineData("sub/model-00001-of-00002.safetensors")]
    [InlineData("..\\\\evil.safetensors")]
    [InlineData("/etc/passwd")]
    [InlineData("..")]
    [InlineData("")]
    public void Shard_names_with_paths_are_refused(string shard)
    {
        WriteShards();
        var e = Assert.Throws<CheckpointFormatException>(() => ShardedCheckpointReader.Open(WriteIndex($"\"a\":\"{shard}\"")).Dispose());
        Assert.Contains("not a plain file name", e.Message);
        Assert.Contains("'a'", e.Message);
    }

    [Fact]
    public void Tensor_missing_from_its_shard()
    {
        WriteShards();
        var e = Assert.Throws<CheckpointFormatException>(() =>
            ShardedCheckpointReader.Open(WriteIndex("\"c\":\"model-00001-of-00002.safetensors\"")).Dispose());
        Assert.Contains("'c'", e.Message);
        Assert.Contains("model-00001-of-00002.safetensors", e.Message);
        Assert.Contains("no such tensor", e.Message);
    }

    [Fact]
    public void Missing_shard_file()
    {
        var e = Assert.Throws<CheckpointFormatException>(() => ShardedCheckpointReader.Open(WriteIndex("\"a\":\"gone.safetensors\"")).Dispose());
        Assert.Contains("gone.safetensors", e.Message);
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public void Malformed_shard_is_reported_with_its_own_path()
    {
        _dir.Write("bad.safetensors", [1, 2, 3]);
        var e = Assert.Throws<CheckpointFormatException>(() => ShardedCheckpointReader.Open(WriteIndex("\"a\":\"bad.safetensors\"")).Dispose());
        Assert.EndsWith("bad.safetensors", e.FilePath);
    }

    [Theory]
    [InlineData("{\"metadata\":{}}", "weight_map")]
    [InlineData("[1]", "object")]
    [InlineData("{\"weight_map\":{\"a\":5}}", "'a'")]
    [InlineData("{\"weight_map\":{\"a\":\"x.safetensors\",\"a\":\"x.safetensors\"}}", "'a' twice")]
    [InlineData("{\"weight_map\":{}}", "empty")]
    [InlineData("{\"weight_map\":", "not valid JSON")]
    public void Malformed_index(string json, string fragment)
    {
        string path = _dir.Write("model.safetensors.index.json", Encoding.UTF8.GetBytes(json));
        var e = Assert.Throws<CheckpointFormatException>(() => ShardedCheckpointReader.Open(path).Dispose());
        Assert.Contains(fragment, e.Message);
        Assert.Equal(path, e.FilePath);
    }

    [Fact]
    public void Torch_bin_shards_are_supported()
    {
        File.Copy(TestData.Path("small_model.bin"), _dir.File("pytorch_model-00001-of-00002.bin"));
        File.Copy(TestData.Path("linear_state.bin"), _dir.File("pytorch_model-00002-of-00002.bin"));
        string index = WriteIndex(
            "\"f32\":\"pytorch_model-00001-of-00002.bin\",\"weight\":\"pytorch_model-00002-of-00002.bin\",\"bias\":\"pytorch_model-00002-of-00002.bin\"",
            "pytorch_model.bin.index.json");
        using var reader = ShardedCheckpointReader.Open(index);
        Assert.Equal(["f32", "weight", "bias"], reader.Names);
        Assert.Equal([-1f, 1f], reader.ReadFloat32("bias").ToArray());
        Assert.Equal(-1f, reader.ReadFloat32("f32").Span[0]);
    }
}

public sealed class CheckpointLoaderTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Prefers_safetensors_over_pytorch_bin()
    {
        _dir.Write("model.safetensors", Build([new StTensor("from_safetensors", "F32", [1], F32(1f))]));
        File.Copy(TestData.Path("small_model.bin"), _dir.File("pytorch_model.bin"));
        using var reader = CheckpointLoader.Open(_dir.Path);
        Assert.IsType<SafeTensorsReader>(reader);
        Assert.Equal(["from_safetensors"], reader.Names);
    }

    [Fact]
    public void Prefers_a_safetensors_index_over_pytorch_bin()
    {
        _dir.Write("shard.safetensors", Build([new StTensor("x", "F32", [1], F32(2f))]));
        _dir.Write("model.safetensors.index.json", Encoding.UTF8.GetBytes("{\"weight_map\":{\"x\":\"shard.safetensors\"}}"));
        File.Copy(TestData.Path("small_model.bin"), _dir.File("pytorch_model.bin"));
        using var reader = CheckpointLoader.Open(_dir.Path);
        Assert.IsType<ShardedCheckpointReader>(reader);
        Assert.Equal([2f], reader.ReadFloat32("x").ToArray());
    }

    [Fact]
    public void Falls_back_to_pytorch_bin()
    {
        File.Copy(TestData.Path("linear_state.bin"), _dir.File("pytorch_model.bin"));
        using var reader = CheckpointLoader.Open(_dir.Path);
        Assert.IsType<TorchCheckpointReader>(reader);
        Assert.Equal([-1f, 1f], reader.ReadFloat32("bias").ToArray());
    }

    [Fact]
    public void Accepts_a_direct_file_path()
    {
        using (var reader = CheckpointLoader.Open(TestData.Path("parameter_model.bin")))
            Assert.Equal(["weight"], reader.Names);
        string st = _dir.Write("weights.safetensors", Build([new StTensor("y", "F32", [1], F32(5f))]));
        using var st2 = CheckpointLoader.Open(st);
        Assert.Equal([5f], st2.ReadFloat32("y").ToArray());
    }

    [Fact]
    public void Folder_without_weights_explains_what_was_looked_for()
    {
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointLoader.Open(_dir.Path));
        Assert.Contains("model.safetensors", e.Message);
        Assert.Contains("pytorch_model.bin", e.Message);
        Assert.Contains("save_pretrained", e.Message);
    }

    [Fact]
    public void Missing_path() =>
        Assert.Contains("no such file or folder",
            Assert.Throws<CheckpointFormatException>(() => CheckpointLoader.Open(_dir.File("missing"))).Message);

    [Fact]
    public void Unknown_file_type()
    {
        string path = _dir.Write("weights.h5", [1, 2, 3]);
        Assert.Contains("unrecognised", Assert.Throws<CheckpointFormatException>(() => CheckpointLoader.Open(path)).Message);
    }
}
