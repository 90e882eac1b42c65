using IommuLab.Firmware.DeviceTree;

namespace IommuLab.Firmware.Topology;

/// <summary>Decodes <c>iommus</c> the way the kernel's DT parser frames it.</summary>
internal static class IommusDecoder
{
    /// <summary>MAX_PHANDLE_ARGS (include/linux/of.h): the args a struct of_phandle_args can hold.</summary>
    public const int MaxPhandleArgs = 16;

    private const string CellsName = "#iommu-cells";

    /// <summary>
    /// Models of_iommu_configure_dev()'s loop <c>while (!of_parse_phandle_with_args(np, "iommus", "#iommu-cells", idx, &amp;spec)) idx++</c>
    /// (drivers/iommu/of_iommu.c) over __of_parse_phandle_with_args() and of_phandle_iterator_next() (drivers/of/base.c).
    /// Each call re-walks from the first cell, so the loop sees exactly the entries before the first failing one;
    /// one sequential walk gives the same result. The xlate that follows each entry is kernel behaviour, not modelled here.
    /// </summary>
    public static IommusConsumer Decode(DeviceTree.DeviceTree tree, DtNode node, DtProperty prop, List<TopologyProblem> problems)
    {
        var path = node.Path;
        var status = NodeStatus.Of(node);

        // of_phandle_iterator_init(): list_end = list + size / 4, so a partial last cell is never read.
        var n = prop.Length / 4;
        var cells = new uint[n];
        for (var i = 0; i < n; i++)
        {
            cells[i] = prop.GetCell(i);
        }

        var walk = Walk(tree, path, cells, 0, 0, stopAtEmpty: true);
        var end = walk.End;
        IReadOnlyList<uint> ignored = end.IsEarly ? cells[end.CellOffset..] : [];
        IReadOnlyList<IommuReference> ignoredRefs = [];
        if (end.Reason == IommusEndReason.EmptyEntry)
        {
            // The iterator frames past an empty entry (it consumes one cell); show what the kernel leaves unused.
            ignoredRefs = Walk(tree, path, cells, end.CellOffset + 1, end.Index + 1, stopAtEmpty: false).References;
        }

        var consumer = new IommusConsumer(
            path, [.. node.Labels], Strings.Compatible(node), status, cells, prop.Length % 4, walk.References, end, ignored, ignoredRefs);
        AddProblems(tree, consumer, problems);
        return consumer;
    }

    private sealed record WalkResult(IReadOnlyList<IommuReference> References, IommusEnd End);

    /// <summary>Models of_phandle_iterator_next() with cells_name "#iommu-cells" and no fallback cell count.</summary>
    private static WalkResult Walk(DeviceTree.DeviceTree tree, string consumerPath, uint[] cells, int start, int firstIndex, bool stopAtEmpty)
    {
        var refs = new List<IommuReference>();
        var cur = start;
        var index = firstIndex;
        while (true)
        {
            if (cur >= cells.Length)
            {
                return new WalkResult(refs, new IommusEnd(IommusEndReason.EndOfList, index, cur, Errno.ENOENT, null, null, null));
            }

            var slot = cur;
            var phandle = cells[cur++];
            if (phandle == 0)
            {
                if (stopAtEmpty)
                {
                    return new WalkResult(refs, new IommusEnd(IommusEndReason.EmptyEntry, index, slot, Errno.ENOENT, 0, null, null));
                }

                index++;
                continue;
            }

            var target = tree.FindByPhandle(phandle);
            if (target is null)
            {
                // The kernel prints the phandle with %d.
                var log = $"{consumerPath}: could not find phandle {unchecked((int)phandle)}";
                return new WalkResult(refs, new IommusEnd(IommusEndReason.PhandleNotFound, index, slot, Errno.EINVAL, phandle, null, log));
            }

            if (target.FindProperty(CellsName) is not { } cp || !cp.TryGetU32(out var count))
            {
                var log = $"{consumerPath}: could not get {CellsName} for {target.Path}";
                return new WalkResult(refs, new IommusEnd(IommusEndReason.TargetNotProvider, index, slot, Errno.EINVAL, phandle, target.Path, log));
            }

            var remaining = cells.Length - cur;
            if (count > (uint)remaining)
            {
                var log = $"{consumerPath}: {CellsName} = {unchecked((int)count)} found {remaining}";
                return new WalkResult(refs, new IommusEnd(IommusEndReason.ArgsOverrun, index, slot, Errno.EINVAL, phandle, target.Path, log));
            }

            // of_phandle_iterator_args() copies at most MAX_PHANDLE_ARGS and WARNs about the rest.
            var kept = (int)Math.Min(count, MaxPhandleArgs);
            refs.Add(new IommuReference(
                index, slot, phandle, target.Path, [.. target.Labels], NodeStatus.Of(target).IsAvailable, cells[cur..(cur + kept)], count));
            cur += (int)count;
            index++;
        }
    }

