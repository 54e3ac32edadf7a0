using System.Globalization;
using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BigBirdSharp.Tokenization;

namespace BigBirdSharp.Bench;

/// <summary>
/// Tokenizer throughput on one long document (about 100,000 characters built from the tokenizer fixtures' texts:
/// English prose, accents, CJK, emoji, right-to-left scripts, special tokens) with the real BigBird vocabulary
/// (fixtures/tokenizer/models/bigbird_gpt2).
/// </summary>
[Config(typeof(TokenizerConfig))]
[MemoryDiagnoser]
public class TokenizerBenchmarks
{
    private sealed class TokenizerConfig : BenchmarkDotNet.Configs.ManualConfig
    {
        public TokenizerConfig() => AddColumn(new TokensPerSecondColumn());
    }

    private static readonly Lazy<(BigBirdTokenizer Tokenizer, string Document)> data = new(Load);

    /// <summary>Tokens <see cref="Encode"/> produces for the document (with [CLS] and [SEP]).</summary>
    public static int DocumentTokens => data.Value.Tokenizer.Encode(data.Value.Document).Length;

    /// <summary>Pieces <see cref="SentencePieceEncode"/> produces (special tokens in the text are not split out).</summary>
    public static int DocumentPieces => data.Value.Tokenizer.SentencePiece.EncodeAsIds(data.Value.Document).Length;

    private static (BigBirdTokenizer, string) Load()
    {
        string? root = null;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "BigBirdSharp.sln"))) { root = dir.FullName; break; }
        if (root is null) throw new InvalidOperationException("cannot find BigBirdSharp.sln above " + AppContext.BaseDirectory);
        string tokDir = Path.Combine(root, "fixtures", "tokenizer");
        var tokenizer = BigBirdTokenizer.FromPretrained(Path.Combine(tokDir, "models", "bigbird_gpt2"));
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(tokDir, "cases", "bigbird_gpt2.json")));
        var texts = doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => c.GetProperty("text").GetString()!).ToArray();
        var sb = new StringBuilder();
        while (sb.Length < 100_000)
            foreach (var t in texts) sb.Append(t).Append('\n');
        return (tokenizer, sb.ToString());
    }

    private BigBirdTokenizer tokenizer = null!;
    private string document = "";

    /// <summary>Loads the vocabulary and builds the document.</summary>
    [GlobalSetup]
    public void Setup() => (tokenizer, document) = data.Value;

    /// <summary>HF-style encode: special-token splitting, SentencePiece, [CLS]/[SEP], type ids, mask, offsets.</summary>
    [Benchmark]
    public int Encode() => tokenizer.Encode(document).Length;

    /// <summary>SentencePiece alone (normalize + unigram Viterbi).</summary>
    [Benchmark]
    public int SentencePieceEncode() => tokenizer.SentencePiece.EncodeAsIds(document).Length;

    /// <summary>Tokens per second = tokens of the document / mean time.</summary>
    private sealed class TokensPerSecondColumn : IColumn
    {
        public string Id => "TokensPerSecond";
        public string ColumnName => "tokens/s";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => "Tokens produced for the document divided by the mean time";
        public bool IsAvailable(Summary summary) => true;
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var stats = summary[benchmarkCase]?.ResultStatistics;
            if (stats is null) return "NA";
            int tokens = benchmarkCase.Descriptor.WorkloadMethod.Name == nameof(SentencePieceEncode) ? DocumentPieces : DocumentTokens;
            return (tokens / (stats.Mean * 1e-9)).ToString("N0", CultureInfo.InvariantCulture);
        }
    }
}
