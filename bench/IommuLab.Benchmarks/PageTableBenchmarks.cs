using BenchmarkDotNet.Attributes;
using IommuLab.Model.PageTables;

namespace IommuLab.Benchmarks;

/// <summary>
/// One million page-table operations per invocation (half maps, half unmaps, of single pages through
/// iommu_map/iommu_unmap), per format, against a plain dictionary doing the same inserts and removes; plus the IOVA
/// allocator doing one million allocations and frees. Times are per operation.
/// </summary>
[MemoryDiagnoser]
public class PageTableBenchmarks
{
    private const int Operations = 1_000_000;
    private const int Batch = 500; // pages live at once; rounds of map-all then unmap-all
    private const IommuProt Rw = IommuProt.Read | IommuProt.Write;

    private readonly Dictionary<ulong, ulong> _dictionary = new();
    private IoPageTable _dart1 = null!;
    private IoPageTable _dart2 = null!;
    private IoPageTable _lpae = null!;
    private DmaIovaDomain _iova = null!;
    private DmaIovaClient _device = null!;
    private ulong[] _iovas = null!;

    [GlobalSetup]
    public void Setup()
    {
        var memory = new PhysicalMemory(1UL << 36);
        var allocator = new TablePageAllocator(memory, 1UL << 34, (1UL << 34) + (64UL << 20));
        _dart1 = IoPageTable.Allocate(IoPgtableConfig.AppleDart(4096, 32), allocator, out _)!;
        _dart2 = IoPageTable.Allocate(IoPgtableConfig.AppleDart2(16384, 36), allocator, out _)!; // DART2 hardware uses 16K pages
        _lpae = IoPageTable.Allocate(IoPgtableConfig.ArmLpaeS1(4096 | (2UL << 20) | (1UL << 30), 48, 48), allocator, out _)!;
        _iova = new DmaIovaDomain(4096, 0, (1UL << 36) - 1);
        _device = DmaIovaClient.Create(isPci: false);
        _iovas = new ulong[Batch];
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Operations)]
    public int DictionaryMapUnmap()
    {
        for (var round = 0; round < Operations / (2 * Batch); round++)
        {
            for (ulong i = 0; i < Batch; i++)
            {
                _dictionary.Add(0x10_0000 + i * 4096, 0x8000_0000 + i * 4096);
            }

            for (ulong i = 0; i < Batch; i++)
            {
                _dictionary.Remove(0x10_0000 + i * 4096);
            }
        }

        return _dictionary.Count;
    }

    [Benchmark(OperationsPerInvoke = Operations)]
    public ulong AppleDartMapUnmap4K() => MapUnmap(_dart1, 4096);

    [Benchmark(OperationsPerInvoke = Operations)]
    public ulong AppleDart2MapUnmap16K() => MapUnmap(_dart2, 16384);

    [Benchmark(OperationsPerInvoke = Operations)]
    public ulong ArmLpaeS1MapUnmap4K() => MapUnmap(_lpae, 4096);

    [Benchmark(OperationsPerInvoke = Operations)]
    public ulong IovaAllocFree()
    {
        ulong sum = 0;
        for (var round = 0; round < Operations / (2 * Batch); round++)
        {
            for (var i = 0; i < Batch; i++)
            {
                _iovas[i] = _iova.AllocIova(4096, (1UL << 36) - 1, _device);
                sum += _iovas[i];
            }

            for (var i = 0; i < Batch; i++)
            {
                _iova.FreeIova(_iovas[i], 4096);
            }
        }

        return sum;
    }

    private static ulong MapUnmap(IoPageTable table, ulong page)
    {
        ulong unmapped = 0;
        for (var round = 0; round < Operations / (2 * Batch); round++)
        {
            for (ulong i = 0; i < Batch; i++)
            {
                table.Map(0x100_0000 + i * page, 0x8000_0000 + i * page, page, Rw);
            }

            for (ulong i = 0; i < Batch; i++)
            {
                unmapped += table.Unmap(0x100_0000 + i * page, page);
            }
        }

        return unmapped;
    }
}
