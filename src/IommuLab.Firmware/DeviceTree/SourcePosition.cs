namespace IommuLab.Firmware.DeviceTree;

/// <summary>A position in a DTS source file (1-based line and column).</summary>
public readonly record struct SourcePosition(string File, int Line, int Column)
{
    public override string ToString() => $"{File}:{Line}:{Column}";
}

/// <summary>One /memreserve/ entry (the DTB memory reservation block).</summary>
public readonly record struct MemoryReservation(ulong Address, ulong Size)
{
    /// <summary>Labels a DTS source put on the entry (lost in a DTB).</summary>
    public IReadOnlyList<string> Labels { get; init; } = [];
}

/// <summary>What only DTS input carries (labels, source position): kept out of line so DTB trees don't pay for it.</summary>
internal sealed class SourceExtras
{
    public List<string>? Labels { get; set; }

    public SourcePosition? Position { get; set; }
}
