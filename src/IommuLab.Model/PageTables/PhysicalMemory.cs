using System.Runtime.InteropServices;

namespace IommuLab.Model.PageTables;

/// <summary>
/// Simulated RAM for one execution: <see cref="Size"/> bytes starting at physical address 0, backed sparsely in
/// 256-byte chunks that are created on the first non-zero write (a page table is mostly zero: one walk touches one
/// entry per level, so whole 4 KiB pages would be allocated and mostly wasted once per execution), indexed by 4 KiB
/// page so that dropping a page is one lookup. Unbacked RAM reads as zero; addresses at or above
/// <see cref="Size"/> are outside memory, and the <c>Try</c> methods report them instead of throwing, because page
/// tables and DMA targets may be garbage. Methods without <c>Try</c> are for the kernel's own accesses to memory it
/// allocated; reaching outside memory there is a bug in the model and throws.
/// </summary>
public sealed class PhysicalMemory
{
    /// <summary>Backing page size (bytes); independent of the IOMMU granule.</summary>
    public const ulong BackingPageSize = 4096;

    private const int PageShift = 12;
    private const int ChunkShift = 8;
    private const ulong ChunkSize = 1UL << ChunkShift;
    private const int WordsPerChunk = (int)(ChunkSize / sizeof(ulong));
    private const int ChunksPerPage = 1 << (PageShift - ChunkShift);

    // 4 KiB page number -> its chunks (null: reads as zero).
    private readonly Dictionary<ulong, ulong[]?[]> _pages = new(16);
    private int _chunks;

    // Dropped chunks (zeroed) and page slot arrays (all null), reused before allocating new ones.
    private readonly Stack<ulong[]> _spareChunks = new();
    private readonly Stack<ulong[]?[]> _spareSlots = new();

    // Table walks touch the same chunk several times in a row.
    private ulong _lastChunk = ulong.MaxValue;
    private ulong[]? _lastData;

    public PhysicalMemory(ulong size)
    {
        if (size == 0 || size % BackingPageSize != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, "memory size must be a non-zero multiple of 4 KiB");
        }

