using System.Numerics;

namespace IommuLab.Model.PageTables;

/// <summary>An allocated IOVA range in granule frames (inclusive bounds), as <c>struct iova</c>.</summary>
public readonly record struct IovaRange(ulong PfnLo, ulong PfnHi)
{
    public ulong Size => PfnHi - PfnLo + 1;
}

/// <summary>
/// One IOVA space (<c>struct iova_domain</c>, drivers/iommu/iova.c): allocated ranges, allocated top-down below a
/// limit with the kernel's cached starting points, plus the per-size range caches that make a freed range of up to
/// 32 granules come back first. One CPU is modelled, so the per-CPU caches are one pair of magazines per size;
/// the delayed work that trims the depot is not modelled. Deterministic.
/// </summary>
public sealed class IovaAllocator
{
    /// <summary>The frame of the sentinel range that sits above every allocation (<c>IOVA_ANCHOR</c>).</summary>
    public const ulong AnchorPfn = ulong.MaxValue;

    /// <summary>Sizes below 2^this granules are cached (<c>IOVA_RANGE_CACHE_MAX_SIZE</c>).</summary>
    public const int RangeCacheMaxOrder = 6;

    /// <summary>Frames per magazine (<c>IOVA_MAG_SIZE</c>).</summary>
    public const int MagazineSize = 127;

    // Sorted by PfnLo; the last entry is always the anchor. Cached starting points are kept by PfnLo.
    private readonly List<IovaRange> _ranges = [new IovaRange(AnchorPfn, AnchorPfn)];
    private readonly RangeCache[]? _rcaches;
    private ulong _cachedNode = AnchorPfn;
    private ulong _cached32Node = AnchorPfn;
    private ulong _max32AllocSize;

    /// <summary>Models init_iova_domain() and, when <paramref name="rangeCaches"/>, iova_domain_init_rcaches().</summary>
    /// <param name="granule">Bytes per frame: a power of two (the smallest IOMMU page size).</param>
    /// <param name="startPfn">The lowest frame that may be handed out (never 0 for a DMA domain).</param>
    /// <param name="rangeCaches">Whether freed small ranges go through the range caches first.</param>
    public IovaAllocator(ulong granule, ulong startPfn, bool rangeCaches = true)
    {
        if (!ulong.IsPow2(granule) || granule > (1UL << 31))
        {
            throw new ArgumentOutOfRangeException(nameof(granule), granule, "granule must be a power of two up to 2 GiB");
        }

        Granule = granule;
        Shift = BitOperations.TrailingZeroCount(granule);
        StartPfn = startPfn;
        Dma32BitPfn = 1UL << (32 - Shift);
        _max32AllocSize = Dma32BitPfn;
        if (rangeCaches)
        {
            _rcaches = new RangeCache[RangeCacheMaxOrder];
            for (var i = 0; i < _rcaches.Length; i++)
            {
                _rcaches[i] = new RangeCache();
            }
        }
    }

    public ulong Granule { get; }

    public int Shift { get; }

    public ulong StartPfn { get; }

    /// <summary>The first frame at or above 4 GiB.</summary>
    public ulong Dma32BitPfn { get; }

    /// <summary>Ranges currently reserved in the tree, ascending (including ones parked in the range caches).</summary>
    public IReadOnlyList<IovaRange> Reserved => _ranges.GetRange(0, _ranges.Count - 1);

    /// <summary>How many freed ranges sit in the range caches, still reserved in the tree.</summary>
    public int CachedRangeCount => _rcaches?.Sum(c => c.Count) ?? 0;

