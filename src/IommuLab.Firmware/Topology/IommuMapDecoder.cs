using IommuLab.Firmware.DeviceTree;

namespace IommuLab.Firmware.Topology;

/// <summary>Frames <c>iommu-map</c> in both kernel layouts and reports its problems.</summary>
internal static class IommuMapDecoder
{
    private const string CellsName = "#iommu-cells";

    /// <summary>Largest map checked pairwise for overlapping entries (real boards have at most a few dozen).</summary>
    internal const int MaxPairwiseEntries = 4096;

    /// <summary>Most overlapping pairs reported for one map reading.</summary>
    internal const int MaxOverlapReports = 64;

    public static IommuMapUser Decode(DeviceTree.DeviceTree tree, DtNode node, DtProperty map, List<TopologyProblem> problems)
    {
        var path = node.Path;
        var n = map.Length / 4;
        var cells = new uint[n];
        for (var i = 0; i < n; i++)
        {
            cells[i] = map.GetCell(i);
        }

        // of_property_read_u32() failing leaves the default mask in place.
        var maskProp = node.FindProperty("iommu-map-mask");
        var maskDeclared = maskProp is not null && maskProp.TryGetU32(out _);
        var mask = maskDeclared ? maskProp!.GetCell(0) : 0xffffffffu;

        var user = new IommuMapUser(
            path, [.. node.Labels], Strings.Compatible(node), NodeStatus.Of(node), cells, map.Length, mask, maskDeclared,
            FourCell(tree, path, cells, map.Length, mask),
            TargetCells(tree, path, cells, map.Length, mask));

        if (maskProp is not null && !maskDeclared)
        {
            problems.Add(new TopologyProblem(TopologyRules.MapMaskUnreadable, ProblemSeverity.Warning, path,
                $"iommu-map-mask is {maskProp.Length} bytes, less than one cell: of_property_read_u32() fails and the mask stays 0xffffffff"));
        }

        AddProblems(user, problems);
        return user;
    }

    /// <summary>Models the entry framing of of_map_id() before v7.2: the whole map must be a non-empty multiple of 16 bytes.</summary>
    private static IommuMapReading FourCell(DeviceTree.DeviceTree tree, string path, uint[] cells, int bytes, uint mask)
    {
        if (bytes == 0 || bytes % 16 != 0)
        {
            return new IommuMapReading(IommuMapLayout.FourCell, [],
                new IommuMapStop(IommuMapFault.BadLength, 0, 0, null, Errno.EINVAL, BadLengthLog(path, bytes)), false);
        }

        var entries = new List<IommuMapEntry>();
        for (var off = 0; off < cells.Length; off += 4)
        {
            entries.Add(Entry(tree, entries.Count, off, cells[off], cells[off + 1], [cells[off + 2]], cells[off + 3], mask));
        }

        return new IommuMapReading(IommuMapLayout.FourCell, entries, null, false);
    }

    /// <summary>
    /// Models the entry framing of of_map_id() from v7.2 (commit ccb2fd725d41): each entry is id-base, phandle,
    /// N output cells and a length, N being the target's <c>#iommu-cells</c> (1 when absent); more than
    /// MAX_PHANDLE_ARGS is -EINVAL; when the first entry's target has 2 cells and every 4-cell group names that
    /// same phandle with length 1 (of_check_bad_map()), the whole map is read with 1 output cell.
    /// </summary>
    private static IommuMapReading TargetCells(DeviceTree.DeviceTree tree, string path, uint[] cells, int bytes, uint mask)
    {
        var entries = new List<IommuMapEntry>();
        if (bytes % 4 != 0)
        {
            return new IommuMapReading(IommuMapLayout.TargetCells, entries,
                new IommuMapStop(IommuMapFault.BadLength, 0, 0, null, Errno.EINVAL, BadLengthLog(path, bytes)), false);
        }

        var legacy = false;
        var off = 0;
        while (off < cells.Length)
        {
            var left = cells.Length - off;
            if (left < 2)
            {
                return Stopped(new IommuMapStop(IommuMapFault.BadLength, entries.Count, off, null, Errno.EINVAL, BadLengthLog(path, bytes)));
            }

            var idBase = cells[off];
            var phandle = cells[off + 1];
            var target = tree.FindByPhandle(phandle);
            if (target is null)
            {
                // of_map_id() returns -ENODEV here without printing anything.
                return Stopped(new IommuMapStop(IommuMapFault.UnresolvedPhandle, entries.Count, off, idBase, Errno.ENODEV, ""));
            }

            uint outCells = 1;
            if (!legacy && target.FindProperty(CellsName) is { } cp && cp.TryGetU32(out var declared))
            {
                outCells = declared;
            }

            if (outCells > IommusDecoder.MaxPhandleArgs)
            {
                return Stopped(new IommuMapStop(IommuMapFault.TooManyCells, entries.Count, off, idBase, Errno.EINVAL,
                    $"{target.Path}: {CellsName} cell count {unchecked((int)outCells)} exceeds maximum"));
            }

            if (off == 0 && outCells == 2 && IsLegacyOneCellMap(cells))
            {
                legacy = true;
                outCells = 1;
            }

            if ((uint)left < 3 + outCells)
            {
                return Stopped(new IommuMapStop(IommuMapFault.BadLength, entries.Count, off, idBase, Errno.EINVAL, BadLengthLog(path, bytes)));
            }

            var k = (int)outCells;
            entries.Add(Entry(tree, entries.Count, off, idBase, phandle, cells[(off + 2)..(off + 2 + k)], cells[off + 2 + k], mask));
            off += 3 + k;
        }

        return new IommuMapReading(IommuMapLayout.TargetCells, entries, null, legacy);

        IommuMapReading Stopped(IommuMapStop stop) => new(IommuMapLayout.TargetCells, entries, stop, legacy);
    }

