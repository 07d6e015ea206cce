using System.Data.Common;

namespace Triage.Storage;

/// <summary>
/// Makes a connection string safe to show: exception messages and logs end up in places with weaker access control
/// than the secret store the connection string came from.
/// </summary>
internal static class ConnectionStringRedactor
{
    public const string Mask = "***";

    /// <summary>Shown instead of a connection string that cannot be parsed, since we cannot tell where its secrets are.</summary>
    public const string Unparseable = "(connection string not shown: it could not be parsed)";

    /// <summary>
    /// Returns <paramref name="connectionString"/> with the values of Password, Pwd and *Key (and other secret-looking)
    /// keywords replaced by <see cref="Mask"/>; other keywords keep their values.
    /// </summary>
    public static string Redact(string? connectionString)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
            return string.Empty;

        // DbConnectionStringBuilder parses quoting the way the providers do, so Password="a;b" cannot leak its tail.
        var builder = new DbConnectionStringBuilder();
        try
        {
            builder.ConnectionString = connectionString;
        }
        catch (ArgumentException)
        {
            return Unparseable;
        }

        foreach (var key in builder.Keys.Cast<string>().ToList())
        {
            if (IsSecret(key))
                builder[key] = Mask;
        }

        return builder.ConnectionString;
    }

    private static bool IsSecret(string keyword)
    {
        var k = keyword.Replace(" ", "", StringComparison.Ordinal).Replace("_", "", StringComparison.Ordinal)
            .ToUpperInvariant();
        return k.Contains("PASSWORD", StringComparison.Ordinal)
            || k == "PWD"
            || k.EndsWith("KEY", StringComparison.Ordinal)
            || k.Contains("SECRET", StringComparison.Ordinal)
            || k.Contains("TOKEN", StringComparison.Ordinal);
    }
}
