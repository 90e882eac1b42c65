using System.Buffers.Binary;
using System.Text;

namespace IommuLab.Firmware.DeviceTree;

/// <summary>A Device Tree property: a name and its raw (big-endian) value bytes.</summary>
/// <remarks>
/// The value is a slice of the source blob when read from a DTB (no copy). Typed accessors
/// return null or false on a value of the wrong shape instead of throwing: callers that model
/// the kernel must see the same "property is malformed" outcome the kernel sees.
/// </remarks>
public sealed class DtProperty
{
    private SourceExtras? _extras;

    public DtProperty(string name, ReadOnlyMemory<byte> value)
    {
        ArgumentNullException.ThrowIfNull(name);
        Name = name;
        Value = value;
    }

    public string Name { get; }

    public ReadOnlyMemory<byte> Value { get; internal set; }

    public int Length => Value.Length;

    public bool IsEmpty => Value.Length == 0;

    /// <summary>Labels a DTS source put on this property (empty for DTB input).</summary>
    public IReadOnlyList<string> Labels => (IReadOnlyList<string>?)_extras?.Labels ?? [];

    /// <summary>Byte offset of the FDT_PROP token in the DTB, or -1.</summary>
    public int DtbOffset { get; internal set; } = -1;

    /// <summary>Where a DTS source defined (or last assigned) this property, if it came from DTS.</summary>
    public SourcePosition? SourcePosition
    {
        get => _extras?.Position;
        internal set => (_extras ??= new()).Position = value;
    }

    /// <summary>Number of whole 32-bit cells, or -1 when the length is not a multiple of 4.</summary>
    public int CellCount => Value.Length % 4 == 0 ? Value.Length / 4 : -1;

    internal void AddLabel(string label)
    {
        var labels = (_extras ??= new()).Labels ??= [];
        if (!labels.Contains(label, StringComparer.Ordinal))
        {
            labels.Add(label);
        }
    }

    /// <summary>Cell <paramref name="index"/> (big-endian u32). The caller checks the bounds.</summary>
    public uint GetCell(int index) => BinaryPrimitives.ReadUInt32BigEndian(Value.Span.Slice(checked(index * 4), 4));

    /// <summary>The value as a single u32, like of_property_read_u32 (exactly 4 bytes... or more: the kernel reads the first cell).</summary>
    public bool TryGetU32(out uint value)
    {
        if (Value.Length < 4)
        {
            value = 0;
            return false;
        }

        value = GetCell(0);
        return true;
    }

    /// <summary>All cells, or null when the length is not a multiple of 4.</summary>
    public uint[]? GetCells()
    {
        if (Value.Length % 4 != 0)
        {
            return null;
        }

        var cells = new uint[Value.Length / 4];
        var span = Value.Span;
        for (var i = 0; i < cells.Length; i++)
        {
            cells[i] = BinaryPrimitives.ReadUInt32BigEndian(span.Slice(i * 4, 4));
        }

        return cells;
    }

    /// <summary>The first NUL-terminated string, or null when the value holds no terminated string.</summary>
    public string? GetString()
    {
        var span = Value.Span;
        var nul = span.IndexOf((byte)0);
        return nul < 0 ? null : Encoding.UTF8.GetString(span[..nul]);
    }

    /// <summary>All strings of a NUL-separated list, or null when the value does not end in NUL.</summary>
    public IReadOnlyList<string>? GetStringList()
    {
        var span = Value.Span;
        if (span.Length == 0 || span[^1] != 0)
        {
            return span.Length == 0 ? [] : null;
        }

        var list = new List<string>();
        while (span.Length > 0)
        {
            var nul = span.IndexOf((byte)0);
            list.Add(Encoding.UTF8.GetString(span[..nul]));
            span = span[(nul + 1)..];
        }

        return list;
    }

    public override string ToString() => $"{Name} ({Value.Length} bytes)";
}
