using Engram.Native;

namespace Engram;

/// <summary>
/// A libengram call failed: <see cref="Status"/> is the native status and the message is the
/// native <c>engram_last_error()</c> text, which names the offending argument.
/// </summary>
public sealed class EngramException : Exception
{
    /// <summary>Creates the exception for a failed native call.</summary>
    public EngramException(EngramStatus status, string message)
        : base($"{message} [{StatusName(status)}]")
    {
        Status = status;
        NativeMessage = message;
    }

    /// <summary>The native status code.</summary>
    public EngramStatus Status { get; }

    /// <summary>The message as the native library wrote it.</summary>
    public string NativeMessage { get; }

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