        Size = size;
    }

    /// <summary>Bytes of RAM; the highest valid address is Size - 1.</summary>
    public ulong Size { get; }

    /// <summary>How many 256-byte chunks hold data (a measure of the sparse footprint).</summary>
    public int BackedChunkCount => _chunks;

    /// <summary>Whether [address, address + length) lies entirely inside memory (no wrap-around).</summary>
    public bool Contains(ulong address, ulong length) => length <= Size && address <= Size - length;

    /// <summary>Reads an aligned 64-bit little-endian word; false when it is outside memory or misaligned.</summary>
    public bool TryReadU64(ulong address, out ulong value)
    {
        if ((address & 7) != 0 || !Contains(address, sizeof(ulong)))
        {
            value = 0;
            return false;
        }

        var page = Find(address >> ChunkShift);
        value = page is null ? 0 : page[(int)((address & (ChunkSize - 1)) >> 3)];
        return true;
    }

    /// <summary>Reads a word of memory the kernel owns (a page-table entry it wrote).</summary>
    public ulong ReadU64(ulong address)
    {
        if (!TryReadU64(address, out var value))
        {
            throw new InvalidOperationException($"model bug: read of 0x{address:x} outside memory of 0x{Size:x} bytes or misaligned");
        }

        return value;
    }

    /// <summary>Writes an aligned 64-bit word; false when it is outside memory or misaligned.</summary>
    public bool TryWriteU64(ulong address, ulong value)
    {
        if ((address & 7) != 0 || !Contains(address, sizeof(ulong)))
        {
            return false;
        }

        var pfn = address >> ChunkShift;
        var page = Find(pfn);
        if (page is null)
        {
            if (value == 0)
            {
                return true; // already reads as zero: stay sparse
            }

            page = Create(pfn);
        }

        page[(int)((address & (ChunkSize - 1)) >> 3)] = value;
        return true;
    }

    /// <summary>Writes a word of memory the kernel owns.</summary>
    public void WriteU64(ulong address, ulong value)
    {
        if (!TryWriteU64(address, value))
        {
            throw new InvalidOperationException($"model bug: write of 0x{address:x} outside memory of 0x{Size:x} bytes or misaligned");
        }
    }

    /// <summary>Copies bytes out of memory (a device read); false, copying nothing, if any byte is outside memory.</summary>
    public bool TryRead(ulong address, Span<byte> destination)
    {
        if (!Contains(address, (ulong)destination.Length))
        {
            return false;
        }

        while (!destination.IsEmpty)
        {
            var offset = (int)(address & (ChunkSize - 1));
            var chunk = Math.Min(destination.Length, (int)ChunkSize - offset);
            var page = Find(address >> ChunkShift);
            if (page is null)
            {
                destination[..chunk].Clear();
            }
            else
            {
                MemoryMarshal.AsBytes(page.AsSpan()).Slice(offset, chunk).CopyTo(destination);
            }

            destination = destination[chunk..];
            address += (ulong)chunk;
        }

        return true;
    }

    /// <summary>Copies bytes into memory (a device write); false, writing nothing, if any byte is outside memory.</summary>
    public bool TryWrite(ulong address, ReadOnlySpan<byte> source)
    {
        if (!Contains(address, (ulong)source.Length))
        {
            return false;
        }

        while (!source.IsEmpty)
        {
            var offset = (int)(address & (ChunkSize - 1));
            var chunk = Math.Min(source.Length, (int)ChunkSize - offset);
            var pfn = address >> ChunkShift;
            var page = Find(pfn);
            if (page is not null || source[..chunk].ContainsAnyExcept((byte)0))
            {
                page ??= Create(pfn);
                source[..chunk].CopyTo(MemoryMarshal.AsBytes(page.AsSpan()).Slice(offset, chunk));
            }

            source = source[chunk..];
            address += (ulong)chunk;
        }

        return true;
    }

    /// <summary>Zeroes a page-aligned range the kernel owns, dropping its backing pages.</summary>
    public void Clear(ulong address, ulong length)
    {
        if ((address | length) % BackingPageSize != 0 || !Contains(address, length))
        {
            throw new InvalidOperationException($"model bug: clear of [0x{address:x}, +0x{length:x}) is unaligned or outside memory");
        }

        var first = address >> PageShift;
        var end = (address + length) >> PageShift;
        if (end - first > 64 + (4 * (ulong)_pages.Count))
        {
            DropBacked(first, end);
        }
        else
        {
            for (var pfn = first; pfn < end; pfn++)
            {
                Drop(pfn);
            }
        }

        _lastChunk = ulong.MaxValue;
        _lastData = null;
    }

    // A separate method, so that the closure is made only for a long range, not at every Clear.
    private void DropBacked(ulong first, ulong end)
    {
        foreach (var pfn in _pages.Keys.Where(n => n >= first && n < end).ToList())
        {
            Drop(pfn);
        }
    }

    private void Drop(ulong pfn)
    {
        if (_pages.Remove(pfn, out var slots))
        {
            for (var i = 0; i < slots.Length; i++)
            {
                if (slots[i] is { } c)
                {
                    // Kept for the next chunk this memory creates (a DMA check backs and drops one buffer per device).
                    Array.Clear(c);
                    _spareChunks.Push(c);
                    slots[i] = null;
                    _chunks--;
                }
            }

            _spareSlots.Push(slots);
        }
    }

    private ulong[]? Find(ulong chunk)
    {
        if (chunk == _lastChunk)
        {
            return _lastData;
        }

        if (!_pages.TryGetValue(chunk >> (PageShift - ChunkShift), out var slots) || slots[(int)(chunk & (ChunksPerPage - 1))] is not { } data)
        {
            return null; // not cached: a later write may create it
        }

        _lastChunk = chunk;
        _lastData = data;
        return data;
    }

    private ulong[] Create(ulong chunk)
    {
        var pfn = chunk >> (PageShift - ChunkShift);
        if (!_pages.TryGetValue(pfn, out var slots))
        {
            slots = _spareSlots.TryPop(out var spare) ? spare : new ulong[]?[ChunksPerPage];
            _pages.Add(pfn, slots);
        }

        var data = _spareChunks.TryPop(out var zeroed) ? zeroed : new ulong[WordsPerChunk];
        slots[(int)(chunk & (ChunksPerPage - 1))] = data;
        _chunks++;
        _lastChunk = chunk;
        _lastData = data;
        return data;
    }
}
