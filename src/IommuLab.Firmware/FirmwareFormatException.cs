namespace IommuLab.Firmware;

/// <summary>
/// Malformed firmware input. Every instance names the input, where in it the problem is
/// (byte offset, line:column, or DT path) and what was expected there.
/// </summary>
public class FirmwareFormatException : Exception
{
    public FirmwareFormatException(string source, string location, string message)
        : base($"{source}: {location}: {message}")
    {
        Source = source;
        Location = location;
        Detail = message;
    }

    /// <summary>The input's name (usually a file path).</summary>
    public new string Source { get; }

    /// <summary>Where: "offset 0x1c", "12:5" or a DT path.</summary>
    public string Location { get; }

    /// <summary>What was expected and what was found, without the location prefix.</summary>
    public string Detail { get; }

    /// <summary>The size limit the input went past (its switch is <see cref="FirmwareLimits.Switch"/>), or null for a malformed input.</summary>
    public FirmwareLimit? Limit { get; private set; }

    /// <summary>Marks <paramref name="error"/> as a limit hit; the message already names the switch.</summary>
    internal static T Exceeds<T>(T error, FirmwareLimit limit)
        where T : FirmwareFormatException
    {
        error.Limit = limit;
        return error;
    }
}
