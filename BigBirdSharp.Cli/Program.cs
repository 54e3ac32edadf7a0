using BigBirdSharp.Cli;

return BigBirdCli.Run(args, Console.Out, Console.Error, Console.In, Console.IsInputRedirected);
