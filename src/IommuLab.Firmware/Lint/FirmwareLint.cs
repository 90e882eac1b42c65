using System.Globalization;
using IommuLab.Firmware.Acpi;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.Topology;

namespace IommuLab.Firmware.Lint;

/// <summary>
/// The lint rules that need only firmware facts: the topology's and the ACPI tables' own problems (same rule ids,
/// with fix hints), consumers of several IOMMU instances, and RIDs a PCI host bridge's <c>iommu-map</c> leaves
/// untranslated. Pure functions of their inputs: safe to call from many threads at once.
/// </summary>
public static class FirmwareLint
{
    /// <summary>The findings for one decoded device tree, in the order the rules produce them.</summary>
    public static IReadOnlyList<LintFinding> Check(DeviceTree.DeviceTree tree, IommuTopology topology, string file)
    {
        ArgumentNullException.ThrowIfNull(tree);
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(file);
        var findings = new List<LintFinding>();
        foreach (var p in topology.Problems)
        {
            findings.Add(new LintFinding(p.RuleId, p.Severity, file, p.Path, null, p.Message, HintFor(p, topology)));
        }

        foreach (var c in topology.Consumers.Where(c => c.DistinctTargets.Count > 1))
        {
            var targets = c.DistinctTargets;
            var state = c.Status.IsAvailable ? "" : $" (the consumer is {c.Status.Display}; a board that enables it inherits this)";
            findings.Add(Make(FirmwareLintRules.MultiInstance, ProblemSeverity.Info, file, c.Path,
                $"references {targets.Count} IOMMU instances ({string.Join(", ", targets)}): it is translated only if all {targets.Count} "
                + $"register, and some kernels leave it half-configured when they register in the wrong order (spec §5.6){state}"));
        }

        foreach (var m in topology.MapUsers.Where(m => m.Status.IsAvailable))
        {
            findings.AddRange(MapGaps(tree, m, file));
        }

        return findings;
    }

