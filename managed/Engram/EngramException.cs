using Engram.Native;

namespace Engram;

/// <summary>What every exception raised for a failed libengram call carries.</summary>
public interface IEngramError
{
    /// <summary>The native status code.</summary>
    EngramStatus Status { get; }

    /// <summary>The message as the native library wrote it (<c>engram_last_error()</c>); it names the argument.</summary>
    string NativeMessage { get; }
}

/// <summary>
/// A libengram call failed with a status other than ENGRAM_ERR_INVALID_ARGUMENT (those are
/// <see cref="EngramArgumentException"/>): <see cref="Status"/> is the native status and the message is
/// the native <c>engram_last_error()</c> text, which names the offending argument.
/// </summary>
public sealed class EngramException : Exception, IEngramError
{
    /// <summary>Creates the exception for a failed native call.</summary>
    public EngramException(EngramStatus status, string message)
        : base(EngramErrors.Format(status, message))
    {
        Status = status;
        NativeMessage = message;
    }

    /// <inheritdoc/>
    public EngramStatus Status { get; }

    /// <inheritdoc/>
    public string NativeMessage { get; }
}

/// <summary>
/// libengram rejected an argument (ENGRAM_ERR_INVALID_ARGUMENT): a bad size, option value, null pointer,
/// shard or aliasing. An <see cref="ArgumentException"/>, so callers can treat it as any other bad argument;
/// <see cref="IEngramError.NativeMessage"/> names the argument as the C ABI sees it (e.g. <c>opts-&gt;softcap</c>),
/// and <see cref="ArgumentException.ParamName"/> is that name.
/// </summary>
public sealed class EngramArgumentException : ArgumentException, IEngramError
{
    /// <summary>Creates the exception for a native ENGRAM_ERR_INVALID_ARGUMENT.</summary>
    public EngramArgumentException(string message)
        : base(EngramErrors.Format(EngramStatus.InvalidArgument, message), EngramErrors.ArgumentName(message))
    {
        NativeMessage = message;
    }

    /// <inheritdoc/>
    public EngramStatus Status => EngramStatus.InvalidArgument;

    /// <inheritdoc/>
    public string NativeMessage { get; }
}

/// <summary>Maps a native status and message to the exception the managed API throws.</summary>
internal static class EngramErrors
{
    /// <summary>INVALID_ARGUMENT → <see cref="EngramArgumentException"/>; every other failure → <see cref="EngramException"/>.</summary>
    public static Exception For(EngramStatus status, string message) => status == EngramStatus.InvalidArgument
        ? new EngramArgumentException(message)
        : new EngramException(status, message);

    /// <summary>
    /// The argument a native message names: libengram writes "function: argument ...", e.g.
    /// "engram_cce_forward: opts->z_loss must be finite" → "opts->z_loss". Null when there is no such prefix.
    /// </summary>
    public static string? ArgumentName(string message)
    {
        int colon = message.IndexOf(": ", StringComparison.Ordinal);
        if (colon < 0) return null;
        var rest = message.AsSpan(colon + 2);
        int end = 0;
        while (end < rest.Length && (char.IsAsciiLetterOrDigit(rest[end]) || rest[end] is '_' or '.' or '-' or '>')) end++;
        return end > 0 ? rest[..end].ToString() : null;
    }

    public static string Format(EngramStatus status, string message) => $"{message} [{StatusName(status)}]";

    private static string StatusName(EngramStatus status) => status switch
    {
        EngramStatus.Ok => "ENGRAM_OK",
        EngramStatus.InvalidArgument => "ENGRAM_ERR_INVALID_ARGUMENT",
        EngramStatus.OutOfRange => "ENGRAM_ERR_OUT_OF_RANGE",
        EngramStatus.Unsupported => "ENGRAM_ERR_UNSUPPORTED",
        EngramStatus.NoDevice => "ENGRAM_ERR_NO_DEVICE",
        EngramStatus.OutOfMemory => "ENGRAM_ERR_OUT_OF_MEMORY",
        EngramStatus.Device => "ENGRAM_ERR_DEVICE",
        EngramStatus.WrongBackend => "ENGRAM_ERR_WRONG_BACKEND",
        EngramStatus.Internal => "ENGRAM_ERR_INTERNAL",
        _ => $"status {(int)status}",
    };
}
