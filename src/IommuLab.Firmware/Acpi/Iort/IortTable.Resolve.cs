using IommuLab.Firmware.Topology;

namespace IommuLab.Firmware.Acpi.Iort;

/// <summary>The ID translation of drivers/acpi/arm64/iort.c, as pure functions of the decoded table.</summary>
public sealed partial class IortTable
{
    /// <summary>
    /// Models iort_id_map(): one mapping of a node of type <paramref name="nodeType"/> applied to
    /// <paramref name="idIn"/>. <paramref name="afterEndOfRange"/> is the kernel's check_overlap argument (an
    /// earlier mapping of the node matched the ID at the end of its range). The range test and the end-of-range
    /// test use 32-bit arithmetic, wrapping as the kernel's u32 sum does.
    /// </summary>
    public static (IortIdMapOutcome Outcome, uint IdOut) IdMap(
        IortIdMapping map, IortNodeType nodeType, uint idIn, bool afterEndOfRange, List<string>? kernelLog = null)
    {
        ArgumentNullException.ThrowIfNull(map);
        if (map.SingleMapping)
        {
            if (nodeType is IortNodeType.NamedComponent or IortNodeType.RootComplex)
            {
                return (IortIdMapOutcome.Mapped, map.OutputBase);
            }

            kernelLog?.Add($"[Firmware Bug]: [map] SINGLE MAPPING flag not allowed for node type {(byte)nodeType}, skipping ID map");
            return (IortIdMapOutcome.SingleMappingRefused, 0);
        }

        var last = unchecked(map.InputBase + map.IdCount);
        if (idIn < map.InputBase || idIn > last)
        {
            return (IortIdMapOutcome.NoMatch, 0);
        }

        if (afterEndOfRange)
        {
            kernelLog?.Add($"[Firmware Bug]: [map] conflicting mapping for input ID 0x{idIn:x}");
            if (idIn != map.InputBase)
            {
                return (IortIdMapOutcome.ConflictRejected, 0);
            }

            kernelLog?.Add("[Firmware Bug]: applying workaround.");
        }

        var idOut = unchecked(map.OutputBase + (idIn - map.InputBase));
        return map.IdCount > 0 && idIn == last ? (IortIdMapOutcome.EndOfRange, idOut) : (IortIdMapOutcome.Mapped, idOut);
    }

    /// <summary>
    /// The mapping index an ID walk skips on <paramref name="node"/> (the SMMUv3 or PMCG's own MSI mapping):
    /// iort_get_id_mapping_index(), null where it returns an error.
    /// </summary>
    public static int? DeviceIdMappingIndex(IortNode node) => node switch
    {
        IortSmmuV3 s => s.EffectiveDeviceIdMappingIndex,
        IortPmcg p => p.EffectiveDeviceIdMappingIndex,
        _ => null,
    };

    /// <summary>
    /// Models iort_node_map_id(): from <paramref name="start"/>, while the node is not of a wanted type, translate
    /// the ID through the node's mappings (skipping its DeviceID mapping index; a match at the end of a range is
    /// provisional and a later mapping starting at that ID takes over) and move to the chosen mapping's output
    /// node. Terminates: the reader rejects tables whose output references form a cycle.
    /// </summary>
    public IortWalk MapId(IortNode start, uint idIn, IortTargets targets)
    {
        ArgumentNullException.ThrowIfNull(start);
        var hops = new List<IortWalkHop>();
        var log = new List<string>();
        var node = start;
        var id = idIn;
        while (true)
        {
            if (node.Header.RawType < 31 && ((1 << node.Header.RawType) & (int)targets) != 0)
            {
                return new IortWalk(start, idIn, node, id, hops, IortWalkEnd.Reached, node, log);
            }

            if (node.Mappings.Count == 0)
            {
                return Fail(IortWalkEnd.NoMappings);
            }

            // The kernel checks only the first mapping for a missing output reference.
            if (node.Mappings[0].OutputReference == 0)
            {
                log.Add($"[Firmware Bug]: [node type {node.Header.RawType}] ID map has NULL parent reference");
                return Fail(IortWalkEnd.NullReference);
            }

            var skip = DeviceIdMappingIndex(node);
            var mapId = id;
            IortIdMapping? chosen = null;
            IortIdMapping? provisional = null;
            var rule = IortHopRule.Range;
            foreach (var map in node.Mappings)
            {
                if (map.Index == skip)
                {
                    continue;
                }

                var (outcome, outId) = IdMap(map, node.Type, mapId, provisional is not null, log);
                if (outcome == IortIdMapOutcome.Mapped)
                {
                    chosen = map;
                    id = outId;
                    rule = provisional is not null ? IortHopRule.EndOfRangeSuperseded
                        : map.SingleMapping ? IortHopRule.SingleMapping : IortHopRule.Range;
                    break;
                }

                if (outcome == IortIdMapOutcome.EndOfRange)
                {
                    id = outId;
                    provisional = map;
                }
            }

            if (chosen is null)
            {
                if (provisional is null)
                {
                    return Fail(IortWalkEnd.NoMatch);
                }

                chosen = provisional;
                rule = IortHopRule.EndOfRange;
            }

            // A later mapping with a zero reference would send the kernel to the table header; stop there instead.
            if (chosen.OutputReference == 0 || NodeAt(chosen.OutputReference) is not { } next)
            {
                log.Add($"[Firmware Bug]: [node type {node.Header.RawType}] ID map has NULL parent reference");
                return Fail(IortWalkEnd.NullReference);
            }

            hops.Add(new IortWalkHop(node, mapId, chosen, id, rule));
            node = next;
        }

        IortWalk Fail(IortWalkEnd end) => new(start, idIn, null, idIn, hops, end, node, log);
    }