    /// <summary>The findings for one ACPI table: its <see cref="AcpiProblem"/>s with fix hints, in table order.</summary>
    public static IReadOnlyList<LintFinding> Check(AcpiTable table, string file)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(file);
        return table.Problems
            .Select(p => new LintFinding(p.RuleId, p.Severity, file, null, p.Offset, p.Message, FirmwareLintRules.Find(p.RuleId)?.FixHint ?? ""))
            .ToArray();
    }

    /// <summary>A finding with the rule's default fix hint.</summary>
    public static LintFinding Make(string ruleId, ProblemSeverity severity, string file, string? path, string message, long? offset = null) =>
        new(ruleId, severity, file, path, offset, message, FirmwareLintRules.Find(ruleId)?.FixHint ?? "");

    /// <summary>The rule's fix hint, naming the node to change where the topology says which one it is.</summary>
    private static string HintFor(TopologyProblem p, IommuTopology topology)
    {
        var hint = FirmwareLintRules.Find(p.RuleId)?.FixHint ?? "";
        var consumer = topology.Consumer(p.Path);
        switch (p.RuleId)
        {
            case TopologyRules.IommusDisabledProvider when consumer is not null:
                var disabled = consumer.References.Where(r => !r.TargetAvailable).Select(r => r.TargetPath).Distinct(StringComparer.Ordinal);
                return $"enable {string.Join(" and ", disabled)} (status = \"okay\"), drop it from iommus, or disable the consumer";
            case TopologyRules.IommusTargetNotProvider when consumer?.End.TargetPath is { } target:
                return $"reference the IOMMU node instead of {target}, or add #iommu-cells to it";
            case TopologyRules.IommusCellsMismatch when consumer is not null && consumer.Cells.Count > 0
                && topology.Providers.FirstOrDefault(pr => pr.Phandle == consumer.Cells[0]) is { IommuCells: { } cells } provider:
                return $"write {cells} arg cell(s) after each phandle, as {provider.Path} declares (#iommu-cells = <{cells}>)";
            default:
                return hint;
        }
    }

    /// <summary>
    /// RIDs of an enabled PCI host bridge (<c>device_type = "pci"</c>) that fall in a hole between its
    /// <c>iommu-map</c> entries: of_map_id() returns 0 with no target ("no iommu-map translation"), so the function
    /// gets no IOMMU. The RIDs are those of <c>bus-range</c>, or of buses 0-0xff when it is absent (the range the
    /// kernel then assumes), whose masked ID lies between the lowest id-base and the highest range end. A map whose
    /// framing stops or meets an id-base outside the mask is left to the rules that report that. The RIDs of
    /// IOMMUs that are themselves functions on the bridge (virtio-iommu) are not expected to be translated.
    /// </summary>
    private static IEnumerable<LintFinding> MapGaps(DeviceTree.DeviceTree tree, IommuMapUser m, string file)
    {
        var bridge = tree.FindByPath(m.Path);
        if (bridge?.FindProperty("device_type")?.GetString() != "pci")
        {
            yield break;
        }

        uint firstBus = 0, lastBus = 0xff;
        var declared = false;
        if (bridge.FindProperty("bus-range") is { Length: 8 } busRange)
        {
            var (a, b) = (busRange.GetCell(0), busRange.GetCell(1));
            if (a <= b && b <= 0xff)
            {
                (firstBus, lastBus, declared) = (a, b, true);
            }
        }

        var readings = m.LayoutsAgree
            ? new[] { (Reading: m.TargetCells, Tag: "") }
            : [(m.FourCell, "kernels before v7.2: "), (m.TargetCells, "v7.2+: ")];
        foreach (var (reading, tag) in readings)
        {
            if (reading.Stop is not null || reading.Entries.Count == 0 || reading.Entries.Any(e => e.IdBaseOutsideMask || e.TargetPath is null))
            {
                continue;
            }

            var selfRids = SelfRids(bridge, reading);
            var gaps = Untranslated(reading.Entries, m.Mask, firstBus << 8, (lastBus << 8) | 0xff, selfRids);
            if (gaps.Count == 0)
            {
                continue;
            }

            var count = gaps.Sum(g => (long)(g.Last - g.First + 1));
            var rootBusOnly = gaps.All(g => g.First >> 8 == firstBus && g.Last >> 8 == firstBus);
            var range = declared ? $"bus-range {Hex(firstBus)}-{Hex(lastBus)}" : "buses 0x0-0xff (no bus-range)";
            var shown = string.Join(", ", gaps.Take(4).Select(Describe)) + (gaps.Count > 4 ? $" and {gaps.Count - 4} more range(s)" : "");
            var severity = rootBusOnly ? ProblemSeverity.Info : ProblemSeverity.Warning;
            var why = rootBusOnly ? " (only the root bus, where the root ports usually sit)" : "";
            yield return Make(FirmwareLintRules.MapGap, severity, file, m.Path,
                $"{tag}{count} RID(s) in {range} fall between iommu-map entries{why}: {shown}; a function there gets no IOMMU "
                + "(of_map_id() finds no translation)");
        }
    }

    private readonly record struct RidRange(uint First, uint Last);

    /// <summary>RIDs in [lo, hi] whose masked value falls in a hole between entries, as runs, skipping <paramref name="exempt"/>.</summary>
    private static List<RidRange> Untranslated(IReadOnlyList<IommuMapEntry> entries, uint mask, uint lo, uint hi, HashSet<uint> exempt)
    {
        // Merged [start, end) intervals of covered masked IDs, for a binary search per RID.
        var intervals = entries.Where(e => e.Length > 0).Select(e => (Start: (ulong)e.IdBase, End: e.IdEnd)).OrderBy(i => i.Start).ToList();
        var merged = new List<(ulong Start, ulong End)>();
        foreach (var iv in intervals)
        {
            if (merged.Count > 0 && iv.Start <= merged[^1].End)
            {
                merged[^1] = (merged[^1].Start, Math.Max(merged[^1].End, iv.End));
            }
            else
            {
                merged.Add(iv);
            }
        }

        bool Covered(ulong id)
        {
            int l = 0, r = merged.Count - 1;
            while (l <= r)
            {
                var mid = (l + r) / 2;
                if (id < merged[mid].Start)
                {
                    r = mid - 1;
                }
                else if (id >= merged[mid].End)
                {
                    l = mid + 1;
                }
                else
                {
                    return true;
                }
            }

            return false;
        }

        // Only holes between the first and the last entry are gaps: IDs past the ends are simply not described
        // (bootloaders often fill maps in, and a map for one device is not a map with holes).
        var spanStart = merged.Count > 0 ? merged[0].Start : 0;
        var spanEnd = merged.Count > 0 ? merged[^1].End : 0;
        var runs = new List<RidRange>();
        for (var rid = lo; rid <= hi; rid++)
        {
            var id = rid & mask;
            if (id < spanStart || id >= spanEnd || Covered(id) || exempt.Contains(rid))
            {
                continue;
            }

            if (runs.Count > 0 && runs[^1].Last + 1 == rid)
            {
                runs[^1] = runs[^1] with { Last = rid };
            }
            else
            {
                runs.Add(new RidRange(rid, rid));
            }
        }

        return runs;
    }

    /// <summary>RIDs of child functions that are themselves the map's IOMMU (first <c>reg</c> cell, bits 8-23).</summary>
    private static HashSet<uint> SelfRids(DtNode bridge, IommuMapReading reading)
    {
        var targets = reading.Entries.Select(e => e.TargetPath).ToHashSet(StringComparer.Ordinal);
        var rids = new HashSet<uint>();
        foreach (var child in bridge.Children)
        {
            if (targets.Contains(child.Path) && child.FindProperty("reg") is { Length: >= 4 } reg)
            {
                rids.Add((reg.GetCell(0) >> 8) & 0xffff);
            }
        }

        return rids;
    }

    private static string Describe(RidRange g)
    {
        var bdf = (uint rid) => string.Create(CultureInfo.InvariantCulture, $"{rid >> 8:x2}:{(rid >> 3) & 0x1f:x2}.{rid & 7}");
        if ((g.First & 0xff) == 0 && (g.Last & 0xff) == 0xff)
        {
            return g.First >> 8 == g.Last >> 8 ? $"bus {Hex(g.First >> 8)}" : $"buses {Hex(g.First >> 8)}-{Hex(g.Last >> 8)}";
        }

        return g.First == g.Last ? $"RID {Hex(g.First)} ({bdf(g.First)})" : $"RIDs {Hex(g.First)}-{Hex(g.Last)} ({bdf(g.First)}-{bdf(g.Last)})";
    }

    private static string Hex(uint v) => Strings.Hex(v);
}
