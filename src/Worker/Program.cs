using Triage.Worker.Cli;

return await TriageCli.Build().Parse(args).InvokeAsync(TriageCli.Invocation()).ConfigureAwait(false);
