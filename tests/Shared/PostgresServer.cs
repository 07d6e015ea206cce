using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Triage.Tests.Shared;

/// <summary>
/// A private PostgreSQL server, started with <see cref="StartNewAsync"/> and removed on dispose. One source file,
/// compiled into each test project that needs a real server (Storage.Tests' collection fixture, Worker.Tests'
/// outage tests), since test projects do not reference each other.
/// Debian's binaries from <c>/usr/lib/postgresql/&lt;highest version&gt;/bin</c> (or <c>$TRIAGE_TEST_PG_BIN</c>), a
/// cluster initialised in a temp dir, bound to 127.0.0.1 on a free port, trust authentication for user <c>triage</c>.
/// As root it runs the server as <c>postgres</c> via <c>runuser</c>, since initdb refuses root. A missing install or a failed start fails the tests; it never skips.
/// </summary>
internal sealed class PostgresServer : IAsyncDisposable
{
    public const string NotFoundMessage =
        "PostgreSQL binaries not found: install the Debian 'postgresql' package (.ci/run does)";

    private const string User = "triage";
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);

    private string _binDirectory = "";
    private string _root = "";
    private string _dataDirectory = "";
    private string _logFile = "";
    private bool _running;

    public int Port { get; private set; }

    /// <summary>Major version of the server in use, e.g. "15".</summary>
    public string Version { get; private set; } = "";

    private PostgresServer()
    {
    }

    public static async Task<PostgresServer> StartNewAsync()
    {
        var server = new PostgresServer();
        try
        {
            await server.InitializeAsync().ConfigureAwait(false);
            return server;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task InitializeAsync()
    {
        _binDirectory = FindBinDirectory() ?? throw new InvalidOperationException(
            $"{NotFoundMessage}. Looked for pg_ctl in /usr/lib/postgresql/*/bin and $TRIAGE_TEST_PG_BIN.");
        Version = Path.GetFileName(Path.GetDirectoryName(_binDirectory)) ?? "";

        // /tmp rather than $TMPDIR: the postgres user must be able to reach it, and the socket path must stay short.
        var tempBase = Environment.IsPrivilegedProcess && Directory.Exists("/tmp") ? "/tmp" : Path.GetTempPath();
        _root = Path.Combine(tempBase, "triage-pg-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(_root);
        _dataDirectory = Path.Combine(_root, "data");
        _logFile = Path.Combine(_root, "log");
        if (Environment.IsPrivilegedProcess)
            await RunAsync("chown", ["postgres:postgres", _root], asPostgres: false, "chown of the temp dir").ConfigureAwait(false);

        // --no-sync and fsync=off: a throw-away cluster need not survive a power cut, and tests run faster.
        await RunAsync(
            Path.Combine(_binDirectory, "initdb"),
            ["-D", _dataDirectory, "-A", "trust", "-U", User, "-E", "UTF8", "--locale=C", "--no-sync"],
            asPostgres: true,
            "initdb").ConfigureAwait(false);

        Port = FreeTcpPort();
        await StartAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_running)
                await StopAsync().ConfigureAwait(false);
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            if (_root.Length > 0 && Directory.Exists(_root))
                Directory.Delete(_root, recursive: true);
        }
    }

    /// <summary>Starts the server on <see cref="Port"/> with the same data directory (used again after <see cref="StopAsync"/>).</summary>
    public async Task StartAsync()
    {
        var options = string.Create(
            CultureInfo.InvariantCulture,
            $"-p {Port} -k {_root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off");
        await RunAsync(
            Path.Combine(_binDirectory, "pg_ctl"),
            ["-D", _dataDirectory, "-o", options, "-l", _logFile, "-w", "-t", "30", "start"],
            asPostgres: true,
            "pg_ctl start").ConfigureAwait(false);
        _running = true;
    }

    /// <summary>Fast shutdown: the server disconnects every client, as in a real restart.</summary>
    public async Task StopAsync()
    {
        await RunAsync(
            Path.Combine(_binDirectory, "pg_ctl"),
            ["-D", _dataDirectory, "-m", "fast", "-w", "-t", "30", "stop"],
            asPostgres: true,
            "pg_ctl stop").ConfigureAwait(false);
        _running = false;
    }

    public string ConnectionString(string database) =>
        new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = Port,
            Username = User,
            Database = database,
        }.ConnectionString;

    /// <summary>A new empty database, so each test starts from nothing; returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = "t_" + Guid.NewGuid().ToString("N");
        var admin = new NpgsqlConnectionStringBuilder(ConnectionString("postgres")) { Pooling = false }.ConnectionString;
        await using var connection = new NpgsqlConnection(admin);
        await connection.OpenAsync().ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        // Identifiers cannot be parameters; the name is a GUID we made.
        command.CommandText = $"CREATE DATABASE \"{name}\"";
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
        return ConnectionString(name);
    }

    private static string? FindBinDirectory()
    {
        var overridden = Environment.GetEnvironmentVariable("TRIAGE_TEST_PG_BIN");
        if (!string.IsNullOrEmpty(overridden))
            return File.Exists(Path.Combine(overridden, "pg_ctl")) ? overridden : null;

        const string debianRoot = "/usr/lib/postgresql";
        if (!Directory.Exists(debianRoot))
            return null;
        return Directory.GetDirectories(debianRoot)
            .Select(d => (Directory: Path.Combine(d, "bin"), Major: int.TryParse(Path.GetFileName(d), out var v) ? v : -1))
            .Where(c => c.Major >= 0 && File.Exists(Path.Combine(c.Directory, "pg_ctl")) && File.Exists(Path.Combine(c.Directory, "initdb")))
            .OrderByDescending(c => c.Major)
            .Select(c => c.Directory)
            .FirstOrDefault();
    }

    private static int FreeTcpPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private async Task RunAsync(string file, IReadOnlyList<string> arguments, bool asPostgres, string step)
    {
        var start = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _root, // postgres must be able to stat its working directory
        };
        if (asPostgres && Environment.IsPrivilegedProcess)
        {
            start.FileName = "runuser";
            foreach (var a in new[] { "-u", "postgres", "--", file })
                start.ArgumentList.Add(a);
        }
        else
        {
            start.FileName = file;
        }

        foreach (var a in arguments)
            start.ArgumentList.Add(a);

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{step}: could not start {start.FileName}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(CommandTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{step} did not finish within {CommandTimeout.TotalSeconds} s.{LogTail()}");
        }

        var output = (await stdout.ConfigureAwait(false)) + (await stderr.ConfigureAwait(false));
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{step} failed with exit code {process.ExitCode}:\n{output.Trim()}{LogTail()}");
    }

    private string LogTail()
    {
        if (_logFile.Length == 0 || !File.Exists(_logFile))
            return "";
        var lines = File.ReadAllLines(_logFile);
        return "\n--- server log (last lines) ---\n" + string.Join('\n', lines.TakeLast(30));
    }
}
