using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;

namespace BigBirdSharp.Cli;

/// <summary>
/// The command tree of <c>bigbird</c> on System.CommandLine: every command, its options and their defaults (which
/// <c>--help</c> shows). The options that several commands share are defined once here and added to each command, so a
/// name means the same everywhere. The tree is built once and only read afterwards (parsing does not change it), so
/// concurrent calls of <see cref="BigBirdCli.Run(string[], TextWriter, TextWriter)"/> share it.
/// </summary>
internal static class CliSchema
{
    // ------------------------------------------------------------------------------------------------
    // shared options
    // ------------------------------------------------------------------------------------------------

    public static readonly Option<string?> Input = new("--input", "-i")
    {
        HelpName = "FILE",
        Description = "Read from FILE; - reads standard input.",
    };

    /// <summary>The old name of <c>--input</c> on <c>run</c> and <c>trace</c>, still accepted everywhere, not shown.</summary>
    public static readonly Option<string?> InputsAlias = new("--inputs") { HelpName = "FILE", Hidden = true };

    public static readonly Option<string?> Output = new("--output", "-o")
    {
        HelpName = "FILE",
        Description = "Write the results to FILE; - (the default where the command prints) writes standard output.",
    };

    public static readonly Option<bool> Quiet = new("--quiet", "-q")
    {
        Description = "No model line, load time, progress bar or summary; warnings and errors still go to stderr.",
    };

    public static readonly Option<bool> Json = new("--json") { Description = "Print JSON (one object per line) instead of readable lines." };

    public static readonly Option<string?> Model = new("--model")
    {
        HelpName = "DIR",
        Description = "A Hugging Face BigBird checkpoint folder (config.json, weights, spiece.model). [default: the embedded default model]",
    };

    public static readonly Option<string?> AttentionType = new Option<string?>("--attention-type")
    {
        HelpName = "original_full|block_sparse",
        Description = "Override the config's attention_type. [default: the checkpoint's]",
    }.Accepting("original_full", "block_sparse");

    public static readonly Option<string> RandomAttention = new Option<string>("--random-attention")
    {
        HelpName = "deterministic|seeded",
        Description = "How block-sparse attention draws its random blocks: deterministic (current transformers in eval mode) " +
                      "or seeded (transformers <= 4.28 and the paper's code).",
        DefaultValueFactory = _ => "deterministic",
    }.Accepting("deterministic", "seeded");

    public static readonly Option<int?> Threads = new("--threads")
    {
        HelpName = "N",
        Description = "Run each of the model's operations on N threads (a CPU backend with a pool of its own). " +
                      "[default: the shared pool, one thread per processor]",
    };

    public static readonly Option<string> Backend = new Option<string>("--backend")
    {
        HelpName = "cpu|cuda|ilgpu-cpu",
        Description = "Where the model runs: cpu (the managed CPU backend), cuda (an NVIDIA GPU through ILGPU; needs the NVIDIA " +
                      "driver, no CUDA toolkit) or ilgpu-cpu (ILGPU's CPU accelerator: the GPU kernels without a GPU, slow).",
        DefaultValueFactory = _ => "cpu",
    }.Accepting("cpu", "cuda", "ilgpu-cpu");

    public static readonly Option<bool> Strict = new("--strict")
    {
        Description = "Refuse bad data instead of warning: non-finite weights, invalid UTF-8 and lone surrogates in the input.",
    };

    // the text inputs (the text commands and tokenize)

    public static readonly Option<string?> Text = new("--text") { HelpName = "TEXT", Description = "One more document, given as an option." };

    public static readonly Option<bool> Jsonl = new("--jsonl")
    {
        Description = "The input is a JSON batch: one JSON object per line (JSONL/NDJSON), or one JSON array of objects. " +
                      "Implied by a .jsonl, .ndjson or .json --input.",
    };

    public static readonly Option<bool> Lines = new("--lines")
    {
        Description = "The input (--input FILE, --input -, or stdin) is a batch of plain text, one document per non-blank line.",
    };

    public static readonly Option<bool> FailFast = new("--fail-fast")
    {
        Description = "Stop a batch at the first document that fails, instead of writing its error record and going on.",
    };

