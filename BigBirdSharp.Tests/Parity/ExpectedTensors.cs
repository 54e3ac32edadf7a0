using BigBirdSharp.IO;
using BigBirdSharp.Serialization;

namespace BigBirdSharp.Tests.Parity;

/// <summary>Compares our output tensors with a PyTorch <c>expected.safetensors</c>: the same names, the same shapes,
/// every value within the shared tolerance.</summary>
internal static class ExpectedTensors
{
    /// <summary>Every tensor of a safetensors file the CLI wrote, as entries.</summary>
    public static List<SafeTensorsWriter.Entry> ReadAll(string path)
    {
        using var written = CheckpointLoader.Open(path);
        return written.Names.Select(n =>
        {
            written.TryGetInfo(n, out var info);
            return new SafeTensorsWriter.Entry(n, info.Shape.Select(d => (int)d).ToArray(), written.ReadFloat32(n).ToArray());
        }).ToList();
    }

    /// <summary>Asserts that <paramref name="actual"/> holds exactly the tensors of <paramref name="expectedPath"/>, each close.</summary>
    public static void Compare(string caseName, string expectedPath, List<SafeTensorsWriter.Entry> actual)
    {
        using var expected = CheckpointLoader.Open(expectedPath);
        var byName = actual.ToDictionary(e => e.Name);
        Assert.True(expected.Names.Count > 0, $"{caseName}: expected.safetensors is empty");
        Assert.Equal(expected.Names.Order(StringComparer.Ordinal), byName.Keys.Order(StringComparer.Ordinal));
        foreach (var name in expected.Names)
        {
            expected.TryGetInfo(name, out var info);
            var mine = byName[name];
            Assert.Equal(info.ShapeText, "[" + string.Join(", ", mine.Shape) + "]");
            var theirs = expected.ReadFloat32(name).Span;
            ParityReport.Record(expectedPath, name, mine.Data, theirs); // only with BIGBIRD_PARITY_REPORT set
            Tolerance.AssertAllClose(mine.Data, theirs, $"{caseName}/{name}");
        }
    }
}
