using System.Globalization;
using IommuLab.Firmware.Topology;

namespace IommuLab.Cli.Rendering;

/// <summary>The human-readable topology report: aligned text in tree order, deterministic.</summary>
public static class TopologyText
{
    public static void Write(IommuTopology topology, TextWriter w)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(w);
        var c = topology.Counts;
        w.WriteLine($"IOMMU topology of {topology.SourceName}");
        w.WriteLine(Inv($"  {c.Providers} provider(s) ({c.EnabledProviders} enabled), {c.Consumers} iommus consumer(s) ({c.DisabledConsumers} disabled), {c.References} reference(s), {c.MapUsers} iommu-map user(s), {c.Problems} problem(s)"));

        w.WriteLine();
        w.WriteLine("Providers");
        if (topology.Providers.Count == 0)
        {
            w.WriteLine("  (none)");
        }
        else
        {
            var rows = topology.Providers.Select(p => new[]
            {
                p.Path + Labels(p.Labels),
                p.Compatible.Count > 0 ? string.Join(", ", p.Compatible) : "-",
                p.Status.Display,
                p.IommuCells is uint n ? n.ToString(CultureInfo.InvariantCulture) : "?",
                p.Reg is { } r && r.Ranges.Count > 0 ? string.Join(" ", r.Ranges.Select(x => $"0x{x.Address:x}+0x{x.Size:x}")) : "-",
            }).ToList();
            Table(w, ["PATH", "COMPATIBLE", "STATUS", "#IOMMU-CELLS", "REG"], rows);
        }

        w.WriteLine();
        w.WriteLine("Consumers (iommus)");
        if (topology.Consumers.Count == 0)
        {
            w.WriteLine("  (none)");
        }

        foreach (var con in topology.Consumers)
        {
            var refs = con.References.Count == 0
                ? "(no references)"
                : string.Join(", ", con.References.Select(r =>
                    $"[{r.Index}] {r.TargetPath}{Labels(r.TargetLabels)}{(r.TargetAvailable ? "" : " [disabled]")} args {Strings.Args(r.Args)}"));
            w.WriteLine($"  {con.Path}{Labels(con.Labels)}{Status(con.Status)} -> {refs}");
            if (con.End.IsEarly)
            {
                var e = con.End;
                var log = e.KernelLog is null ? "" : $": \"{e.KernelLog}\"";
                w.WriteLine(Inv($"      list ends at [{e.Index}] (cell {e.CellOffset}): {e.Reason}, -{e.Errno}{log}"));
                if (con.IgnoredCells.Count > 0)
                {
                    w.WriteLine($"      ignored cells {Strings.Args(con.IgnoredCells)}");
                }
            }
        }

        w.WriteLine();
        w.WriteLine("iommu-map users");
        if (topology.MapUsers.Count == 0)
        {
            w.WriteLine("  (none)");
        }

        foreach (var m in topology.MapUsers)
        {
            var mask = m.MaskDeclared ? $"iommu-map-mask 0x{m.Mask:x}" : "no iommu-map-mask";
            w.WriteLine($"  {m.Path}{Labels(m.Labels)}{Status(m.Status)} ({mask})");
            if (m.LayoutsAgree)
            {
                WriteReading(w, m.TargetCells, "all kernels");
            }
            else
            {
                WriteReading(w, m.FourCell, "kernels before v7.2");
                WriteReading(w, m.TargetCells, "v7.2+");
            }
        }

        w.WriteLine();
        w.WriteLine("Problems");
        if (topology.Problems.Count == 0)
        {
            w.WriteLine("  (none)");
        }
        else
        {
            Table(w, ["SEVERITY", "RULE", "PATH", "MESSAGE"],
                topology.Problems.Select(p => new[] { p.Severity.ToString().ToLowerInvariant(), p.RuleId, p.Path, p.Message }).ToList());
        }
    }

    private static void WriteReading(TextWriter w, IommuMapReading r, string who)
    {
        w.WriteLine($"    {who}{(r.LegacyOneCellTolerated ? " (legacy 1-cell form tolerated)" : "")}:");
        foreach (var e in r.Entries)
        {
            var target = e.TargetPath ?? $"(no node with phandle {Strings.Hex(e.Phandle)})";
            var flags = (e.TargetPath is not null && !e.TargetAvailable ? " [disabled]" : "") + (e.IdBaseOutsideMask ? " [id-base outside mask]" : "");
            w.WriteLine(Inv($"      [{e.Index}] ids {e.IdRangeText} -> {target} {Strings.Args(e.OutBase)}{flags}"));
        }

        if (r.Stop is { } s)
        {
            w.WriteLine(Inv($"      stops at entry {s.EntryIndex} (cell {s.CellOffset}): {s.Fault}, -{s.Errno}") + (s.KernelLog.Length > 0 ? $": \"{s.KernelLog}\"" : ""));
        }
    }

    private static string Labels(IReadOnlyList<string> labels) => labels.Count == 0 ? "" : " (" + string.Join(", ", labels) + ")";

    private static string Status(NodeStatus s) => s.IsAvailable ? "" : $" [{s.Display}]";

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private static void Table(TextWriter w, string[] header, List<string[]> rows)
    {
        // The last column is not padded, so long messages do not push trailing spaces.
        var widths = new int[header.Length];
        foreach (var row in rows.Prepend(header))
        {
            for (var i = 0; i < row.Length - 1; i++)
            {
                widths[i] = Math.Max(widths[i], row[i].Length);
            }
        }

        foreach (var row in rows.Prepend(header))
        {
            var parts = row.Select((cell, i) => i < row.Length - 1 ? cell.PadRight(widths[i]) : cell);
            w.WriteLine(("  " + string.Join("  ", parts)).TrimEnd());
        }
    }
}
