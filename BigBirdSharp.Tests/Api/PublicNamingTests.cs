using System.Reflection;
using BigBirdSharp.Modeling;

namespace BigBirdSharp.Tests.Api;

/// <summary>
/// The library's exported surface is in .NET case (types, members and enum values PascalCase, parameters camelCase,
/// no underscores), and the kernels, checkpoint readers and writer, numpy's RNG and the SentencePiece internals are
/// not exported. HF's snake_case names live on only in checkpoint path strings and XML docs.
/// </summary>
public sealed class PublicNamingTests
{
    private static readonly Assembly Library = typeof(BigBirdModel).Assembly;

    /// <summary>Every name of <paramref name="types"/> that is not .NET case, as "Type.member".</summary>
    internal static List<string> Violations(IEnumerable<Type> types, out int checkedNames)
    {
        var bad = new List<string>();
        int count = 0;
        void Check(string name, bool pascal, string where)
        {
            count++;
            bool ok = name.Length > 0 && !name.Contains('_') && (pascal ? char.IsUpper(name[0]) : char.IsLower(name[0]));
            if (!ok) bad.Add(where);
        }
        const BindingFlags Declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (var type in types)
        {
            Check(type.Name.Split('`')[0], pascal: true, type.FullName!);
            var propertyNames = type.GetProperties(Declared).Select(p => p.Name).ToHashSet();
            foreach (var member in type.GetMembers(Declared))
            {
                bool visible = member switch
                {
                    MethodBase m => m.IsPublic || m.IsFamily || m.IsFamilyOrAssembly,
                    FieldInfo f => f.IsPublic || f.IsFamily || f.IsFamilyOrAssembly,
                    PropertyInfo p => p.GetAccessors(nonPublic: true).Any(a => a.IsPublic || a.IsFamily || a.IsFamilyOrAssembly),
                    EventInfo e => e.AddMethod is { } add && (add.IsPublic || add.IsFamily),
                    _ => false, // nested types are checked as types
                };
                if (!visible) continue;
                // accessors, operators and compiler-made members (a record's <Clone>$) are not names a user writes
                if (member is MethodBase { IsSpecialName: true } || member.Name.StartsWith('<')) continue;
                if (type.IsEnum && member is FieldInfo { IsSpecialName: true }) continue; // value__
                string where = $"{type.FullName}.{member.Name}";
                if (member is not ConstructorInfo) Check(member.Name, pascal: true, where);
                if (member is MethodBase method)
                    foreach (var p in method.GetParameters())
                    {
                        // a positional record's constructor and Deconstruct parameters are its PascalCase properties, as .NET writes them
                        if (method is ConstructorInfo or { Name: "Deconstruct" } && propertyNames.Contains(p.Name!)) continue;
                        Check(p.Name!, pascal: false, $"{where}({p.Name})");
                    }
                if (member is PropertyInfo { } indexer)
                    foreach (var p in indexer.GetIndexParameters()) Check(p.Name!, pascal: false, $"{where}[{p.Name}]");
            }
        }
        checkedNames = count;
        return bad;
    }

    [Fact]
    public void Every_exported_name_is_in_dotnet_case()
    {
        var bad = Violations(Library.GetExportedTypes(), out int checkedNames);
        Assert.True(bad.Count == 0, "not .NET case: " + string.Join(", ", bad));
        Assert.True(checkedNames > 500, $"only {checkedNames} names were checked");
    }

    [Fact]
    public void The_check_flags_snake_case_members_and_parameters()
    {
        var bad = Violations([typeof(SnakeCaseSample)], out _);
        Assert.Contains($"{typeof(SnakeCaseSample).FullName}.qa_classifier", bad);
        Assert.Contains($"{typeof(SnakeCaseSample).FullName}.seq_relationship", bad);
        Assert.Contains($"{typeof(SnakeCaseSample).FullName}.Forward(encoder_output)", bad);
        Assert.DoesNotContain($"{typeof(SnakeCaseSample).FullName}.Bert", bad);
        Assert.Equal(3, bad.Count);
    }

    public sealed class SnakeCaseSample
    {
        public int qa_classifier { get; init; }
        public int seq_relationship;
        public int Bert { get; init; }
        public void Forward(int encoder_output) { }
        internal int hidden_internal = 1;
    }

    [Theory]
    [InlineData("BigBirdSharp.Kernels")]
    [InlineData("BigBirdSharp.IO")]
    [InlineData("BigBirdSharp.Serialization")]
    public void Kernels_readers_and_writers_are_not_exported(string ns)
    {
        var exported = Library.GetExportedTypes().Where(t => t.Namespace == ns).Select(t => t.Name).ToList();
        // ActivationKind is the activation of IComputeBackend.Linear (HF's hidden_act), part of the backend seam
        Assert.Equal(ns == "BigBirdSharp.Kernels" ? ["ActivationKind"] : [], exported);
        Assert.Contains(Library.GetTypes(), t => t.Namespace == ns); // the namespace exists, only not exported
    }

    [Theory]
    [InlineData("BigBirdSharp.RandomAttention.NumpyRandomState")]
    [InlineData("BigBirdSharp.RandomAttention.BigBirdRandomAttention")]
    [InlineData("BigBirdSharp.Tokenization.SentencePieceProcessor")]
    [InlineData("BigBirdSharp.Modeling.Heads.Losses")]
    [InlineData("BigBirdSharp.Kernels.Gemm")]
    [InlineData("BigBirdSharp.IO.CheckpointLoader")]
    public void Internals_are_not_exported(string fullName)
    {
        var type = Library.GetType(fullName);
        Assert.NotNull(type);
        Assert.False(type!.IsVisible, fullName + " is exported");
    }

    [Fact]
    public void The_public_surface_file_lists_what_is_exported()
    {
        // PublicApiAnalyzers fails the build on any difference; this guards against the files being dropped from the project
        var shipped = File.ReadAllLines(Path.Combine(RepoPaths.Root, "BigBirdSharp", "PublicAPI.Shipped.txt"));
        foreach (var type in Library.GetExportedTypes())
            Assert.Contains(type.FullName!.Replace('+', '.'), shipped);
        Assert.Equal(["#nullable enable"], File.ReadAllLines(Path.Combine(RepoPaths.Root, "BigBirdSharp", "PublicAPI.Unshipped.txt")));
    }
}
