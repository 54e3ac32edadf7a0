using BigBirdSharp.Cli;

// the last line of defence: an exception on any thread (the main one is already caught inside Run) prints one
// internal-error line and exits 1, never a stack trace or a signal
AppDomain.CurrentDomain.UnhandledException += (_, e) =>
{
    try
    {
        Console.Out.Flush();
        Console.Error.WriteLine(e.ExceptionObject is Exception x
            ? BigBirdCli.InternalErrorLine(x)
            : "bigbird: internal error: an unknown fault. Please report it with the command line.");
        Console.Error.Flush();
    }
    finally
    {
        Environment.Exit(BigBirdCli.Failed);
    }
};

try
{
    using var stdin = Console.OpenStandardInput();
    int code = BigBirdCli.Run(args, Console.Out, Console.Error, stdin, Console.IsInputRedirected);
    Console.Out.Flush();
    return code;
}
catch (Exception e)
{
    return BigBirdCli.Report(e, Console.Error);
}