    private static void AddProblems(DeviceTree.DeviceTree tree, IommusConsumer c, List<TopologyProblem> problems)
    {
        var path = c.Path;
        void Add(string rule, ProblemSeverity sev, string message) => problems.Add(new TopologyProblem(rule, sev, path, message));

        if (c.Cells.Count == 0 && c.TrailingBytes == 0)
        {
            Add(TopologyRules.IommusEmpty, ProblemSeverity.Info, "iommus is empty: the device has no IOMMU");
        }

        if (c.TrailingBytes != 0)
        {
            Add(TopologyRules.IommusLengthNotCells, ProblemSeverity.Warning,
                $"iommus is {c.Cells.Count * 4 + c.TrailingBytes} bytes, not a multiple of 4: the last {c.TrailingBytes} byte(s) are never read");
        }

        foreach (var r in c.References.Where(r => r.ArgsTruncated))
        {
            Add(TopologyRules.IommusArgsTruncated, ProblemSeverity.Warning,
                $"iommus[{r.Index}] -> {r.TargetPath}: #iommu-cells = {r.DeclaredArgCount} exceeds MAX_PHANDLE_ARGS ({MaxPhandleArgs}); "
                + $"of_phandle_iterator_args() WARNs and passes only the first {MaxPhandleArgs} args");
        }

        var e = c.End;
        switch (e.Reason)
        {
            case IommusEndReason.EmptyEntry:
                Add(TopologyRules.IommusEmptyEntry, ProblemSeverity.Warning,
                    $"iommus[{e.Index}] (cell {e.CellOffset}) has phandle 0, an empty entry: parsing index {e.Index} returns -ENOENT and the list ends there");
                break;
            case IommusEndReason.PhandleNotFound:
                Add(TopologyRules.IommusPhandleUnresolved, ProblemSeverity.Error,
                    $"iommus[{e.Index}] (cell {e.CellOffset}): no node has phandle {Strings.Hex(e.Phandle ?? 0)}; -EINVAL ends the list (\"{e.KernelLog}\")");
                break;
            case IommusEndReason.TargetNotProvider:
                Add(TopologyRules.IommusTargetNotProvider, ProblemSeverity.Error,
                    $"iommus[{e.Index}] (cell {e.CellOffset}) -> {e.TargetPath}, which has no #iommu-cells; -EINVAL ends the list (\"{e.KernelLog}\")");
                break;
            case IommusEndReason.ArgsOverrun:
                Add(TopologyRules.IommusArgsOverrun, ProblemSeverity.Error,
                    $"iommus[{e.Index}] (cell {e.CellOffset}) -> {e.TargetPath}: its args run past the end of the property; -EINVAL ends the list (\"{e.KernelLog}\")");
                break;
        }

        // Cells after the failing entry's phandle cell are silently dropped by the kernel's loop.
        if (e.IsEarly && c.IgnoredCells.Count > 1)
        {
            var what = c.IgnoredReferences.Count > 0
                ? $", including {string.Join(", ", c.IgnoredReferences.Select(r => $"[{r.Index}] {r.TargetPath} {Strings.Args(r.Args)}"))}"
                : "";
            Add(TopologyRules.IommusEntriesIgnored, ProblemSeverity.Warning,
                $"{c.IgnoredCells.Count - 1} cell(s) after iommus[{e.Index}] are ignored: the kernel only sees {c.References.Count} reference(s){what}");
        }

        if (FindMismatch(tree, c) is { } mismatch)
        {
            Add(TopologyRules.IommusCellsMismatch, ProblemSeverity.Error, mismatch);
        }

        if (c.Status.IsAvailable)
        {
            foreach (var r in c.References.Where(r => !r.TargetAvailable))
            {
                Add(TopologyRules.IommusDisabledProvider, ProblemSeverity.Warning,
                    $"enabled consumer references disabled provider {r.TargetPath} at iommus[{r.Index}]: of_iommu_xlate() returns -ENODEV "
                    + $"there and the entries after it are not translated");
            }
        }
    }