    public static readonly Option<bool> NoTruncate = new("--no-truncate")
    {
        Description = "Refuse input longer than max_position_embeddings instead of truncating it (qa: instead of reading the context in windows).",
    };

    // ------------------------------------------------------------------------------------------------
    // commands
    // ------------------------------------------------------------------------------------------------

    /// <summary>The options of every command that runs a model.</summary>
    private static readonly Option[] ModelOptions = [Model, Quiet, Json, AttentionType, RandomAttention, Backend, Threads, Strict];

    /// <summary>Where the text commands and tokenize read and write.</summary>
    private static readonly Option[] TextInputOptions = [Text, Input, InputsAlias, Output, Jsonl, Lines, FailFast];

    /// <summary>The beam-search and logits-processor flags of <c>run --generate</c> and <c>summarize</c>; each defaults to the checkpoint's setting.</summary>
    private static readonly Option[] SearchOptions =
    [
        new Option<int?>("--num-beams") { HelpName = "B", Description = "Beam search with B beams. [default: the checkpoint's]" },
        new Option<float?>("--length-penalty") { HelpName = "X", Description = "A finished beam scores sum(log p) / length^X. [default: the checkpoint's]" },
        new Option<bool>("--early-stopping") { Description = "End a row's beam search once it has B finished beams. [default: the checkpoint's]" },
        new Option<int?>("--min-length") { HelpName = "M", Description = "No EOS before the sequence is M tokens long, start included. [default: the checkpoint's]" },
        new Option<int?>("--min-new-tokens") { HelpName = "M", Description = "No EOS before M new tokens. [default: the checkpoint's]" },
        new Option<int?>("--no-repeat-ngram-size") { HelpName = "K", Description = "Never repeat an n-gram of size K. [default: the checkpoint's]" },
        new Option<float?>("--repetition-penalty") { HelpName = "P", Description = "HF's repetition penalty. [default: the checkpoint's]" },
        new Option<int?>("--num-return-sequences") { HelpName = "R", Description = "Rows returned per input, at most B. [default: the checkpoint's]" },
        new Option<int?>("--forced-bos-token-id") { HelpName = "ID", Description = "The first generated token. [default: the checkpoint's]" },
        new Option<int?>("--forced-eos-token-id") { HelpName = "ID", Description = "The token forced at the last step. [default: the checkpoint's]" },
        new Option<bool>("--no-eos") { Description = "No token ends a row early: run to the full length (HF eos_token_id=None)." },
    ];

    public static readonly Command FillMask = TextCommand("fill-mask", "TEXT",
        "The top-k tokens and scores for each [MASK] of each text.",
        [IntOption("--top-k", "K", "How many candidates to show for each [MASK].", 5)]);

    public static readonly Command Embed = TextCommand("embed", "TEXT",
        "One vector per document. --output F.safetensors or F.json writes them all as one matrix; any other FILE gets the lines " +
        "the command prints.",
        [new Option<string>("--pooling") { HelpName = "mean|pooler|cls", Description = "How the token vectors become one.", DefaultValueFactory = _ => "mean" }
            .Accepting("mean", "pooler", "cls")]);

    public static readonly Command Classify = TextCommand("classify", "TEXT",
        "The labels of each text (named from config id2label), with scores.",
        [
            new Option<string?>("--text-pair") { HelpName = "TEXT", Description = "The second text of a pair (JSON batches: \"text_pair\")." },
            new Option<int?>("--top-k") { HelpName = "K", Description = "How many labels to show. [default: all; 5 on the readable line]" },
        ]);

    public static readonly Command Qa = TextCommand("qa", "CONTEXT",
        "Answer spans with scores and character offsets into the context. JSON batches hold {\"question\": ..., \"context\": ...}; " +
        "a context longer than the model takes is read in overlapping windows.",
        [
            new Option<string?>("--question") { HelpName = "Q", Description = "The question (JSON batches: \"question\" on each line)." },
            IntOption("--top-k", "K", "How many answers to show.", 1),
            IntOption("--max-answer-length", "N", "The longest answer, in tokens.", 15),
            IntOption("--doc-stride", "N", "Overlap of the windows of a long context, in tokens (capped at half a window).", 128),
        ]);

