using System.Buffers.Binary;
using System.Text.Json;

namespace BigBirdSharp.Serialization;

/// <summary>
/// Writes F32 (and I64) tensors as a safetensors file: an 8-byte little-endian header length, a JSON header
/// padded with spaces to a multiple of 8, then the raw little-endian data in header order.
/// </summary>
internal static class SafeTensorsWriter
{
    /// <summary>One tensor to write: F32 data, or I64 data when <see cref="Int64Data"/> is set.</summary>
    /// <param name="Name">The tensor's name.</param>
    /// <param name="Shape">Its shape.</param>
    /// <param name="Data">F32 elements, row-major (ignored when <see cref="Int64Data"/> is set).</param>
    /// <param name="Int64Data">I64 elements, row-major, or null.</param>
    public sealed record Entry(string Name, int[] Shape, float[] Data, long[]? Int64Data = null);

    /// <summary>Writes <paramref name="tensors"/> to <paramref name="path"/>, in the given order.</summary>
    /// <exception cref="ArgumentException">Duplicate names, or data that does not fill its shape.</exception>
    public static void Write(string path, IEnumerable<Entry> tensors)
    {
        using var stream = File.Create(path);
        Write(stream, tensors);
    }

    /// <summary>Writes <paramref name="tensors"/> to a stream.</summary>
    /// <exception cref="ArgumentException">Duplicate names, or data that does not fill its shape.</exception>
    public static void Write(Stream stream, IEnumerable<Entry> tensors)
    {
        var list = tensors.ToList();
        var names = new HashSet<string>();
        using var headerBuffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(headerBuffer))
        {
            json.WriteStartObject();
            long offset = 0;
            foreach (var t in list)
            {
                if (!names.Add(t.Name)) throw new ArgumentException($"duplicate tensor name '{t.Name}'", nameof(tensors));
                long count = 1;
                foreach (int d in t.Shape) count *= d;
                long have = t.Int64Data?.LongLength ?? t.Data.LongLength;
                if (count != have)
                    throw new ArgumentException($"tensor '{t.Name}': shape [{string.Join(", ", t.Shape)}] needs {count} values, got {have}", nameof(tensors));
                long bytes = count * (t.Int64Data is null ? 4 : 8);
                json.WriteStartObject(t.Name);
                json.WriteString("dtype", t.Int64Data is null ? "F32" : "I64");
                json.WriteStartArray("shape");
                foreach (int d in t.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + bytes);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += bytes;
            }
            json.WriteEndObject();
        }
        var header = headerBuffer.ToArray().ToList();
        while (header.Count % 8 != 0) header.Add((byte)' ');
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Count);
        stream.Write(len);
        stream.Write(header.ToArray());
        var buffer = new byte[1 << 16];
        foreach (var t in list)
        {
            if (t.Int64Data is { } longs)
            {
                foreach (long v in longs)
                {
                    BinaryPrimitives.WriteInt64LittleEndian(buffer, v);
                    stream.Write(buffer, 0, 8);
                }
                continue;
            }
            for (int i = 0; i < t.Data.Length; i += buffer.Length / 4)
            {
                int n = Math.Min(buffer.Length / 4, t.Data.Length - i);
                for (int j = 0; j < n; j++) BinaryPrimitives.WriteSingleLittleEndian(buffer.AsSpan(j * 4), t.Data[i + j]);
                stream.Write(buffer, 0, n * 4);
            }
        }
    }

    /// <summary>HF's output field names for a model output: last_hidden_state, pooler_output, hidden_states.i, attentions.i.</summary>
    public static IEnumerable<Entry> Entries(Modeling.BigBirdModelOutput output)
    {
        yield return new Entry("last_hidden_state", output.LastHiddenState.Shape, output.LastHiddenState.Data);
        if (output.PoolerOutput is { } p) yield return new Entry("pooler_output", p.Shape, p.Data);
        if (output.HiddenStates is { } hs)
            for (int i = 0; i < hs.Count; i++) yield return new Entry($"hidden_states.{i}", hs[i].Shape, hs[i].Data);
        if (output.Attentions is { } at)
            for (int i = 0; i < at.Count; i++) yield return new Entry($"attentions.{i}", at[i].Shape, at[i].Data);
    }

    /// <summary>
    /// HF's output field names for a task head: loss (0-d), logits, prediction_logits, seq_relationship_logits,
    /// start_logits, end_logits, hidden_states.i, attentions.i, cross_attentions.i.
    /// </summary>
    public static IEnumerable<Entry> Entries(Modeling.Heads.BigBirdHeadOutput output)
    {
        if (output.Loss is float loss) yield return new Entry("loss", [], [loss]);
        foreach (var (name, t) in new[]
                 {
                     ("logits", output.Logits), ("prediction_logits", output.PredictionLogits),
                     ("seq_relationship_logits", output.SeqRelationshipLogits), ("start_logits", output.StartLogits),
                     ("end_logits", output.EndLogits),
                 })
            if (t is not null) yield return new Entry(name, t.Shape, t.Data);
        if (output.HiddenStates is { } hs)
            for (int i = 0; i < hs.Count; i++) yield return new Entry($"hidden_states.{i}", hs[i].Shape, hs[i].Data);
        if (output.Attentions is { } at)
            for (int i = 0; i < at.Count; i++) yield return new Entry($"attentions.{i}", at[i].Shape, at[i].Data);
        if (output.CrossAttentions is { } ca)
            for (int i = 0; i < ca.Count; i++) yield return new Entry($"cross_attentions.{i}", ca[i].Shape, ca[i].Data);
    }
}