    /// <summary>Models of_check_bad_map() (v7.2 drivers/of/base.c).</summary>
    private static bool IsLegacyOneCellMap(uint[] cells)
    {
        if (cells.Length % 4 != 0)
        {
            return false;
        }

        for (var i = 0; i < cells.Length; i += 4)
        {
            if (cells[i + 1] != cells[1] || cells[i + 3] != 1)
            {
                return false;
            }
        }

        return true;
    }

    private static IommuMapEntry Entry(DeviceTree.DeviceTree tree, int index, int off, uint idBase, uint phandle, uint[] outBase, uint length, uint mask)
    {
        var target = tree.FindByPhandle(phandle);
        uint? targetCells = target?.FindProperty(CellsName) is { } cp && cp.TryGetU32(out var v) ? v : null;
        return new IommuMapEntry(index, off, idBase, phandle, target?.Path, target is not null && NodeStatus.Of(target).IsAvailable,
            targetCells, outBase, length, (idBase & ~mask) != 0);
    }

    private static string BadLengthLog(string path, int bytes) => $"{path}: Error: Bad iommu-map length: {bytes}";

    private static void AddProblems(IommuMapUser user, List<TopologyProblem> problems)
    {
        var four = ReadingProblems(user, user.FourCell);
        var cellsAware = ReadingProblems(user, user.TargetCells);
        var path = user.Path;

        // A problem both layouts share is stated once; the others name the kernels that see them. Sets keep this
        // linear: a hostile map has one problem per entry.
        var fourSet = four.ToHashSet();
        var cellsAwareSet = cellsAware.ToHashSet();
        foreach (var p in four)
        {
            var shared = cellsAwareSet.Contains(p);
            problems.Add(new TopologyProblem(p.Rule, p.Severity, path, shared ? p.Message : "kernels before v7.2: " + p.Message));
        }

        foreach (var p in cellsAware.Where(p => !fourSet.Contains(p)))
        {
            problems.Add(new TopologyProblem(p.Rule, p.Severity, path, "v7.2+: " + p.Message));
        }

        if (user.TargetCells.LegacyOneCellTolerated)
        {
            problems.Add(new TopologyProblem(TopologyRules.MapLegacyOneCell, ProblemSeverity.Info, path,
                $"1-cell entries target {user.TargetCells.Entries[0].TargetPath}, which has #iommu-cells = 2; v7.2+ prints "
                + $"\"{path}: iommu-map has 1-cell entries targeting 2-cell #iommu-cells, treating as 1-cell output\" once and reads them as earlier kernels do"));
        }

        if (!user.LayoutsAgree)
        {
            problems.Add(new TopologyProblem(TopologyRules.MapLayoutsDiffer, ProblemSeverity.Error, path,
                $"kernels read this map differently: before v7.2 {Describe(user.FourCell)}; v7.2+ {Describe(user.TargetCells)}"));
        }
    }

    private static string Describe(IommuMapReading r)
    {
        var s = $"{r.Entries.Count} entr{(r.Entries.Count == 1 ? "y" : "ies")}";
        if (r.Entries.Count > 0)
        {
            s += " (" + string.Join(", ", r.Entries.Select(e => $"0x{e.IdBase:x} -> {e.TargetPath ?? Strings.Hex(e.Phandle)} {Strings.Args(e.OutBase)} x{e.Length}")) + ")";
        }

        if (r.Stop is { } stop)
        {
            s += $", then {stop.Fault} at cell {stop.CellOffset}";
        }

        return s;
    }

    private readonly record struct Found(string Rule, ProblemSeverity Severity, string Message);

