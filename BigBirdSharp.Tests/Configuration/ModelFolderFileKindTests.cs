using BigBirdSharp.Configuration;
using BigBirdSharp.Tests.IO;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Tests.Configuration;

/// <summary>
/// config.json and the tokenizer files go through the same regular-file check as the weights: a FIFO is refused before
/// it is opened (opening it would block), a folder is refused, and a file far larger than any such file can need is
/// refused before it is read.
/// </summary>
public sealed class ModelFolderFileKindTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Fifo(string name) => Fifos.Make(_dir.File(name));

    private static TException RefusedWithoutBlocking<TException>(Action open, string fifo) where TException : Exception =>
        Fifos.RefusedWithoutBlocking<TException>(open, fifo);

    /// <summary>A sparse file of <paramref name="length"/> bytes (no disk is used for the hole).</summary>
    private string Sparse(string name, long length)
    {
        string path = _dir.File(name);
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        stream.SetLength(length);
        return path;
    }

    [LinuxFact]
    public void A_FIFO_as_config_json_is_refused_at_once()
    {
        string fifo = Fifo("config.json");
        var e = RefusedWithoutBlocking<BigBirdConfigException>(() => BigBirdConfig.FromFile(fifo), fifo);
        Assert.Contains(fifo, e.Message);
        Assert.Contains("not a regular file", e.Message);
    }

    [LinuxFact]
    public void A_FIFO_as_generation_config_json_is_refused_at_once()
    {
        string fifo = Fifo("generation_config.json");
        File.WriteAllText(_dir.File("config.json"), """{"model_type": "bigbird_pegasus"}""");
        var e = RefusedWithoutBlocking<BigBirdConfigException>(() => BigBirdSharp.Modeling.Heads.GenerationConfig.FromPretrained(Path.GetDirectoryName(fifo)!), fifo);
        Assert.Contains(fifo, e.Message);
        Assert.Contains("generation_config.json is empty (0 bytes) or is not a regular file", e.Message);
    }

    [Fact]
    public void An_oversized_generation_config_json_is_refused_before_it_is_read()
    {
        string path = Sparse("generation_config.json", BigBirdConfig.MaxFileBytes + 1);
        var e = Assert.Throws<BigBirdConfigException>(() => BigBirdSharp.Modeling.Heads.GenerationConfig.FromPretrained(Path.GetDirectoryName(path)!));
        Assert.Contains("more than the", e.Message);
        Assert.Contains("generation_config.json", e.Message);
    }

    [Fact]
    public void A_folder_named_config_json_is_refused()
    {
        string path = _dir.File("config.json");
        Directory.CreateDirectory(path);
        var e = Assert.Throws<BigBirdConfigException>(() => BigBirdConfig.FromFile(path));
        Assert.Contains("is a folder", e.Message);
    }

    [Fact]
    public void A_config_json_larger_than_any_config_is_refused_before_it_is_read()
    {
        string path = Sparse("config.json", BigBirdConfig.MaxFileBytes + 1);
        var e = Assert.Throws<BigBirdConfigException>(() => BigBirdConfig.FromFile(path));
        Assert.Contains($"{BigBirdConfig.MaxFileBytes + 1} bytes", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void A_missing_config_json_still_says_not_found()
    {
        var e = Assert.Throws<BigBirdConfigException>(() => BigBirdConfig.FromFile(_dir.File("config.json")));
        Assert.Contains("config.json not found", e.Message);
    }

    [LinuxFact]
    public void A_FIFO_as_spiece_model_is_refused_at_once()
    {
        string fifo = Fifo("spiece.model");
        var e = RefusedWithoutBlocking<TokenizerFormatException>(() => BigBirdTokenizer.FromPretrained(_dir.Path), fifo);
        Assert.Contains("not a regular file", e.Message);
    }

    [Fact]
    public void A_tokenizer_file_larger_than_any_tokenizer_is_refused_before_it_is_read()
    {
        Sparse("spiece.model", TokenizerFile.MaxFileBytes + 1);
        var e = Assert.Throws<TokenizerFormatException>(() => BigBirdTokenizer.FromPretrained(_dir.Path));
        Assert.Contains($"{TokenizerFile.MaxFileBytes + 1} bytes", e.Message);
    }
}
