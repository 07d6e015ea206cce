using Microsoft.Extensions.Options;

namespace Triage.Worker.Messages;

/// <summary>Reads <c>file://</c> claim checks: an absolute local path, read with a size limit.</summary>
internal sealed class FileClaimCheckReader : IClaimCheckReader
{
    private readonly string? _root;

    public FileClaimCheckReader(IOptions<EnvelopeOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var root = options.Value.ClaimCheckRoot;
        _root = string.IsNullOrWhiteSpace(root) ? null : Path.TrimEndingDirectorySeparator(Path.GetFullPath(root)) + Path.DirectorySeparatorChar;
    }

    public bool CanRead(Uri uri) => uri is { IsAbsoluteUri: true } && uri.Scheme == Uri.UriSchemeFile;

    public async Task<byte[]> ReadAsync(Uri uri, long maxBytes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(uri);
        if (!CanRead(uri))
        {
            throw new ClaimCheckException($"'{uri}' is not a file:// URI.");
        }

        // A host part would make this a UNC share: a network read the operator did not ask for.
        if (!string.IsNullOrEmpty(uri.Host) && !string.Equals(uri.Host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            throw new ClaimCheckException($"Claim check '{uri}' names a remote host; only local files are read.");
        }

        var path = uri.LocalPath;
        if (!Path.IsPathFullyQualified(path))
        {
            throw new ClaimCheckException($"Claim check '{uri}' is not an absolute path.");
        }

        path = Resolve(path);
        if (_root is not null && !path.StartsWith(_root, StringComparison.Ordinal))
        {
            throw new ClaimCheckException($"Claim check '{path}' is outside the allowed directory {_root}.");
        }

        try
        {
            var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, useAsync: true);
            await using (stream.ConfigureAwait(false))
            {
                if (stream.Length > maxBytes)
                {
                    throw TooLarge(path, stream.Length, maxBytes);
                }

                // The length check is a fast path; counting while reading also catches a file that grows meanwhile.
                using var content = new MemoryStream((int)stream.Length);
                var chunk = new byte[81920];
                long total = 0;
                int read;
                while ((read = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    total += read;
                    if (total > maxBytes)
                    {
                        throw TooLarge(path, total, maxBytes);
                    }

                    content.Write(chunk, 0, read);
                }

                return content.ToArray();
            }
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            throw new ClaimCheckException($"Claim check '{path}' cannot be read: {exception.Message}", exception);
        }
    }

    private static string Resolve(string path)
    {
        try
        {
            // Follow symbolic links so the root check applies to the file actually read.
            var target = new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true);
            return Path.GetFullPath(target?.FullName ?? path);
        }
        catch (IOException)
        {
            return Path.GetFullPath(path);
        }
    }

    private static ClaimCheckException TooLarge(string path, long size, long maxBytes) =>
        new($"Claim check '{path}' is larger than the limit of {maxBytes} bytes (at least {size} bytes).") { TooLarge = true };
}