    /// <summary>
    /// Reserves <paramref name="size"/> frames ending at or below <paramref name="limitPfn"/>, searching top-down
    /// from the cached starting point, aligned to the next power of two of the size if <paramref name="sizeAligned"/>.
    /// Models alloc_iova() and __alloc_and_insert_iova_range() (drivers/iommu/iova.c); null when nothing fits.
    /// </summary>
    public IovaRange? AllocIova(ulong size, ulong limitPfn, bool sizeAligned)
    {
        if (size == 0 || limitPfn == ulong.MaxValue)
        {
            return null;
        }

        var limit = limitPfn + 1; // exclusive from here on
        var alignMask = sizeAligned ? ~0UL << FlsLong(size - 1) : ~0UL;
        var high = limit;
        var low = StartPfn;
        if (limit <= Dma32BitPfn && size >= _max32AllocSize)
        {
            return null; // a same-or-larger request already failed below 4 GiB
        }

        var curr = IndexOf(limit <= Dma32BitPfn ? _cached32Node : _cachedNode);
        var retryPfn = _ranges[curr].PfnHi;
        while (true)
        {
            ulong newPfn = 0;
            while (true)
            {
                high = Math.Min(high, _ranges[curr].PfnLo);
                if (high < size)
                {
                    break;
                }

                newPfn = (high - size) & alignMask;
                curr--;
                if (curr < 0 || newPfn > _ranges[curr].PfnHi || newPfn < low)
                {
                    break;
                }
            }

            if (high >= size && newPfn >= low)
            {
                var range = new IovaRange(newPfn, newPfn + size - 1);
                _ranges.Insert(curr + 1, range);
                if (range.PfnHi < Dma32BitPfn)
                {
                    _cached32Node = range.PfnLo;
                }
                else
                {
                    _cachedNode = range.PfnLo;
                }

                return range;
            }

            if (low == StartPfn && retryPfn < limit)
            {
                // Second pass: the gap between the cached point and the limit, which the first pass skipped.
                high = limit;
                low = retryPfn + 1;
                curr = FindLimit(limit);
                continue;
            }

            _max32AllocSize = size;
            return null;
        }
    }

    /// <summary>
    /// Allocates <paramref name="size"/> frames at or below <paramref name="limitPfn"/>: sizes under 32 frames are
    /// rounded up to a power of two and served from the range caches first; on failure the caches may be flushed
    /// back to the tree and the search retried. Models alloc_iova_fast() (drivers/iommu/iova.c); 0 on failure.
    /// </summary>
    public ulong AllocIovaFast(ulong size, ulong limitPfn, bool flushRcache)
    {
        if (size == 0)
        {
            return 0;
        }

        if (size < (1UL << (RangeCacheMaxOrder - 1)))
        {
            size = BitOperations.RoundUpToPowerOf2(size);
        }

        var cached = RcacheGet(size, limitPfn);
        if (cached != 0)
        {
            return cached;
        }

        while (true)
        {
            var range = AllocIova(size, limitPfn, sizeAligned: true);
            if (range is { } r)
            {
                return r.PfnLo;
            }

            if (!flushRcache)
            {
                return 0;
            }

            flushRcache = false;
            FlushRangeCaches();
        }
    }

    /// <summary>
    /// Gives back a range from <see cref="AllocIovaFast"/>: parked in its size's range cache if there is room, else
    /// freed in the tree. Models free_iova_fast() (drivers/iommu/iova.c).
    /// </summary>
    public void FreeIovaFast(ulong pfn, ulong size)
    {
        if (!RcacheInsert(pfn, size))
        {
            FreeIova(pfn);
        }
    }

    /// <summary>Frees the range containing <paramref name="pfn"/>; false if none does. Models free_iova() (drivers/iommu/iova.c).</summary>
    public bool FreeIova(ulong pfn)
    {
        var index = FindIndex(pfn);
        if (index < 0)
        {
            return false;
        }

        Remove(index);
        return true;
    }

    /// <summary>The reserved range containing <paramref name="pfn"/>. Models find_iova() (drivers/iommu/iova.c).</summary>
    public IovaRange? FindIova(ulong pfn)
    {
        var index = FindIndex(pfn);
        return index < 0 ? null : _ranges[index];
    }

    /// <summary>
    /// Returns every cached range to the tree: each size's loaded then previous magazine, then the depots. Models
    /// free_cpu_cached_iovas() followed by free_global_cached_iovas() (drivers/iommu/iova.c).
    /// </summary>
    public void FlushRangeCaches()
    {
        if (_rcaches is null)
        {
            return;
        }

        foreach (var cache in _rcaches)
        {
            FreeAll(cache.Loaded);
            FreeAll(cache.Previous);
        }

        foreach (var cache in _rcaches)
        {
            while (cache.Depot.TryPop(out var magazine))
            {
                FreeAll(magazine);
            }
        }
    }

    /// <summary>Models iova_rcache_get() and __iova_rcache_get(): a cached frame no higher than the limit allows, or 0.</summary>
    private ulong RcacheGet(ulong size, ulong limitPfn)
    {
        var order = OrderBase2(size);
        if (_rcaches is null || order >= RangeCacheMaxOrder)
        {
            return 0;
        }

        var cache = _rcaches[order];
        if (cache.Loaded.Count == 0)
        {
            if (cache.Previous.Count != 0)
            {
                (cache.Loaded, cache.Previous) = (cache.Previous, cache.Loaded);
            }
            else if (cache.Depot.TryPop(out var full))
            {
                cache.Loaded = full;
            }
            else
            {
                return 0;
            }
        }

        // The highest frame the range may start at: limit + 1 - size.
        var maxStart = limitPfn + 1 < size ? 0 : limitPfn + 1 - size;
        return Pop(cache.Loaded, maxStart);
    }

