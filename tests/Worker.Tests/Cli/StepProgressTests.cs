using System.Diagnostics;
using Triage.Worker.Cli;

namespace Triage.Worker.Tests.Cli;

public sealed class StepProgressTests
{
    [Fact]
    public void Eta_after_a_resume_counts_only_the_steps_this_process_took()
    {
        var now = 0L;
        var rate = new StepRate(() => now);
        rate.Observe(400); // resumed at step 400 of 1 000
        now = 100 * Stopwatch.Frequency; // 100 s for 100 steps: 1 step/s
        rate.Observe(500);
        Assert.Equal(TimeSpan.FromSeconds(500), rate.Remaining(500, 1000));
    }

    [Fact]
    public void A_step_count_that_goes_back_restarts_the_clock()
    {
        var now = 0L;
        var rate = new StepRate(() => now);
        rate.Observe(1);
        now = 90 * Stopwatch.Frequency;
        rate.Observe(10);
        Assert.Null(rate.Remaining(1, 10));

        // LTP's hard stage: steps start again at 1; 10 s for 10 steps there means 1 s per step for the 10 left.
        rate.Observe(1);
        now += 10 * Stopwatch.Frequency;
        rate.Observe(11);
        Assert.Equal(TimeSpan.FromSeconds(10), rate.Remaining(11, 21));
    }

    [Fact]
    public void Plain_lines_every_n_steps_keep_milestones_and_the_last_step()
    {
        var output = new StringWriter();
        var lines = new StepLines(output, lineEvery: 5);
        for (var step = 1; step <= 12; step++)
        {
            lines.Report(new StepStatus(step, 12, $"loss {step}"));
        }

        lines.Report(new StepStatus(12, 12, "epoch 1: validation loss 0.5", Milestone: true));
        var written = output.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, written.Length);
        Assert.StartsWith("step 5/12 loss 5 ETA ", written[0], StringComparison.Ordinal);
        Assert.StartsWith("step 10/12 loss 10", written[1], StringComparison.Ordinal);
        Assert.StartsWith("step 12/12 loss 12", written[2], StringComparison.Ordinal);
        Assert.Equal("epoch 1: validation loss 0.5", written[3]);
    }
}