    public static readonly Command Generate = TextCommand("generate", "PROMPT",
        "Text from the causal-LM head (the embedded default causal model without --model).",
        [
            IntOption("--max-new-tokens", "N", "How many tokens to generate.", 40),
            FloatOption("--repetition-penalty", "R", "Divide the logits of tokens already present by R (HF's repetition_penalty).", 1f),
            IntOption("--no-repeat-ngram-size", "N", "Never repeat an n-gram of this size (0: off).", 0),
            new Option<bool>("--do-sample") { Description = "Sample instead of greedy decoding." },
            FloatOption("--temperature", "T", "Sampling temperature (with --do-sample).", 1f),
            IntOption("--top-k", "K", "Sample from the K most likely tokens (with --do-sample; 0: all).", 50),
            FloatOption("--top-p", "P", "Sample from the smallest set of tokens whose probability reaches P (with --do-sample).", 1f),
            IntOption("--seed", "S", "Seed of the sampler (with --do-sample).", 0),
        ]);

    public static readonly Command Tokenize = Build(new Command("tokenize",
        "HF's tokenizer output for each text: input_ids, token_type_ids, attention_mask, the tokens and their character offsets " +
        "(one JSON object per line). JSON batches hold {\"text\": ..., \"text_pair\": ..., \"id\": ...}."),
        TextArgument("TEXT"), [Model, Quiet, Json, Strict, .. TextInputOptions]); // --json: accepted, tokenize always writes JSON

    public static readonly Command RunModel = Build(new Command("run",
        "Any head on token ids: reads a JSON object of HF forward arguments ({\"input_ids\": [[...]], ...}) and writes HF's output " +
        "fields as safetensors (--generate N for causal LMs, BigBirdPegasusForCausalLM included, and BigBirdPegasusForConditionalGeneration). On a bigbird_pegasus folder it also reads " +
        "decoder_input_ids, decoder_attention_mask and labels."),
        null,
        [
            .. ModelOptions, Input, InputsAlias, Output,
            new Option<string?>("--architecture") { HelpName = "NAME", Description = "The head to load. [default: config.json architectures[0]]" },
            new Option<bool>("--output-hidden-states") { Description = "Also write every layer's hidden states." },
            new Option<bool>("--output-attentions") { Description = "Also write every layer's attention probabilities." },
            new Option<int?>("--generate") { HelpName = "N", Description = "Generate N tokens after each row (BigBirdForCausalLM, BigBirdPegasusForCausalLM, BigBirdPegasusForConditionalGeneration)." },
            new Option<int?>("--eos-token-id") { HelpName = "ID", Description = "Stop a row at this token (with --generate). [default: the checkpoint's]" },
            new Option<bool>("--do-sample") { Description = "Sample instead of greedy decoding (with --generate)." },
            FloatOption("--temperature", "T", "Sampling temperature (with --generate --do-sample).", 1f),
            IntOption("--top-k", "K", "Sample from the K most likely tokens (with --generate --do-sample).", 50),
            FloatOption("--top-p", "P", "Nucleus sampling threshold (with --generate --do-sample).", 1f),
            IntOption("--seed", "S", "Seed of the sampler (with --generate --do-sample).", 0),
            .. SearchOptions,
        ]);

    public static readonly Command Summarize = TextCommand("summarize", "TEXT",
        "A summary of each document by a BigBirdPegasusForConditionalGeneration checkpoint (--model, e.g. google/bigbird-pegasus-large-arxiv), " +
        "decoded as HF's summarization pipeline does, with the checkpoint's generation settings unless the flags say otherwise.",
        [
            new Option<int?>("--max-new-tokens") { HelpName = "N", Description = "The most tokens of a summary. [default: the checkpoint's max_length]" },
            .. SearchOptions,
        ]);

    public static readonly Command Trace = Build(new Command("trace",
        "Runs the encoder on a run-style inputs file and writes every module's output under its HF module path; with --compare, " +
        "says where another port's trace first leaves the tolerance (exit 3)."),
        null,
        [
            .. ModelOptions, Input, InputsAlias, Output,
            new Option<string?>("--compare") { HelpName = "OTHER.safetensors", Description = "A trace to compare with, tensor by tensor." },
            FloatOption("--atol", "A", "Absolute tolerance of --compare.", 1e-4f),
            FloatOption("--rtol", "R", "Relative tolerance of --compare.", 1e-4f),
        ]);

