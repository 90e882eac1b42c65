using System.Collections.Immutable;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Model.Kernel;

namespace IommuLab.Model.Dma;

/// <summary>
/// One <c>dma-ranges</c> window (<c>struct bus_dma_region</c>): CPU physical [CpuStart, CpuStart + Size) is seen
/// by the device at bus address DmaStart.
/// </summary>
public readonly record struct DmaWindow(ulong CpuStart, ulong DmaStart, ulong Size)
{
    public ulong DmaEnd => checked(DmaStart + (Size - 1));
}

/// <summary>
/// The DMA windows of every device, read once per firmware: for each device, the first non-empty
/// <c>dma-ranges</c> from its node up (the host bridge's for a PCI function), parent addresses translated through
/// further <c>dma-ranges</c> above. Models of_dma_get_range() and of_translate_dma_address() (drivers/of/address.c).
/// Immutable.
/// </summary>
public sealed class DmaFirmware
{
    private readonly ImmutableDictionary<string, ImmutableArray<DmaWindow>> _windows;

    private DmaFirmware(ImmutableDictionary<string, ImmutableArray<DmaWindow>> windows) => _windows = windows;

    /// <summary>No <c>dma-ranges</c> anywhere: bus address = physical address.</summary>
    public static DmaFirmware None { get; } = new(ImmutableDictionary<string, ImmutableArray<DmaWindow>>.Empty);

    /// <summary>The device's windows; empty means no translation (and no bus limit).</summary>
    public ImmutableArray<DmaWindow> WindowsOf(PlatformDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        return _windows.TryGetValue(device.Path, out var w) ? w : [];
    }

    /// <summary>What the interconnect does with a bus address the device issues without an IOMMU: the CPU address, or null.</summary>
    public static ulong? DmaToPhys(System.Collections.Immutable.ImmutableArray<DmaWindow> windows, ulong dma)
    {
        if (windows.IsDefaultOrEmpty)
        {
            return dma;
        }

        var w = windows.FirstOrDefault(w => dma >= w.DmaStart && dma - w.DmaStart < w.Size);
        return w.Size == 0 ? null : checked(dma - w.DmaStart + w.CpuStart);
    }

    /// <summary>Reads the windows of <paramref name="devices"/> from <paramref name="tree"/>.</summary>
    public static DmaFirmware Read(DeviceTree tree, IEnumerable<PlatformDevice> devices)
    {
        ArgumentNullException.ThrowIfNull(tree);
        ArgumentNullException.ThrowIfNull(devices);
        var b = ImmutableDictionary.CreateBuilder<string, ImmutableArray<DmaWindow>>(StringComparer.Ordinal);
        foreach (var d in devices)
        {
            // A PCI function without a node of its own is configured from its host bridge's node.
            var node = NearestNode(tree, d.Path);
            if (node is not null && WindowsFrom(node) is { IsDefaultOrEmpty: false } w)
            {
                b[d.Path] = w;
            }
        }

        return b.Count == 0 ? None : new DmaFirmware(b.ToImmutable());
    }

    private static DtNode? NearestNode(DeviceTree tree, string path)
    {
        for (var p = path; p.Length > 0; p = p.LastIndexOf('/') is var i and > 0 ? p[..i] : "")
        {
            if (tree.FindByPath(p) is { } n)
            {
                return n;
            }
        }

        return null;
    }

    /// <summary>of_dma_get_range(): the first node from <paramref name="start"/> up with a non-empty <c>dma-ranges</c>.</summary>
    private static ImmutableArray<DmaWindow> WindowsFrom(DtNode start)
    {
        for (var node = start; node is not null; node = node.Parent)
        {
            if (node.FindProperty("dma-ranges") is { IsEmpty: false } prop)
            {
                return Parse(node, prop);
            }
        }

        return [];
    }

    /// <summary>The of_range parser over one <c>dma-ranges</c>: (child address, parent address, size) triplets.</summary>
    private static ImmutableArray<DmaWindow> Parse(DtNode node, DtProperty prop)
    {
        var na = AddressCells(node);
        var pna = node.Parent is { } parent ? AddressCells(parent) : 2;
        var ns = SizeCells(node);
        var cells = prop.GetCells();
        var entry = na + pna + ns;
        if (cells is null || entry == 0 || cells.Length % entry != 0)
        {
            return [];
        }

        var windows = ImmutableArray.CreateBuilder<DmaWindow>();
        for (var i = 0; i < cells.Length; i += entry)
        {
            // PCI child addresses carry a flags cell (phys.hi) before the 64-bit address.
            var child = Read(cells.AsSpan(i + Math.Max(0, na - 2), Math.Min(na, 2)));
            var parentAddress = Read(cells.AsSpan(i + na + Math.Max(0, pna - 2), Math.Min(pna, 2)));
            var size = Read(cells.AsSpan(i + na + pna, Math.Min(ns, 2)));
            if (size == 0 || TranslateUp(node.Parent, parentAddress) is not { } cpu)
            {
                continue;
            }

            windows.Add(new DmaWindow(cpu, child, size));
        }

        return windows.ToImmutable();
    }

    /// <summary>of_translate_dma_address(): through every non-empty <c>dma-ranges</c> above; null when a window is missing.</summary>
    private static ulong? TranslateUp(DtNode? from, ulong address)
    {
        for (var node = from; node is not null; node = node.Parent)
        {
            if (node.FindProperty("dma-ranges") is { IsEmpty: false } prop)
            {
                var hit = Parse(node, prop).FirstOrDefault(w => address >= w.DmaStart && address - w.DmaStart < w.Size);
                return hit.Size == 0 ? null : checked(address - hit.DmaStart + hit.CpuStart);
            }
        }

        return address;
    }

    private static ulong Read(ReadOnlySpan<uint> cells)
    {
        ulong v = 0;
        foreach (var c in cells)
        {
            v = (v << 32) | c;
        }

        return v;
    }

    private static int AddressCells(DtNode n) => n.FindProperty("#address-cells") is { } p && p.TryGetU32(out var v) ? (int)v : 2;

    private static int SizeCells(DtNode n) => n.FindProperty("#size-cells") is { } p && p.TryGetU32(out var v) ? (int)v : 1;
}
