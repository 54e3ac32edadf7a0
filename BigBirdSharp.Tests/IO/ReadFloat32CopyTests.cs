using BigBirdSharp.IO;

namespace BigBirdSharp.Tests.IO;

/// <summary>
/// <see cref="ITensorReader.ReadFloat32Copy"/> (positional reads, no mapping touched) gives exactly what
/// <see cref="ITensorReader.ReadFloat32"/> gives, in a fresh array, for every format the loader opens.
/// </summary>
public sealed class ReadFloat32CopyTests
{
    [Theory]
    [InlineData("bs_h32_a4_l2_b4_r2")] // F32 safetensors
    [InlineData("fmt_f16")]
    [InlineData("fmt_bf16")]
    [InlineData("fmt_sharded")]
    [InlineData("fmt_bin")]
    public void Copy_equals_the_view_for_every_tensor(string model)
    {
        using var reader = CheckpointLoader.Open(Path.Combine(RepoPaths.Models, model));
        Assert.NotEmpty(reader.Names);
        foreach (var name in reader.Names)
        {
            if (!reader.TryGetInfo(name, out var info) || info.DType is not (TensorDType.F32 or TensorDType.F16 or TensorDType.BF16)) continue;
            var view = reader.ReadFloat32(name).ToArray();
            var copy = reader.ReadFloat32Copy(name);
            Assert.Equal(view, copy);
            Assert.NotSame(copy, reader.ReadFloat32Copy(name)); // a new array per call: the caller owns it
        }
    }

    [Fact]
    public void Copy_of_a_non_float_tensor_is_refused_as_the_view_is()
    {
        using var reader = CheckpointLoader.Open(Path.Combine(RepoPaths.Models, "bs_h32_a4_l2_b4_r2"));
        var e = Assert.Throws<CheckpointFormatException>(() => reader.ReadFloat32Copy("embeddings.position_ids"));
        Assert.Contains("I64", e.Message);
    }

    [Fact]
    public void Copy_of_an_absent_tensor_names_it()
    {
        using var reader = CheckpointLoader.Open(Path.Combine(RepoPaths.Models, "bs_h32_a4_l2_b4_r2"));
        var e = Assert.Throws<KeyNotFoundException>(() => reader.ReadFloat32Copy("no.such.tensor"));
        Assert.Contains("no.such.tensor", e.Message);
    }
}
