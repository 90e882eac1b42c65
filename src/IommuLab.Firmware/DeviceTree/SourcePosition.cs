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
