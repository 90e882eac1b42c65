using System.Runtime.CompilerServices;

namespace IommuLab.Model.Kernel;

/// <summary>
/// An interpolated log message that is formatted only when the kernel keeps log text at that level
/// (<see cref="Kernel.KeepsLogText"/>): a scan runs hundreds of thousands of executions whose trace lines nobody reads.
/// </summary>
[InterpolatedStringHandler]
public ref struct KernelLogMessage
{
    private DefaultInterpolatedStringHandler _text;
    private readonly bool _kept;

    public KernelLogMessage(int literalLength, int formattedCount, Kernel kernel, EventLevel level, out bool shouldAppend)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        _kept = shouldAppend = kernel.KeepsLogText || level >= EventLevel.Warn;
        _text = _kept ? new DefaultInterpolatedStringHandler(literalLength, formattedCount) : default;
    }

    public void AppendLiteral(string value) => _text.AppendLiteral(value);

    public void AppendFormatted<T>(T value) => _text.AppendFormatted(value);

    public void AppendFormatted<T>(T value, string? format) => _text.AppendFormatted(value, format);

    public void AppendFormatted<T>(T value, int alignment) => _text.AppendFormatted(value, alignment);

    public void AppendFormatted<T>(T value, int alignment, string? format) => _text.AppendFormatted(value, alignment, format);

    public void AppendFormatted(string? value) => _text.AppendFormatted(value);

    public void AppendFormatted(ReadOnlySpan<char> value) => _text.AppendFormatted(value);

    /// <summary>The message, or "" when it was not kept.</summary>
    public string ToStringAndClear() => _kept ? _text.ToStringAndClear() : "";
}
