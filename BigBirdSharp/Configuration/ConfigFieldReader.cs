using System.Text.Json;

namespace BigBirdSharp.Configuration;

/// <summary>
/// Typed access to the fields of a config.json object (BigBird's and BigBirdPegasus's), with errors that name the source
/// and the field. A field set to null reads as absent, except where a nullable reader says otherwise.
/// </summary>
internal readonly struct ConfigFieldReader(JsonElement root, string source)
{
    private bool TryGet(string name, out JsonElement e) =>
        root.TryGetProperty(name, out e) && e.ValueKind != JsonValueKind.Null;

    private BigBirdConfigException Wrong(string name, JsonElement e, string expected) =>
        new($"{source}: {name} must be {expected}, found {e.ValueKind} '{e.GetRawText()}'.");

    public int Int(string name, int fallback, bool saturate = false) => NullableInt(name, fallback, saturate) ?? fallback;

    /// <summary>
    /// An integer field. Python integers have no bound: a whole number past the int range is clamped to it when
    /// <paramref name="saturate"/> (fields where that changes nothing: block geometry, whose full-attention threshold
    /// is then past any input, and token ids, which no id of a vocabulary held in an int can equal), else refused by name.
    /// </summary>
    public int? NullableInt(string name, int? fallback, bool saturate = false)
    {
        if (!root.TryGetProperty(name, out var e)) return fallback;
        if (e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int v)) return v;
        if (e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out double dv) && double.IsFinite(dv) && dv == Math.Floor(dv))
        {
            if (Math.Abs(dv) <= int.MaxValue) return (int)dv;
            if (saturate) return dv > 0 ? int.MaxValue : int.MinValue;
            throw new BigBirdConfigException(
                $"{source}: {name} is {e.GetRawText()}, outside the {int.MinValue}..{int.MaxValue} BigBirdSharp supports; " +
                "no checkpoint of that size can be loaded here.");
        }
        throw Wrong(name, e, "an integer");
    }

    public double Double(string name, double fallback) => NullableDouble(name) ?? fallback;

    public double? NullableDouble(string name)
    {
        if (!TryGet(name, out var e)) return null;
        if (e.ValueKind == JsonValueKind.Number) return e.GetDouble();
        throw Wrong(name, e, "a number");
    }

    public bool Bool(string name, bool fallback)
    {
        if (!TryGet(name, out var e)) return fallback;
        return e.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Wrong(name, e, "true or false"),
        };
    }

    public string String(string name, string fallback) => NullableString(name) ?? fallback;

    public string? NullableString(string name)
    {
        if (!TryGet(name, out var e)) return null;
        if (e.ValueKind == JsonValueKind.String) return e.GetString()!;
        throw Wrong(name, e, "a string");
    }

    public IReadOnlyList<string> StringList(string name)
    {
        if (!TryGet(name, out var e)) return [];
        if (e.ValueKind != JsonValueKind.Array) throw Wrong(name, e, "a list of strings");
        var list = new List<string>();
        foreach (var item in e.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String) throw Wrong(name, item, "a list of strings");
            list.Add(item.GetString()!);
        }
        return list;
    }

    public IReadOnlyDictionary<int, string> Id2Label()
    {
        var map = new Dictionary<int, string>();
        if (!TryGet("id2label", out var e)) return map;
        if (e.ValueKind != JsonValueKind.Object) throw Wrong("id2label", e, "an object");
        foreach (var p in e.EnumerateObject())
        {
            if (!int.TryParse(p.Name, out int id) || p.Value.ValueKind != JsonValueKind.String)
                throw new BigBirdConfigException($"{source}: id2label entries must map integer strings to strings, found '{p.Name}'.");
            map[id] = p.Value.GetString()!;
        }
        return map;
    }
}
