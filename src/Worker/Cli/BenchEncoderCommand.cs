using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Triage.Classifier.Checkpoints;
using Triage.Classifier.Modeling;
using Triage.Classifier.Runtime;
using static TorchSharp.torch;

namespace Triage.Worker.Cli;

/// <summary>
/// <c>triage bench-encoder</c>: forward latency of a randomly initialised encoder of a given shape next to this
/// machine's libtorch GEMM rate, measured in one run, so the encoder's achieved GFLOP/s can be judged.
/// </summary>
internal static class BenchEncoderCommand
{
    public static Command Create()
    {
        var layers = new Option<int>("--layers") { DefaultValueFactory = _ => 12 };
        var hidden = new Option<int>("--hidden") { DefaultValueFactory = _ => 768 };
        var heads = new Option<int>("--heads") { DefaultValueFactory = _ => 12 };
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => 8 };
        var tokens = new Option<int>("--tokens") { DefaultValueFactory = _ => 512 };
        var repeats = new Option<int>("--repeats") { DefaultValueFactory = _ => 5 };
        var threads = new Option<int>("--threads") { DefaultValueFactory = _ => 0 };
        var command = new Command("bench-encoder", "Forward latency of a random encoder vs the machine's GEMM rate.") { layers, hidden, heads, batch, tokens, repeats, threads };
        command.SetAction(parse =>
        {
            var threadCount = TorchRuntime.ConfigureThreads(parse.GetValue(threads));
            var (l, d, h, b, t, r) = (parse.GetValue(layers), parse.GetValue(hidden), parse.GetValue(heads), parse.GetValue(batch), parse.GetValue(tokens), parse.GetValue(repeats));
            var gemm = GemmGflops(2048, r);
            var config = new BertConfig { NumHiddenLayers = l, HiddenSize = d, NumAttentionHeads = h, IntermediateSize = 4 * d, MaxPositionEmbeddings = Math.Max(512, t) };
            using var model = new BertModel(config);
            model.eval();
            var strategy = new DenseStrategy();
            using var ids = randint(1000, 20000, [b, t], dtype: ScalarType.Int64);
            using var mask = ones(b, t, dtype: ScalarType.Bool);
            var times = new List<double>();
            using (inference_mode())
            {
                for (var i = 0; i <= r; i++)
                {
                    var clock = Stopwatch.StartNew();
                    using (var output = model.Forward(ids, mask, null, strategy))
                    {
                        clock.Stop();
                    }

                    if (i > 0)
                    {
                        times.Add(clock.Elapsed.TotalSeconds); // run 0 is warm-up
                    }
                }
            }

            times.Sort();
            var median = times[times.Count / 2];
            // Matmul FLOPs per forward: Q/K/V/O projections, feed-forward, and the two attention products.
            var flops = (double)b * l * ((8.0 * t * d * d) + (4.0 * t * d * 4 * d) + (4.0 * t * t * d));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"encoder {l} layers × {d} hidden, batch {b} × {t} tokens, {threadCount} threads: median {median * 1000:F0} ms ({b / median:F2} docs/s), {flops / median / 1e9:F1} GFLOP/s achieved; libtorch GEMM 2048² fp32: {gemm:F1} GFLOP/s ({100 * flops / median / 1e9 / gemm:F0}% of it)"));
            return 0;
        });
        return command;
    }

    private static double GemmGflops(int n, int repeats)
    {
        using var a = randn(n, n);
        using var c = randn(n, n);
        var best = double.MaxValue;
        for (var i = 0; i <= repeats; i++)
        {
            var clock = Stopwatch.StartNew();
            using var product = matmul(a, c);
            clock.Stop();
            if (i > 0)
            {
                best = Math.Min(best, clock.Elapsed.TotalSeconds);
            }
        }

        return 2.0 * n * n * n / best / 1e9;
    }
}