    private static List<Found> ReadingProblems(IommuMapUser user, IommuMapReading r)
    {
        var list = new List<Found>();
        if (r.Stop is { } stop)
        {
            list.Add(stop.Fault switch
            {
                IommuMapFault.BadLength => new Found(TopologyRules.MapBadLength, ProblemSeverity.Error,
                    stop.EntryIndex == 0 && stop.IdBase is null
                        ? $"{user.ByteLength} bytes is not a whole number of entries: of_map_id() fails every ID with -EINVAL (\"{stop.KernelLog}\")"
                        : $"entry {stop.EntryIndex} (cell {stop.CellOffset}) is cut short: IDs not matched by earlier entries fail with -EINVAL (\"{stop.KernelLog}\")"),
                IommuMapFault.UnresolvedPhandle => new Found(TopologyRules.MapPhandleUnresolved, ProblemSeverity.Error,
                    $"entry {stop.EntryIndex} (cell {stop.CellOffset}) names phandle {Strings.Hex(user.Cells[stop.CellOffset + 1])}, which no node has: "
                    + "its size is unknown, so IDs not matched by earlier entries fail with -ENODEV"),
                _ => new Found(TopologyRules.MapCellsTooMany, ProblemSeverity.Error,
                    $"entry {stop.EntryIndex} (cell {stop.CellOffset}): IDs not matched by earlier entries fail with -EINVAL (\"{stop.KernelLog}\")"),
            });
        }

        foreach (var e in r.Entries)
        {
            if (e.IdBaseOutsideMask)
            {
                list.Add(new Found(TopologyRules.MapIdBaseOutsideMask, ProblemSeverity.Error,
                    $"entry {e.Index} id-base 0x{e.IdBase:x} has bits outside iommu-map-mask 0x{user.Mask:x}: of_map_id() returns -EFAULT "
                    + $"for every ID not matched by an earlier entry"));
            }

            if (e.TargetPath is null)
            {
                list.Add(new Found(TopologyRules.MapPhandleUnresolved, ProblemSeverity.Error,
                    $"entry {e.Index} names phandle {Strings.Hex(e.Phandle)}, which no node has: IDs in its range fail with -ENODEV"));
            }
            else if (e.TargetIommuCells is null)
            {
                list.Add(new Found(TopologyRules.MapTargetNotProvider, ProblemSeverity.Warning,
                    $"entry {e.Index} targets {e.TargetPath}, which has no #iommu-cells"));
            }
            else if (!e.TargetAvailable && user.Status.IsAvailable)
            {
                list.Add(new Found(TopologyRules.MapDisabledTarget, ProblemSeverity.Warning,
                    $"entry {e.Index} targets disabled {e.TargetPath}: IDs in {e.IdRangeText} get no IOMMU (of_iommu_xlate() returns -ENODEV)"));
            }

            if (r.Layout == IommuMapLayout.TargetCells && e.Length > 1 && e.OutBase.Count > 1)
            {
                list.Add(new Found(TopologyRules.MapMultiCellRange, ProblemSeverity.Error,
                    $"entry {e.Index} maps {e.Length} IDs to a {e.OutBase.Count}-cell specifier: IDs in its range fail with -EINVAL"));
            }
        }

        // Pairs are quadratic in entries and in reports: a hostile map of a million identical entries must stay
        // cheap, so the pairwise check has an entry bound and the reports a count bound, far above real boards.
        if (r.Entries.Count > MaxPairwiseEntries)
        {
            list.Add(new Found(TopologyRules.MapOverlap, ProblemSeverity.Warning,
                $"{r.Entries.Count} entries are more than the {MaxPairwiseEntries} checked pairwise for overlaps; overlaps are not reported"));
            return list;
        }

        var overlaps = 0;
        for (var i = 0; i < r.Entries.Count; i++)
        {
            for (var j = i + 1; j < r.Entries.Count; j++)
            {
                var a = r.Entries[i];
                var b = r.Entries[j];
                var lo = Math.Max(a.IdBase, b.IdBase);
                var hi = Math.Min(a.IdEnd, b.IdEnd);
                if (a.Length > 0 && b.Length > 0 && lo < hi)
                {
                    if (++overlaps > MaxOverlapReports)
                    {
                        list.Add(new Found(TopologyRules.MapOverlap, ProblemSeverity.Warning,
                            $"more than {MaxOverlapReports} overlapping entry pairs; the rest are not reported"));
                        return list;
                    }

                    list.Add(new Found(TopologyRules.MapOverlap, ProblemSeverity.Warning,
                        $"entries {i} and {j} both cover IDs 0x{lo:x}..0x{hi - 1:x}: the first match wins, so entry {i} takes them"));
                }
            }
        }

        return list;
    }
}
