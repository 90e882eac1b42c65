using IommuLab.Firmware.DeviceTree;

namespace IommuLab.Firmware.Topology;

/// <summary>One (address, size) pair of a <c>reg</c> property.</summary>
public readonly record struct RegRange(ulong Address, ulong Size);

/// <summary>A decoded <c>reg</c> property and the cell counts used to decode it.</summary>
/// <remarks>
/// <para><c>TrailingCells</c>: Cells left over when the length is not a multiple of one (address, size) pair.</para>
/// </remarks>
public sealed record RegProperty(int AddressCells, int SizeCells, IReadOnlyList<RegRange> Ranges, int TrailingCells)
{
    /// <summary>
    /// Decodes <c>reg</c> with of_n_addr_cells() / of_n_size_cells() (drivers/of/base.c): start at the parent and
    /// walk up to the first ancestor that has <c>#address-cells</c> (<c>#size-cells</c>); if none has it, use the
    /// kernel's root defaults, 1 and 1 (OF_ROOT_NODE_*_CELLS_DEFAULT, which is 2 address cells on SPARC only).
    /// Each number is read like of_read_number(): big-endian, keeping the low 64 bits.
    /// </summary>
    public static RegProperty? Of(DtNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var reg = node.FindProperty("reg");
        if (reg is null)
        {
            return null;
        }

        var start = node.Parent ?? node;
        var ac = (int)Math.Min(CellsUp(start, "#address-cells", 1), 1024);
        var sc = (int)Math.Min(CellsUp(start, "#size-cells", 1), 1024);
        var n = reg.Length / 4;
        var stride = ac + sc;
        var ranges = new List<RegRange>();
        if (stride == 0)
        {
            return new RegProperty(ac, sc, ranges, n);
        }

        var i = 0;
        for (; i + stride <= n; i += stride)
        {
            ranges.Add(new RegRange(ReadNumber(reg, i, ac), ReadNumber(reg, i + ac, sc)));
        }

        return new RegProperty(ac, sc, ranges, n - i);
    }

    private static uint CellsUp(DtNode start, string name, uint fallback)
    {
        for (var n = start; n is not null; n = n.Parent)
        {
            if (n.FindProperty(name) is { } p && p.TryGetU32(out var v))
            {
                return v;
            }
        }

        return fallback;
    }

    private static ulong ReadNumber(DtProperty p, int first, int count)
    {
        ulong r = 0;
        for (var k = 0; k < count; k++)
        {
            // Shifting drops the high cells, as the kernel's u64 accumulation does.
            r = (r << 32) | p.GetCell(first + k);
        }

        return r;
    }
}
