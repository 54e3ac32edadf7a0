using System.Text;
using BigBirdSharp.Tokenization;
using FsCheck.Xunit;
using static BigBirdSharp.Tests.Tokenization.TokenizerFixtures;

namespace BigBirdSharp.Tests.Tokenization;

/// <summary>Writes small SentencePiece ModelProto files for the error tests (protobuf wire format by hand).</summary>
internal sealed class ModelProtoWriter
{
    private readonly MemoryStream pieces = new();
    public int ModelType { get; set; } = 1;
    public bool ByteFallback { get; set; }
    public byte[]? CharsMap { get; set; }

    private static void Varint(Stream s, ulong v)
    {
        while (v >= 0x80)
        {
            s.WriteByte((byte)(v | 0x80));
            v >>= 7;
        }
        s.WriteByte((byte)v);
    }

    private static void Tag(Stream s, int field, int wire) => Varint(s, (ulong)(field << 3 | wire));

    private static void Bytes(Stream s, int field, byte[] b)
    {
        Tag(s, field, 2);
        Varint(s, (ulong)b.Length);
        s.Write(b);
    }

    public ModelProtoWriter Piece(string piece, float score = 0, SentencePieceType type = SentencePieceType.Normal)
    {
        var m = new MemoryStream();
        Bytes(m, 1, Encoding.UTF8.GetBytes(piece));
        Tag(m, 2, 5);
        m.Write(BitConverter.GetBytes(score));
        Tag(m, 3, 0);
        Varint(m, (ulong)type);
        Bytes(pieces, 1, m.ToArray());
        return this;
    }

    public ModelProtoWriter BytePieces(int skip = -1)
    {
        for (int b = 0; b < 256; b++)
            if (b != skip) Piece($"<0x{b:X2}>", 0, SentencePieceType.Byte);
        return this;
    }

    public byte[] ToArray()
    {
        var s = new MemoryStream();
        s.Write(pieces.ToArray());
        var trainer = new MemoryStream();
        Tag(trainer, 3, 0);
        Varint(trainer, (ulong)ModelType);
        Tag(trainer, 35, 0);
        Varint(trainer, ByteFallback ? 1u : 0u);
        Bytes(s, 2, trainer.ToArray());
        var norm = new MemoryStream();
        Bytes(norm, 1, "identity"u8.ToArray());
        if (CharsMap is not null) Bytes(norm, 2, CharsMap);
        Bytes(s, 3, norm.ToArray());
        return s.ToArray();
    }

    public static ModelProtoWriter Minimal() => new ModelProtoWriter()
        .Piece("<unk>", 0, SentencePieceType.Unknown).Piece("<s>", 0, SentencePieceType.Control)
        .Piece("\u2581a", -1).Piece("b", -2).Piece("\u2581", -3);
}

/// <summary>Malformed or inconsistent spiece.model files give a <see cref="TokenizerFormatException"/> that names the
/// file and the problem.</summary>
public class SentencePieceModelErrorTests
{
    private static TokenizerFormatException Fails(byte[] data, string name = "bad/spiece.model") =>
        Assert.Throws<TokenizerFormatException>(() => SentencePieceProcessor.FromBytes(data, name));

    [Fact]
    public void Minimal_model_loads_and_encodes()
    {
        var sp = SentencePieceProcessor.FromBytes(ModelProtoWriter.Minimal().ToArray(), "m");
        Assert.Equal(5, sp.PieceCount);
        Assert.Equal(0, sp.UnkId);
        Assert.Equal([2, 3, 4, 0], sp.EncodeAsIds("ab c")); // ▁a b ▁ c(unknown)
    }

    [Fact]
    public void Truncated_real_model_names_file_and_problem()
    {
        var data = File.ReadAllBytes(Path.Combine(ModelDir("bigbird_gpt2"), "spiece.model"));
        foreach (int cut in new[] { 1, 7, data.Length / 2, data.Length - 3 })
        {
            var e = Fails(data[..cut], "cut/spiece.model");
            Assert.StartsWith("cut/spiece.model: ", e.Message);
            Assert.Equal("cut/spiece.model", e.FilePath);
            Assert.Contains("malformed SentencePiece model", e.Message);
        }
    }