    public static readonly Command Bench = Build(new Command("bench",
        "Timed forward passes of the encoder after a warm-up, printed as one JSON line (median_s, min_s, tokens_per_s, the backend, " +
        "SIMD path and threads). Synthetic ids of --seq-len tokens, or the token ids of a run-style --input file."),
        null,
        [
            .. ModelOptions, Input, InputsAlias, Output,
            new Option<int?>("--seq-len") { HelpName = "N", Description = "Tokens per row of synthetic ids (required without --input)." },
            IntOption("--batch", "B", "Rows of synthetic ids.", 1),
            IntOption("--repeat", "R", "Timed passes.", 5),
        ]);

    public static readonly Command Root = BuildRoot();

    /// <summary>Every command, in the order help lists them.</summary>
    public static IEnumerable<Command> Commands => Root.Subcommands;

    /// <summary>The section every help text ends with.</summary>
    public const string ExitCodes =
        "Exit codes: 0 success; 1 a model, checkpoint or input problem, or an internal error; 2 a usage error; " +
        "3 trace --compare found a divergence; 4 some documents of a batch failed (each has an error record in the output).";

    private static Command BuildRoot()
    {
        // a Command named bigbird rather than a RootCommand, which takes the name and version of the process's entry
        // assembly (the test host's, under a test)
        var root = new Command("bigbird",
            "BigBird (Hugging Face's transformers 4.27.1) in pure managed C#: long documents with block-sparse attention. " +
            "Without --model every command uses the embedded default model (a small BigBird trained on the King James Bible). " +
            "Text commands read their documents from arguments, --text, --input FILE|- or stdin; .jsonl, .ndjson and .json inputs " +
            "(or --jsonl) and --lines are batches. 'bigbird COMMAND --help' shows a command's options and their defaults.")
        {
            FillMask, Embed, Classify, Qa, Generate, Summarize, Tokenize, RunModel, Trace, Bench,
        };
        var help = new HelpOption();
        help.Action = new HelpWithExitCodes((HelpAction)help.Action!);
        root.Add(help);
        root.Add(new VersionOption { Action = new PrintVersion() });
        return root;
    }

    /// <summary>The version of this assembly (the informational version: the package version and the commit).</summary>
    public static string Version =>
        typeof(CliSchema).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion
        ?? typeof(CliSchema).Assembly.GetName().Version?.ToString() ?? "unknown";

    private sealed class PrintVersion : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            parseResult.InvocationConfiguration.Output.WriteLine(Version);
            return 0;
        }
    }

    /// <summary>The parser's help, followed by the exit codes.</summary>
    private sealed class HelpWithExitCodes(HelpAction help) : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            int code = help.Invoke(parseResult);
            parseResult.InvocationConfiguration.Output.WriteLine(ExitCodes);
            return code;
        }
    }

    private static Command TextCommand(string name, string argument, string description, Option[] own) =>
        Build(new Command(name, description), TextArgument(argument), [.. ModelOptions, .. TextInputOptions, NoTruncate, .. own]);

    private static Argument<string[]> TextArgument(string name) => new(name)
    {
        Arity = ArgumentArity.ZeroOrMore,
        Description = "Documents, one per argument (a text that starts with - goes after --).",
    };

    private static Command Build(Command command, Argument? argument, Option[] options)
    {
        if (argument is not null) command.Add(argument);
        foreach (var option in options) command.Add(option);
        return command;
    }

    private static Option<int> IntOption(string name, string helpName, string description, int defaultValue) =>
        new(name) { HelpName = helpName, Description = description, DefaultValueFactory = _ => defaultValue };

    private static Option<float> FloatOption(string name, string helpName, string description, float defaultValue) =>
        new(name) { HelpName = helpName, Description = description, DefaultValueFactory = _ => defaultValue };

    private static Option<T> Accepting<T>(this Option<T> option, params string[] values)
    {
        option.AcceptOnlyFromAmong(values);
        return option;
    }
}
