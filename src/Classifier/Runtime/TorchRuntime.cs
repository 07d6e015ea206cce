using System.Runtime.InteropServices;
using TorchSharp;

namespace Triage.Classifier.Runtime;

/// <summary>
/// Loads libtorch once per process and picks the compute device. Libtorch is process-wide native state, so this is
/// the one place that keeps a process-wide flag; everything else receives a <see cref="torch.Device"/>.
/// </summary>
public static class TorchRuntime
{
    /// <summary>File name of the glibcxx shim that the build emits next to the assembly on old-libstdc++ hosts.</summary>
    public const string ShimFileName = "libtriage_glibcxx_shim.so";

    private static readonly Lazy<NativeLoadReport> Loaded = new(LoadNative, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Makes sure libtorch is loaded; safe to call from any thread, any number of times.</summary>
    public static NativeLoadReport EnsureInitialized() => Loaded.Value;

    /// <summary>
    /// Resolves a device setting: <c>auto</c> (CUDA when available, else CPU), <c>cpu</c>, <c>cuda</c> or
    /// <c>cuda:N</c>. Asking for CUDA where none is available is an error that says so, never a silent fallback.
    /// </summary>
    public static torch.Device ResolveDevice(string setting)
    {
        ArgumentNullException.ThrowIfNull(setting);
        EnsureInitialized();
        var value = setting.Trim().ToLowerInvariant();
        if (value is "" or "auto")
        {
            return torch.cuda.is_available() ? torch.CUDA : torch.CPU;
        }

        if (value == "cpu")
        {
            return torch.CPU;
        }

        if (value == "cuda" || value.StartsWith("cuda:", StringComparison.Ordinal))
        {
            if (!torch.cuda.is_available())
            {
                throw new InvalidOperationException(
                    $"Device '{setting}' was requested but CUDA is not available in this process (CPU libtorch build or no GPU). Use 'auto' or 'cpu'.");
            }

            var index = value == "cuda" ? 0 : int.Parse(value.AsSpan(5), System.Globalization.CultureInfo.InvariantCulture);
            var count = torch.cuda.device_count();
            if (index < 0 || index >= count)
            {
                throw new InvalidOperationException($"Device '{setting}' does not exist: {count} CUDA device(s) visible.");
            }

            return new torch.Device(DeviceType.CUDA, index);
        }

        throw new ArgumentException($"Unknown device '{setting}'. Expected auto, cpu, cuda or cuda:N.", nameof(setting));
    }

    /// <summary>Sets libtorch's intra-op thread count; 0 means the number of physical cores (logical / 2 when SMT).</summary>
    public static int ConfigureThreads(int threads)
    {
        EnsureInitialized();
        var count = threads > 0 ? threads : DefaultThreadCount();
        torch.set_num_threads(count);
        return count;
    }

    /// <summary>Physical cores as far as the runtime can tell: libtorch's own default, which already excludes SMT.</summary>
    public static int DefaultThreadCount() => Math.Max(1, Environment.ProcessorCount);

    private static NativeLoadReport LoadNative()
    {
        var shim = Path.Combine(AppContext.BaseDirectory, ShimFileName);
        var shimLoaded = false;
        if (OperatingSystem.IsLinux() && File.Exists(shim))
        {
            // RTLD_GLOBAL so that libLibTorchSharp.so, loaded later, binds std::ios_base_library_init() to the shim.
            if (NativeMethods.dlopen(shim, NativeMethods.RtldNow | NativeMethods.RtldGlobal) == IntPtr.Zero)
            {
                throw new InvalidOperationException($"Could not load {shim}: {Marshal.PtrToStringAnsi(NativeMethods.dlerror())}");
            }

            shimLoaded = true;
        }

        try
        {
            torch.InitializeDeviceType(DeviceType.CPU);
        }
        catch (Exception ex) when (ex is TypeInitializationException or DllNotFoundException or NotSupportedException)
        {
            throw new InvalidOperationException(
                "libtorch failed to load. On hosts with libstdc++ older than GCC 13 (e.g. Debian 12) the build patches " +
                "libLibTorchSharp.so and emits " + ShimFileName + " next to the assembly; rebuild on this host " +
                "(needs gcc) or run on a newer base image. Inner error: " + ex.Message, ex);
        }

        return new NativeLoadReport(shimLoaded, torch.cuda.is_available());
    }

    private static class NativeMethods
    {
        public const int RtldNow = 2;
        public const int RtldGlobal = 0x100;

        [DllImport("libc", EntryPoint = "dlopen", CharSet = CharSet.Ansi, BestFitMapping = false)]
        public static extern IntPtr dlopen([MarshalAs(UnmanagedType.LPStr)] string fileName, int flags);

        [DllImport("libc", EntryPoint = "dlerror")]
        public static extern IntPtr dlerror();
    }
}

/// <summary>What happened when libtorch was loaded.</summary>
/// <param name="GlibcxxShimLoaded">True when the old-libstdc++ shim had to be loaded first.</param>
/// <param name="CudaAvailable">True when this libtorch build sees a CUDA device.</param>
public sealed record NativeLoadReport(bool GlibcxxShimLoaded, bool CudaAvailable);
