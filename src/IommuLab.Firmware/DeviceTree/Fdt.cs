namespace IommuLab.Firmware.DeviceTree;

/// <summary>Flattened Device Tree constants (Devicetree Specification v0.4, chapter 5).</summary>
internal static class Fdt
{
    public const uint Magic = 0xd00dfeed;
    public const uint BeginNode = 1;
    public const uint EndNode = 2;
    public const uint Prop = 3;
    public const uint Nop = 4;
    public const uint End = 9;

    /// <summary>Header size of version 17 (ten u32 fields).</summary>
    public const int HeaderSizeV17 = 40;

    /// <summary>Header size of version 16 (no size_dt_struct).</summary>
    public const int HeaderSizeV16 = 36;

    public const int ReservationEntrySize = 16;

    /// <summary>Nesting limit; the kernel's own unflattening gives up at 64 levels (FDT_MAX_DEPTH).</summary>
    public const int DefaultMaxDepth = 64;

    public static int Align4(int n) => checked((n + 3) & ~3);
}
