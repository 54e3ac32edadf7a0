using BigBirdSharp.IO;

namespace BigBirdSharp.Tests.IO;

/// <summary>A fact that needs <c>mkfifo</c> and Linux device nodes; skipped elsewhere.</summary>
public sealed class LinuxFactAttribute : FactAttribute
{
    public LinuxFactAttribute()
    {
        if (!OperatingSystem.IsLinux()) Skip = "needs mkfifo and /dev/null (Linux)";
    }
}

/// <summary>
/// Paths of a model folder that are not regular files: FIFOs (opening one for reading blocks until a writer comes),
/// devices, folders, dangling or looping links, empty files. Each reader refuses them with
/// <see cref="CheckpointFormatException"/> before it opens anything, so no call can hang.
/// </summary>
public sealed class HostileFileKindTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Fifo(string name) => Fifos.Make(_dir.File(name));

    private static CheckpointFormatException RefusedWithoutBlocking(Action open, params string[] fifos) =>
        Fifos.RefusedWithoutBlocking<CheckpointFormatException>(open, fifos);

    [LinuxFact]
    public void A_FIFO_named_model_safetensors_in_a_folder_is_refused_at_once()
    {
        string fifo = Fifo("model.safetensors");
        var e = RefusedWithoutBlocking(() => CheckpointLoader.Open(_dir.Path).Dispose(), fifo);
        Assert.Equal(fifo, e.FilePath);
        Assert.Contains("not a regular file", e.Message);
    }

    [LinuxFact]
    public void A_FIFO_as_each_kind_of_weights_file_is_refused_at_once()
    {
        string bin = Fifo("pytorch_model.bin"), st = Fifo("w.safetensors"), index = Fifo("model.safetensors.index.json");
        Assert.Contains("not a regular file", RefusedWithoutBlocking(() => TorchCheckpointReader.Open(bin).Dispose(), bin).Message);
        Assert.Contains("not a regular file", RefusedWithoutBlocking(() => new SafeTensorsReader(st).Dispose(), st).Message);
        Assert.Contains("not a regular file", RefusedWithoutBlocking(() => ShardedCheckpointReader.Open(index).Dispose(), index).Message);
        Assert.Contains("not a regular file", RefusedWithoutBlocking(() => CheckpointLoader.Open(bin).Dispose(), bin).Message);
    }

    [LinuxFact]
    public void A_FIFO_shard_named_by_an_index_is_refused_at_once_and_named()
    {
        string shard = Fifo("model-00001-of-00001.safetensors");
        string index = _dir.Write("model.safetensors.index.json",
            System.Text.Encoding.UTF8.GetBytes("{\"weight_map\":{\"w\":\"model-00001-of-00001.safetensors\"}}"));
        var e = RefusedWithoutBlocking(() => ShardedCheckpointReader.Open(index).Dispose(), shard);
        Assert.Equal(index, e.FilePath);
        Assert.Contains("model-00001-of-00001.safetensors", e.Message);
        Assert.Contains("not a regular file", e.Message);
    }

    [LinuxFact]
    public void A_link_to_a_FIFO_is_refused_at_once()
    {
        string fifo = Fifo("pipe");
        string link = _dir.File("model.safetensors");
        File.CreateSymbolicLink(link, fifo);
        var e = RefusedWithoutBlocking(() => CheckpointLoader.Open(_dir.Path).Dispose(), fifo);
        Assert.Contains("not a regular file", e.Message);
    }

    [LinuxFact]
    public void A_character_device_is_refused()
    {
        // /dev/zero would read zeros forever; /dev/null reads nothing. Both report no size.
        foreach (string device in new[] { "/dev/zero", "/dev/null" })
        {
            var e = RefusedWithoutBlocking(() => new SafeTensorsReader(device).Dispose());
            Assert.Contains("not a regular file", e.Message);
            e = RefusedWithoutBlocking(() => TorchCheckpointReader.Open(device).Dispose());
            Assert.Contains("not a regular file", e.Message);
        }
    }

    [Fact]
    public void A_folder_where_a_weights_file_is_expected_is_refused()
    {
        string folder = _dir.File("w.safetensors");
        Directory.CreateDirectory(folder);
        Assert.Contains("is a folder", Assert.Throws<CheckpointFormatException>(() => new SafeTensorsReader(folder).Dispose()).Message);
        Assert.Contains("is a folder", Assert.Throws<CheckpointFormatException>(() => TorchCheckpointReader.Open(folder).Dispose()).Message);
        Assert.Contains("is a folder", Assert.Throws<CheckpointFormatException>(() => ShardedCheckpointReader.Open(folder).Dispose()).Message);
    }

    [Fact]
    public void A_folder_named_as_a_shard_is_refused_and_named()
    {
        Directory.CreateDirectory(_dir.File("model-00001-of-00001.safetensors"));
        string index = _dir.Write("model.safetensors.index.json",
            System.Text.Encoding.UTF8.GetBytes("{\"weight_map\":{\"w\":\"model-00001-of-00001.safetensors\"}}"));
        var e = Assert.Throws<CheckpointFormatException>(() => ShardedCheckpointReader.Open(index).Dispose());
        Assert.Contains("'model-00001-of-00001.safetensors'", e.Message);
        Assert.Contains("is a folder", e.Message);
    }

    [Fact]
    public void An_empty_file_is_refused_before_it_is_parsed()
    {
        string st = _dir.Write("w.safetensors", []), bin = _dir.Write("w.bin", []);
        Assert.Contains("empty", Assert.Throws<CheckpointFormatException>(() => new SafeTensorsReader(st).Dispose()).Message);
        Assert.Contains("empty", Assert.Throws<CheckpointFormatException>(() => TorchCheckpointReader.Open(bin).Dispose()).Message);
    }

    [Fact]
    public void A_dangling_link_is_refused_and_says_so()
    {
        string link = _dir.File("w.safetensors");
        File.CreateSymbolicLink(link, _dir.File("nowhere"));
        var e = Assert.Throws<CheckpointFormatException>(() => new SafeTensorsReader(link).Dispose());
        Assert.Equal(link, e.FilePath);
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public void A_link_loop_is_refused()
    {
        string a = _dir.File("a.safetensors"), b = _dir.File("b.safetensors");
        File.CreateSymbolicLink(a, b);
        File.CreateSymbolicLink(b, a);
        Assert.Throws<CheckpointFormatException>(() => new SafeTensorsReader(a).Dispose());
    }

    [Fact]
    public void A_link_to_a_real_weights_file_is_followed()
    {
        string real = _dir.Write("real.safetensors", SafeTensorsWriter.Build([new StTensor("w", "F32", [2], SafeTensorsWriter.F32(1, 2))]));
        string link = _dir.File("model.safetensors");
        File.CreateSymbolicLink(link, real);
        using var reader = CheckpointLoader.Open(_dir.Path);
        Assert.Equal(new float[] { 1, 2 }, reader.ReadFloat32("w").ToArray());
    }

    [Fact]
    public void RegularFile_reports_the_size_of_a_regular_file_and_no_problem()
    {
        string path = _dir.Write("x", new byte[17]);
        Assert.Null(RegularFile.Problem(path, out long length));
        Assert.Equal(17, length);
        Assert.Equal(17, RegularFile.EnsureRegular(path, "test file"));
        Assert.Contains("does not exist", RegularFile.Problem(_dir.File("missing"), out _));
    }
}
