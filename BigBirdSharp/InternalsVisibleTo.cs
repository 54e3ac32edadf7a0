using System.Runtime.CompilerServices;

// The command-line tool and the fuzz harnesses are part of this repository and use the checkpoint readers and
// writers, the kernel report and the string-named head loader, which are not part of the library's public API.
// (The tests and the benchmarks are named in BigBirdSharp.csproj.)
[assembly: InternalsVisibleTo("bigbird")] // BigBirdSharp.Cli's assembly
[assembly: InternalsVisibleTo("BigBirdSharp.Fuzz")]
[assembly: InternalsVisibleTo("BigBirdSharp.Gpu")] // the GPU backend validates attention arguments as the CPU backend does
