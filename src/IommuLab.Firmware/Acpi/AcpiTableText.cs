using System.Globalization;
using System.Text;
using IommuLab.Firmware.Acpi.Iort;
using IommuLab.Firmware.Acpi.Viot;

namespace IommuLab.Firmware.Acpi;

/// <summary>
/// Plain-text rendering of a decoded IORT or VIOT for the command line: header, one line per node with its own
/// fields, one line per ID mapping with its resolved target, then the problems. Pure: same table, same text.
/// </summary>
public static class AcpiTableText
{
    public static string Render(AcpiTable table)
    {
        ArgumentNullException.ThrowIfNull(table);
        var sb = new StringBuilder();
        var h = table.Header;
        Line(sb, $"{h.Signature} revision {h.Revision}, {h.Length} bytes, OEM \"{h.OemId.TrimEnd()}\" \"{h.OemTableId.TrimEnd()}\", checksum 0x{h.Checksum:x2} {(h.ChecksumValid ? "ok" : $"BAD (0x{h.ExpectedChecksum:x2} expected)")}");
        switch (table)
        {
            case IortTable iort:
                RenderIort(sb, iort);
                break;
            case ViotTable viot:
                RenderViot(sb, viot);
                break;
        }

        foreach (var p in table.Problems)
        {
            Line(sb, $"{p.Severity.ToString().ToLowerInvariant()} [{p.RuleId}] @0x{p.Offset:x}: {p.Message}");
        }

        return sb.ToString();
    }

    private static void RenderIort(StringBuilder sb, IortTable t)
    {
        foreach (var n in t.Nodes)
        {
            Line(sb, $"0x{n.Offset:x4} {IortTable.TypeName(n.Header.RawType)} rev {n.Revision} len {n.Header.Length}: {Fields(n)}");
            var skip = IortTable.DeviceIdMappingIndex(n);
            foreach (var m in n.Mappings)
            {
                var input = m.SingleMapping ? "single" : $"0x{m.InputBase:x}..0x{m.InputLast:x}";
                var target = m.OutputReference == 0 ? "(null reference)" : Short(t.NodeAt(m.OutputReference));
                var note = m.Index == skip ? " [DeviceID mapping, skipped by ID walks]" : "";
                Line(sb, $"       map {m.Index}: {input} -> 0x{m.OutputBase:x} on {target}{note}");
            }
        }
    }

    private static string Fields(IortNode n) => n switch
    {
        IortItsGroup its => $"ITS ids [{string.Join(", ", its.ItsIdentifiers)}]",
        IortNamedComponent nc => $"\"{nc.ObjectName}\" address limit {nc.MemoryAddressLimit} bits, flags 0x{nc.NodeFlags:x}, {(nc.Memory.Coherent ? "coherent" : "non-coherent")}",
        IortRootComplex rc => $"segment {rc.PciSegment}, ATS {(rc.AtsSupported ? "yes" : "no")}, address limit {(rc.MemoryAddressLimit is { } l ? $"{l} bits" : "absent")}, {(rc.Memory.Coherent ? "coherent" : "non-coherent")}",
        IortSmmu s => $"base 0x{s.BaseAddress:x} span 0x{s.Span:x}, model {s.KnownModel?.ToString() ?? s.Model.ToString(CultureInfo.InvariantCulture)}, flags 0x{s.Flags:x}, {s.ContextInterrupts.Count} context interrupts",
        IortSmmuV3 s => $"base 0x{s.BaseAddress:x}, model {s.KnownModel?.ToString() ?? s.Model.ToString(CultureInfo.InvariantCulture)}, flags 0x{s.Flags:x}, DeviceID mapping index {(s.EffectiveDeviceIdMappingIndex is { } i ? i.ToString(CultureInfo.InvariantCulture) : "none")}",
        IortPmcg p => $"page0 0x{p.Page0BaseAddress:x}, node 0x{p.NodeReference:x}, overflow GSIV {p.OverflowGsiv}",
        IortRmr r => $"flags 0x{r.Flags:x}, ranges [{string.Join(", ", r.Ranges.Select(x => $"0x{x.BaseAddress:x}+0x{x.Length:x}"))}]",
        IortIwb w => $"\"{w.ObjectName}\" base 0x{w.BaseAddress:x}, index {w.IwbIndex}",
        _ => "unknown type",
    };

    private static string Short(IortNode? n) => n is null ? "(no node)" : $"{IortTable.TypeName(n.Header.RawType)}@0x{n.Offset:x}";

    private static void RenderViot(StringBuilder sb, ViotTable t)
    {
        foreach (var n in t.Nodes)
        {
            var text = n switch
            {
                ViotPciRange r => $"segments {r.SegmentStart}..{r.SegmentEnd} BDF 0x{r.BdfStart:x4}..0x{r.BdfEnd:x4} -> endpoints from 0x{r.EndpointStart:x} on node 0x{r.OutputNode:x}",
                ViotMmioEndpoint m => $"address 0x{m.BaseAddress:x} -> endpoint 0x{m.Endpoint:x} on node 0x{m.OutputNode:x}",
                ViotVirtioIommuPci p => $"virtio-iommu at {p.Segment:x4}:{p.Bdf >> 8:x2}:{(p.Bdf >> 3) & 0x1f:x2}.{p.Bdf & 7}",
                ViotVirtioIommuMmio m => $"virtio-iommu at 0x{m.BaseAddress:x}",
                _ => "unknown type",
            };
            Line(sb, $"0x{n.Offset:x4} {ViotReader.Name(n.RawType)} len {n.Length}: {text}");
        }
    }

    private static void Line(StringBuilder sb, string text) => sb.Append(text).Append('\n');
}