    [Fact]
    public void Empty_and_garbage_files_fail()
    {
        Assert.Contains("empty", Fails([]).Message);
        Assert.Contains("malformed", Fails("this is not a protobuf"u8.ToArray()).Message);
        // a length prefix that claims far more than the file holds
        Assert.Contains("runs past the end", Fails([0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x01]).Message);
    }

    [Fact]
    public void Byte_fallback_with_missing_byte_pieces_fails()
    {
        var w = ModelProtoWriter.Minimal().BytePieces(skip: 0x41);
        w.ByteFallback = true;
        Assert.Contains("not 256 byte pieces", Fails(w.ToArray()).Message);
        Assert.Contains("<0x41>", Fails(w.ToArray()).Message);
        var ok = ModelProtoWriter.Minimal().BytePieces();
        ok.ByteFallback = true;
        Assert.True(SentencePieceProcessor.FromBytes(ok.ToArray(), "ok").ByteFallback);
    }

    [Fact]
    public void Byte_piece_without_byte_fallback_fails()
    {
        var w = ModelProtoWriter.Minimal().Piece("<0x00>", 0, SentencePieceType.Byte);
        Assert.Contains("byte_fallback is false", Fails(w.ToArray()).Message);
    }

    [Fact]
    public void Duplicate_pieces_fail()
    {
        var w = ModelProtoWriter.Minimal().Piece("b", -5);
        var e = Fails(w.ToArray());
        Assert.Contains("duplicate piece 'b'", e.Message);
    }

    [Fact]
    public void Missing_unk_and_second_unk_fail()
    {
        var none = new ModelProtoWriter().Piece("a").Piece("b");
        Assert.Contains("unk is not defined", Fails(none.ToArray()).Message);
        var two = ModelProtoWriter.Minimal().Piece("<unk2>", 0, SentencePieceType.Unknown);
        Assert.Contains("unk is already defined", Fails(two.ToArray()).Message);
    }

    [Fact]
    public void Empty_piece_and_unsupported_model_type_fail()
    {
        Assert.Contains("empty", Fails(ModelProtoWriter.Minimal().Piece("").ToArray()).Message);
        var word = ModelProtoWriter.Minimal();
        word.ModelType = 3;
        Assert.Contains("not supported", Fails(word.ToArray()).Message);
    }

    [Fact]
    public void Broken_charsmap_fails()
    {
        var w = ModelProtoWriter.Minimal();
        w.CharsMap = [0xFF, 0xFF, 0xFF, 0x7F, 1, 2];
        Assert.Contains("precompiled_charsmap is broken", Fails(w.ToArray()).Message);
    }

    [Fact]
    public void Folder_errors_name_the_file()
    {
        string dir = Directory.CreateTempSubdirectory("bbtok").FullName;
        try
        {
            var e = Assert.Throws<TokenizerFormatException>(() => BigBirdTokenizer.FromPretrained(dir));
            Assert.Contains("neither spiece.model nor tokenizer.json", e.Message);
            File.WriteAllBytes(Path.Combine(dir, "spiece.model"), ModelProtoWriter.Minimal().ToArray());
            File.WriteAllText(Path.Combine(dir, "special_tokens_map.json"), "{ not json");
            e = Assert.Throws<TokenizerFormatException>(() => BigBirdTokenizer.FromPretrained(dir));
            Assert.EndsWith("special_tokens_map.json", e.FilePath);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    // Any corruption of a valid model either loads or fails with the typed error; nothing else escapes.
    [Property(MaxTest = 300)]
    public bool Corrupted_models_fail_only_with_the_typed_error(int position, byte value, ushort cut)
    {
        var data = ModelProtoWriter.Minimal().BytePieces().ToArray();
        data[(int)((uint)position % (uint)data.Length)] = value;
        data = data[..Math.Max(0, data.Length - cut % 64)];
        try
        {
            var sp = SentencePieceProcessor.FromBytes(data, "fuzz");
            sp.EncodeAsIds("ab a\u00e9 b");
            return true;
        }
        catch (TokenizerFormatException)
        {
            return true;
        }
    }
}
