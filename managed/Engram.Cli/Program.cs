// engram: the command line of Engram. See EngramCli for the commands.
return Engram.Cli.EngramCli.Run(args, Engram.Cli.CliOutput.ForProcess());