    /// <summary>Models iova_rcache_insert() and __iova_rcache_insert().</summary>
    private bool RcacheInsert(ulong pfn, ulong size)
    {
        var order = OrderBase2(size);
        if (_rcaches is null || order >= RangeCacheMaxOrder)
        {
            return false;
        }

        var cache = _rcaches[order];
        if (cache.Loaded.Count == MagazineSize)
        {
            if (cache.Previous.Count != MagazineSize)
            {
                (cache.Loaded, cache.Previous) = (cache.Previous, cache.Loaded);
            }
            else
            {
                cache.Depot.Push(cache.Loaded);
                cache.Loaded = new List<ulong>(MagazineSize);
            }
        }

        cache.Loaded.Add(pfn);
        return true;
    }

    /// <summary>Models iova_magazine_pop(): the newest frame under the limit, its slot refilled from the top.</summary>
    private static ulong Pop(List<ulong> magazine, ulong maxPfn)
    {
        var i = magazine.Count - 1;
        while (magazine[i] > maxPfn)
        {
            if (i == 0)
            {
                return 0;
            }

            i--;
        }

        var pfn = magazine[i];
        magazine[i] = magazine[^1];
        magazine.RemoveAt(magazine.Count - 1);
        return pfn;
    }

    private void FreeAll(List<ulong> magazine)
    {
        foreach (var pfn in magazine)
        {
            FreeIova(pfn);
        }

        magazine.Clear();
    }

    /// <summary>Models remove_iova() with __cached_rbnode_delete_update(): cached points move above a freed range.</summary>
    private void Remove(int index)
    {
        var free = _ranges[index];
        var next = _ranges[index + 1].PfnLo; // the anchor guarantees a successor
        var cached32 = _ranges[IndexOf(_cached32Node)];
        if (free.PfnLo == cached32.PfnLo || (free.PfnHi < Dma32BitPfn && free.PfnLo >= cached32.PfnLo))
        {
            _cached32Node = next;
        }

        if (free.PfnLo < Dma32BitPfn)
        {
            _max32AllocSize = Dma32BitPfn;
        }

        if (free.PfnLo >= _ranges[IndexOf(_cachedNode)].PfnLo)
        {
            _cachedNode = next;
        }

        _ranges.RemoveAt(index);
    }

    /// <summary>Models iova_find_limit(): where a second top-down pass below <paramref name="limit"/> starts.</summary>
    private int FindLimit(ulong limit)
    {
        if (limit > Dma32BitPfn)
        {
            return _ranges.Count - 1;
        }

        // The first range reaching the limit; ranges are disjoint and sorted, so PfnHi is sorted too.
        int lo = 0, hi = _ranges.Count - 1;
        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            if (_ranges[mid].PfnHi >= limit)
            {
                hi = mid;
            }
            else
            {
                lo = mid + 1;
            }
        }

        return lo;
    }

    private int IndexOf(ulong pfnLo)
    {
        var index = LowerBound(pfnLo);
        if (index >= _ranges.Count || _ranges[index].PfnLo != pfnLo)
        {
            throw new InvalidOperationException($"model bug: cached IOVA node 0x{pfnLo:x} is not in the tree");
        }

        return index;
    }

    private int FindIndex(ulong pfn)
    {
        // Last range starting at or below pfn, if it contains pfn (the anchor is never returned).
        var index = LowerBound(pfn);
        if (index < _ranges.Count && _ranges[index].PfnLo == pfn)
        {
            return index == _ranges.Count - 1 ? -1 : index;
        }

        index--;
        return index >= 0 && _ranges[index].PfnHi >= pfn ? index : -1;
    }

    private int LowerBound(ulong pfnLo)
    {
        int lo = 0, hi = _ranges.Count;
        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            if (_ranges[mid].PfnLo < pfnLo)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    private static int FlsLong(ulong x) => x == 0 ? 0 : 64 - BitOperations.LeadingZeroCount(x);

    private static int OrderBase2(ulong x) => x <= 1 ? 0 : FlsLong(x - 1);

    private sealed class RangeCache
    {
        public List<ulong> Loaded { get; set; } = new(MagazineSize);

        public List<ulong> Previous { get; set; } = new(MagazineSize);

        public Stack<List<ulong>> Depot { get; } = new();

        public int Count => Loaded.Count + Previous.Count + Depot.Sum(m => m.Count);
    }
}
