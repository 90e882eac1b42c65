namespace IommuLab.Firmware.DeviceTree.Dts;

/// <summary>Include search path and the limits that keep hostile sources from exhausting the stack or memory.</summary>
public sealed class DtsParserOptions
{
    internal static readonly DtsParserOptions Default = new();

    /// <summary>Folders searched for /include/ and /incbin/ files after the including file's own folder (dtc's -i).</summary>
    public IReadOnlyList<string> IncludePaths { get; init; } = [];

    /// <summary>Deepest /include/ nesting; deeper nesting (or an include cycle) is an error.</summary>
    public int MaxIncludeDepth { get; init; } = 32;

    /// <summary>Deepest nesting of parentheses, unary operators and ?: in one integer expression.</summary>
    public int MaxExpressionDepth { get; init; } = 256;

    /// <summary>Deepest node nesting in the source and in the merged tree (the kernel stops at 64).</summary>
    public int MaxNodeDepth { get; init; } = 256;

    /// <summary>Most node bodies in the source, amendments included (each costs a few hundred bytes).</summary>
    public int MaxNodes { get; init; } = 1 << 20;

    /// <summary>Largest source text, including everything it includes, in characters.</summary>
    public long MaxTotalSourceLength { get; init; } = 1L << 30;

    /// <summary>Largest single property value in bytes (the FDT format itself caps a blob at 4 GiB).</summary>
    public int MaxPropertyLength { get; init; } = 64 << 20;
}