    /// <summary>
    /// Heuristic (a DTB keeps no entry boundaries): the writer's framing is taken to be a uniform stride s whose
    /// slots 0, s, 2s, ... all hold phandles of nodes with <c>#iommu-cells</c>. When no such stride agrees with
    /// its targets' cell counts and one disagrees, the consumer's cells do not match its target's
    /// <c>#iommu-cells</c> if either the kernel's walk failed with -EINVAL (and the stride has two or more slots,
    /// or one slot of at most 3 args, a plausible IOMMU specifier), or the walk succeeded with a framing other
    /// than the stride's and the stride has two or more slots.
    /// </summary>
    private static string? FindMismatch(DeviceTree.DeviceTree tree, IommusConsumer c)
    {
        var n = c.Cells.Count;
        if (n < 2)
        {
            return null;
        }

        var kernelSlots = c.References.Select(r => r.CellOffset).ToArray();
        var kernelFailed = c.End.Errno == Errno.EINVAL;
        var kernelClean = c.End.Reason == IommusEndReason.EndOfList;
        int? bad = null;
        for (var s = 1; s <= n; s++)
        {
            if (n % s != 0)
            {
                continue;
            }

            var allProviders = true;
            var consistent = true;
            for (var k = 0; k < n; k += s)
            {
                var target = c.Cells[k] == 0 ? null : tree.FindByPhandle(c.Cells[k]);
                if (target?.FindProperty("#iommu-cells") is not { } cp || !cp.TryGetU32(out var cells))
                {
                    allProviders = false;
                    break;
                }

                consistent &= cells == (uint)(s - 1);
            }

            if (!allProviders)
            {
                continue;
            }

            if (consistent)
            {
                return null;
            }

            var slots = Enumerable.Range(0, n / s).Select(k => k * s).ToArray();
            var several = n / s >= 2;
            var suspicious = kernelFailed
                ? several || s - 1 <= 3
                : kernelClean && several && !slots.SequenceEqual(kernelSlots);
            if (bad is null && suspicious)
            {
                bad = s;
            }
        }

        if (bad is not int stride)
        {
            return null;
        }

        var first = tree.FindByPhandle(c.Cells[0])!;
        var declared = first.FindProperty("#iommu-cells")!.GetCell(0);
        var reframed = c.References.FirstOrDefault(r => r.CellOffset % stride != 0);
        var consequence = reframed is not null
            ? $"cell {reframed.CellOffset} (value {Strings.Hex(reframed.Phandle)}) is read as a phandle and resolves to {reframed.TargetPath}"
            : $"the walk fails at cell {c.End.CellOffset}: {DescribeEnd(c.End)}";
        if (reframed is not null && kernelFailed)
        {
            consequence += $", then fails at cell {c.End.CellOffset}: {DescribeEnd(c.End)}";
        }

        return $"entries written with {stride - 1} arg cell(s) but {first.Path} has #iommu-cells = {declared}: the kernel re-frames the list; {consequence}";
    }

    private static string DescribeEnd(IommusEnd e) => e.Reason switch
    {
        IommusEndReason.PhandleNotFound => $"no node has phandle {Strings.Hex(e.Phandle ?? 0)}, -EINVAL",
        IommusEndReason.TargetNotProvider => $"value {Strings.Hex(e.Phandle ?? 0)} is read as a phandle and resolves to {e.TargetPath}, which has no #iommu-cells, -EINVAL",
        IommusEndReason.ArgsOverrun => $"{e.TargetPath}'s args overrun the property, -EINVAL",
        IommusEndReason.EmptyEntry => "empty entry, -ENOENT",
        _ => "end of list",
    };
}