    /// <summary>
    /// Models iort_node_get_id(): mapping <paramref name="index"/> of <paramref name="node"/>, usable only when it
    /// has the single-mapping flag and the node is a named component, root complex, SMMUv3 or PMCG; returns its
    /// output node and output base.
    /// </summary>
    public (IortGetIdEnd End, IortNode? Parent, uint Id) GetId(IortNode node, int index, List<string>? kernelLog = null)
    {
        ArgumentNullException.ThrowIfNull(node);
        if (index < 0 || index >= node.Mappings.Count)
        {
            return (IortGetIdEnd.NoSuchIndex, null, 0);
        }

        var map = node.Mappings[index];
        if (map.OutputReference == 0)
        {
            kernelLog?.Add($"[Firmware Bug]: [node type {node.Header.RawType}] ID map has NULL parent reference");
            return (IortGetIdEnd.NullReference, null, 0);
        }

        var takesSingle = node.Type is IortNodeType.NamedComponent or IortNodeType.RootComplex
            or IortNodeType.SmmuV3 or IortNodeType.Pmcg;
        return map.SingleMapping && takesSingle && NodeAt(map.OutputReference) is { } parent
            ? (IortGetIdEnd.Found, parent, map.OutputBase)
            : (IortGetIdEnd.NotSingleMapping, null, 0);
    }

    /// <summary>
    /// Models iort_nc_iommu_map() (a named component probed without an input ID), through
    /// iort_node_map_platform_id(): for index 0, 1, 2..., take the single mapping's output, walk on to an SMMU
    /// when the output node is not one, and collect (SMMU, stream ID); stop at the first index that gives none.
    /// </summary>
    public IortNcResolution ResolveNamedComponent(string objectName)
    {
        var node = FindNamedComponent(objectName);
        var log = new List<string>();
        var steps = new List<IortNcStep>();
        if (node is null)
        {
            return new IortNcResolution(objectName, null, steps, IortNcEnd.NodeNotFound, null, null, null, log);
        }

        for (var index = 0; ; index++)
        {
            var (end, parent, id) = GetId(node, index, log);
            if (parent is null)
            {
                return new IortNcResolution(objectName, node, steps, IortNcEnd.GetIdFailed, index, end, null, log);
            }

            IortWalk? walk = null;
            var iommu = parent;
            var streamId = id;
            if (parent.Type is not (IortNodeType.Smmu or IortNodeType.SmmuV3))
            {
                walk = MapId(parent, id, IortTargets.Iommu);
                log.AddRange(walk.KernelLog);
                if (walk.Target is null)
                {
                    return new IortNcResolution(objectName, node, steps, IortNcEnd.WalkFailed, index, null, walk, log);
                }

                iommu = walk.Target;
                streamId = walk.IdOut;
            }

            steps.Add(new IortNcStep(index, node.Mappings[index], parent, id, walk, iommu, streamId));
        }
    }

    /// <summary>
    /// Models iort_nc_iommu_map_id() (a named component probed with an input ID, e.g. a platform MSI or a
    /// fsl-mc child): one iort_node_map_id() walk to an SMMU. Null when no named component has the name.
    /// </summary>
    public IortWalk? ResolveNamedComponent(string objectName, uint idIn) =>
        FindNamedComponent(objectName) is { } node ? MapId(node, idIn, IortTargets.Iommu) : null;

    /// <summary>
    /// Models iort_pci_iommu_init() for one requester ID (one DMA alias) of a device in <paramref name="segment"/>:
    /// the segment's root complex (iort_scan_node()) and iort_node_map_id() from it to an SMMU.
    /// </summary>
    public IortPciResolution ResolvePci(uint segment, ushort rid)
    {
        var rc = FindRootComplex(segment);
        return new IortPciResolution(segment, rid, rc, rc is null ? null : MapId(rc, rid, IortTargets.Iommu));
    }

    /// <summary>
    /// Models nc_dma_get_range() / rc_dma_get_range(): the DMA limit acpi_arch_dma_setup() takes from a named
    /// component or root complex. -ENODEV for a root complex before node revision 1, -EINVAL (with the FW_BUG line)
    /// for a limit of 0; a limit of 64 bits or more means no limit.
    /// </summary>
    public static (Errno? Error, ulong Limit, string? KernelLog) DmaLimit(IortNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        byte bits;
        switch (node)
        {
            case IortNamedComponent nc:
                bits = nc.MemoryAddressLimit;
                if (bits == 0)
                {
                    return (Errno.EINVAL, 0, "[Firmware Bug]: Named component missing memory address limit");
                }

                break;
            case IortRootComplex { MemoryAddressLimit: { } limit }:
                bits = limit;
                if (bits == 0)
                {
                    return (Errno.EINVAL, 0, "[Firmware Bug]: Root complex missing memory address limit");
                }

                break;
            default:
                return (Errno.ENODEV, 0, null);
        }

        return (null, bits >= 64 ? ulong.MaxValue : (1UL << bits) - 1, null);
    }
}
