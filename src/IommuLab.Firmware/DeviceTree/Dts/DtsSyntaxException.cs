using System.Text;

namespace IommuLab.Firmware.DeviceTree.Dts;

/// <summary>
/// A DTS source the compiler rejects: where (file:line:column, after any cpp linemarkers),
/// what was expected, and the offending source line with a caret under the column.
/// </summary>
public sealed class DtsSyntaxException : FirmwareFormatException
{
    public DtsSyntaxException(string file, int line, int column, string message, string excerpt)
        : base(file, $"{line}:{column}", message)
    {
        Line = line;
        Column = column;
        Excerpt = excerpt;
    }

    /// <summary>1-based line number.</summary>
    public int Line { get; }

    /// <summary>1-based column (characters, a tab counts as one).</summary>
    public int Column { get; }

    /// <summary>The source line and a caret line under <see cref="Column"/>; empty when there is no source text.</summary>
    public string Excerpt { get; }

    /// <summary>"file:line:column: what" and the excerpt, the form compilers use so editors can jump to it.</summary>
    public override string Message =>
        Excerpt.Length == 0 ? $"{Source}:{Line}:{Column}: {Detail}" : $"{Source}:{Line}:{Column}: {Detail}\n{Excerpt}";

    /// <summary>Builds the two excerpt lines for <paramref name="offset"/> in <paramref name="text"/>.</summary>
    internal static string BuildExcerpt(string text, int offset)
    {
        offset = Math.Clamp(offset, 0, text.Length);
        var start = offset == 0 ? 0 : text.LastIndexOf('\n', offset - 1) + 1;
        var end = text.IndexOf('\n', offset);
        if (end < 0)
        {
            end = text.Length;
        }

        // Very long lines (minified input) are cut around the column so the message stays readable.
        const int MaxWidth = 160;
        var from = start;
        if (offset - start > MaxWidth / 2)
        {
            from = offset - (MaxWidth / 2);
        }

        var to = Math.Min(end, from + MaxWidth);
        var sb = new StringBuilder(((to - from) * 2) + 16);
        sb.Append("    ");
        for (var i = from; i < to; i++)
        {
            sb.Append(text[i] == '\r' ? ' ' : text[i]);
        }

        sb.Append("\n    ");
        for (var i = from; i < offset; i++)
        {
            // Copy tabs so the caret lines up however the terminal expands them.
            sb.Append(text[i] == '\t' ? '\t' : ' ');
        }

        sb.Append('^');
        return sb.ToString();
    }
}
