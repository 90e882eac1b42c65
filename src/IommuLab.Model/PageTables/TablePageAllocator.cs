namespace IommuLab.Model.PageTables;

/// <summary>
/// Hands out zeroed, naturally aligned blocks of simulated RAM for page tables, from a fixed region, the way
/// <c>iommu_alloc_pages()</c> gets them from the page allocator. Deterministic: freed blocks are reused last-in
/// first-out per size, then the region is carved upwards. Running out is an ordinary result (-ENOMEM upstream).
/// </summary>
public sealed class TablePageAllocator
{
    private readonly PhysicalMemory _memory;
    private readonly Dictionary<ulong, Stack<ulong>> _free = new();
    private ulong _next;

    /// <param name="memory">The RAM the tables live in.</param>
    /// <param name="regionStart">First byte of the region (4 KiB aligned).</param>
    /// <param name="regionEnd">One past the last byte of the region (4 KiB aligned, inside memory).</param>
    public TablePageAllocator(PhysicalMemory memory, ulong regionStart, ulong regionEnd)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if ((regionStart | regionEnd) % PhysicalMemory.BackingPageSize != 0 || regionEnd <= regionStart
            || !memory.Contains(regionStart, regionEnd - regionStart))
        {
            throw new ArgumentOutOfRangeException(nameof(regionEnd), $"bad table region [0x{regionStart:x}, 0x{regionEnd:x})");
        }

        _memory = memory;
        RegionStart = regionStart;
        RegionEnd = regionEnd;
        _next = regionStart;
    }

    public PhysicalMemory Memory => _memory;

    public ulong RegionStart { get; }

    public ulong RegionEnd { get; }

    /// <summary>Bytes currently handed out.</summary>
    public ulong BytesInUse { get; private set; }

    /// <summary>Blocks currently handed out.</summary>
    public int BlocksInUse { get; private set; }

    /// <summary>
    /// Allocates a zeroed block of <paramref name="size"/> bytes (a power of two, at least 4 KiB), aligned to its size.
    /// Returns false when the region is exhausted.
    /// </summary>
    public bool TryAllocate(ulong size, out ulong address)
    {
        if (size < PhysicalMemory.BackingPageSize || !ulong.IsPow2(size))
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, "table blocks are power-of-two multiples of 4 KiB");
        }

        if (_free.TryGetValue(size, out var stack) && stack.TryPop(out address))
        {
            _memory.Clear(address, size);
            Account(size);
            return true;
        }

        var start = (_next + (size - 1)) & ~(size - 1);
        if (start < _next || start > RegionEnd || RegionEnd - start < size)
        {
            address = 0;
            return false;
        }

        _next = start + size;
        address = start;
        _memory.Clear(address, size); // a device may have written here before it held a table
        Account(size);
        return true;
    }

    /// <summary>Returns a block; its contents are zeroed so a stale walk through it finds nothing.</summary>
    public void Free(ulong address, ulong size)
    {
        if (address < RegionStart || address >= RegionEnd || (address & (size - 1)) != 0)
        {
            throw new InvalidOperationException($"model bug: freeing 0x{address:x} (+0x{size:x}) not from this allocator");
        }

        _memory.Clear(address, size);
        if (!_free.TryGetValue(size, out var stack))
        {
            stack = new Stack<ulong>();
            _free.Add(size, stack);
        }

        stack.Push(address);
        BytesInUse -= size;
        BlocksInUse--;
    }

    private void Account(ulong size)
    {
        BytesInUse += size;
        BlocksInUse++;
    }
}
