using IommuLab.Model.PageTables;

namespace IommuLab.Tests.PageTables;

/// <summary>Fresh simulated memory and a table allocator for one test.</summary>
internal sealed class PageTableKit
{
    public const ulong TableRegionStart = 0x4000_0000_0UL; // 16 GiB
    public const ulong TableRegionSize = 0x1000_0000UL;     // 256 MiB

    public PageTableKit(ulong memorySize = 1UL << 42, ulong tableRegionSize = TableRegionSize)
    {
        Memory = new PhysicalMemory(memorySize);
        Allocator = new TablePageAllocator(Memory, TableRegionStart, TableRegionStart + tableRegionSize);
    }

    public PhysicalMemory Memory { get; }

    public TablePageAllocator Allocator { get; }

    public IoPageTable Table(IoPgtableConfig config)
    {
        var table = IoPageTable.Allocate(config, Allocator, out var why);
        Assert.True(table is not null, why);
        return table!;
    }

    public static WalkerConfig WalkerFor(IoPageTable table) => table.Format == IoPgtableFormat.ArmLpaeS1
        ? LpaeWalkerConfig.ForTable(table)
        : DartWalkerConfig.ForTable(table, table.MinPageSize == 4096 ? DartTtbrEncoding.T8020 : DartTtbrEncoding.T8110,
            table.Ttbrs.Length == 1 && table.MinPageSize == 16384 ? 1 : 4);

    public const IommuProt Rw = IommuProt.Read | IommuProt.Write;
}
