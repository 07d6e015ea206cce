using Triage.Classifier.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Triage.Classifier.Tests;

public sealed class TorchRuntimeTests
{
    [Fact]
    public void Libtorch_initialises_on_this_host_as_it_is()
    {
        var report = TorchRuntime.EnsureInitialized();
        using var a = rand(64, 64);
        using var b = rand(64, 64);
        using var c = matmul(a, b);
        Assert.Equal(new long[] { 64, 64 }, c.shape);
        // The shim is needed exactly when the host libstdc++ is too old; the build decides, the runtime follows.
        Assert.Equal(File.Exists(Path.Combine(AppContext.BaseDirectory, TorchRuntime.ShimFileName)), report.GlibcxxShimLoaded);
    }

    [Fact]
    public void Auto_device_is_cpu_without_cuda_and_cuda_request_fails_clearly()
    {
        var device = TorchRuntime.ResolveDevice("auto");
        if (!TorchSharp.torch.cuda.is_available())
        {
            Assert.Equal(DeviceType.CPU, device.type);
            var ex = Assert.Throws<InvalidOperationException>(() => TorchRuntime.ResolveDevice("cuda:0"));
            Assert.Contains("CUDA is not available", ex.Message, StringComparison.Ordinal);
        }

        Assert.Throws<ArgumentException>(() => TorchRuntime.ResolveDevice("tpu"));
    }
}
