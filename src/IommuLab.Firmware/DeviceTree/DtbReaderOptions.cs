namespace IommuLab.Firmware.DeviceTree;

/// <summary>
/// Limits that keep a hostile DTB cheap to reject. Values are slices of the blob, so memory grows with the
/// number of nodes and properties, not with value sizes; the defaults are far above any real board (the
/// largest corpus DTB has 1481 nodes and 222 KB) and a user can raise them.
/// </summary>
public sealed class DtbReaderOptions
{
    internal static readonly DtbReaderOptions Default = new();

    /// <summary>Deepest node nesting; the kernel's own unflattening gives up at 64 levels (FDT_MAX_DEPTH).</summary>
    public int MaxDepth { get; init; } = Fdt.DefaultMaxDepth;

    /// <summary>Most nodes in one blob (each costs a few hundred bytes of managed memory once read).</summary>
    public int MaxNodes { get; init; } = 1 << 20;

    /// <summary>Largest single property value in bytes, as <see cref="Dts.DtsParserOptions.MaxPropertyLength"/>.</summary>
    public int MaxPropertyLength { get; init; } = 64 << 20;
}
