using IommuLab.Firmware.Topology;

namespace IommuLab.Firmware.Acpi.Iort;

/// <summary>
/// Whole-table checks that need every node: references, mapping cycles, and the problems Linux logs but
/// tolerates.
/// </summary>
internal static class IortChecks
{
    public static void Run(IortTable table, string source, List<AcpiProblem> problems)
    {
        foreach (var node in table.Nodes)
        {
            foreach (var map in node.Mappings)
            {
                CheckReference(table, node, map, source, problems);
            }

            if (node is IortPmcg { NodeReference: not 0 } pmcg)
            {
                var target = table.NodeAt(pmcg.NodeReference);
                if (target is null)
                {
                    throw new AcpiFormatException(source, AcpiTableError.ReferenceToNoNode, pmcg.Offset + 28,
                        $"expected the node reference of {IortReader.Describe(pmcg.Header)} to be the offset of a node, found 0x{pmcg.NodeReference:x}");
                }

                if (target.Type is not (IortNodeType.SmmuV3 or IortNodeType.NamedComponent or IortNodeType.RootComplex))
                {
                    throw new AcpiFormatException(source, AcpiTableError.ReferenceToWrongType, pmcg.Offset + 28,
                        $"expected the node reference of {IortReader.Describe(pmcg.Header)} to name an SMMUv3, named component or root complex node, found {IortReader.Describe(target.Header)}");
                }
            }
        }

        CheckCycles(table, source);
        Tolerated(table, problems);
    }

    /// <summary>The known node types an ID mapping of <paramref name="source"/> may output to (IORT spec, per
    /// node type); null when the source type is unknown and anything goes. Outputs to unknown types are allowed.</summary>
    public static IortNodeType[]? AllowedTargets(IortNodeType source) => source switch
    {
        IortNodeType.NamedComponent or IortNodeType.RootComplex => [IortNodeType.ItsGroup, IortNodeType.Smmu, IortNodeType.SmmuV3],
        IortNodeType.Smmu or IortNodeType.SmmuV3 or IortNodeType.Pmcg => [IortNodeType.ItsGroup],
        IortNodeType.Rmr => [IortNodeType.Smmu, IortNodeType.SmmuV3],
        IortNodeType.Iwb => [IortNodeType.ItsGroup, IortNodeType.Smmu, IortNodeType.SmmuV3],
        IortNodeType.ItsGroup => [],
        _ => null,
    };

    private static void CheckReference(IortTable table, IortNode node, IortIdMapping map, string source, List<AcpiProblem> problems)
    {
        if (map.OutputReference == 0)
        {
            problems.Add(new AcpiProblem(AcpiRules.IortNullOutputReference, ProblemSeverity.Warning, map.Offset + 12,
                $"ID mapping {map.Index} of {IortReader.Describe(node.Header)} has no output reference; a walk through it stops",
                $"[Firmware Bug]: [node type {node.Header.RawType}] ID map has NULL parent reference"));
            return;
        }

        var target = table.NodeAt(map.OutputReference)
            ?? throw new AcpiFormatException(source, AcpiTableError.ReferenceToNoNode, map.Offset + 12,
                $"expected the output reference of ID mapping {map.Index} of {IortReader.Describe(node.Header)} to be the offset of a node, found 0x{map.OutputReference:x}");

        // A node type newer than this model may be a legitimate intermediate; only known pairs are judged.
        if (AllowedTargets(node.Type) is { } allowed && target is not IortUnknownNode && !allowed.Contains(target.Type))
        {
            var expected = allowed.Length == 0
                ? "no ID mappings at all"
                : "an output to " + string.Join(" or ", allowed.Select(a => IortTable.TypeName((byte)a)));
            throw new AcpiFormatException(source, AcpiTableError.ReferenceToWrongType, map.Offset + 12,
                $"expected {expected} for ID mapping {map.Index} of {IortReader.Describe(node.Header)}, found a reference to {IortReader.Describe(target.Header)}");
        }
    }

    /// <summary>
    /// Rejects any cycle of output references: iort_node_map_id() follows references until it reaches a node of
    /// the wanted type and has no step limit, so a reachable cycle would hang the kernel.
    /// </summary>
    private static void CheckCycles(IortTable table, string source)
    {
        var state = new Dictionary<int, int>(); // 1 = on the current path, 2 = done
        foreach (var root in table.Nodes)
        {
            if (state.ContainsKey(root.Offset))
            {
                continue;
            }

            // Iterative depth-first search: a table can hold thousands of nodes.
            var stack = new Stack<(IortNode Node, int Next)>();
            stack.Push((root, 0));
            state[root.Offset] = 1;
            while (stack.Count > 0)
            {
                var (node, next) = stack.Pop();
                if (next >= node.Mappings.Count)
                {
                    state[node.Offset] = 2;
                    continue;
                }

                stack.Push((node, next + 1));
                var map = node.Mappings[next];
                if (map.OutputReference == 0 || table.NodeAt(map.OutputReference) is not { } target)
                {
                    continue;
                }

                if (state.TryGetValue(target.Offset, out var s))
                {
                    if (s == 1)
                    {
                        var path = stack.Select(f => $"0x{f.Node.Offset:x}").Reverse().SkipWhile(o => o != $"0x{target.Offset:x}");
                        throw new AcpiFormatException(source, AcpiTableError.MappingCycle, map.Offset + 12,
                            $"expected ID mapping output references to end at an SMMU or ITS group, found the cycle {string.Join(" -> ", path)} -> 0x{target.Offset:x}");
                    }

                    continue;
                }

                state[target.Offset] = 1;
                stack.Push((target, 0));
            }
        }
    }

    private static void Tolerated(IortTable table, List<AcpiProblem> problems)
    {
        var segments = new Dictionary<uint, IortRootComplex>();
        var names = new Dictionary<string, IortNamedComponent>(StringComparer.Ordinal);
        foreach (var node in table.Nodes)
        {
            switch (node)
            {
                case IortRootComplex rc when !segments.TryAdd(rc.PciSegment, rc):
                    problems.Add(new AcpiProblem(AcpiRules.IortDuplicateSegment, ProblemSeverity.Warning, rc.Offset + 28,
                        $"PCI segment {rc.PciSegment} already belongs to the root complex at 0x{segments[rc.PciSegment].Offset:x}; Linux uses the first"));
                    break;
                case IortRootComplex { MemoryAddressLimit: 0 } rc:
                    problems.Add(new AcpiProblem(AcpiRules.IortMissingMemoryLimit, ProblemSeverity.Info, rc.Offset + 32,
                        "root complex memory address size limit is 0; Linux ignores it when setting DMA limits",
                        "[Firmware Bug]: Root complex missing memory address limit"));
                    break;
                case IortNamedComponent nc when !names.TryAdd(nc.ObjectName, nc):
                    problems.Add(new AcpiProblem(AcpiRules.IortDuplicateName, ProblemSeverity.Warning, nc.Offset + 29,
                        $"object name {nc.ObjectName} already belongs to the named component at 0x{names[nc.ObjectName].Offset:x}; Linux uses the first"));
                    break;
                case IortNamedComponent { MemoryAddressLimit: 0 } nc:
                    problems.Add(new AcpiProblem(AcpiRules.IortMissingMemoryLimit, ProblemSeverity.Info, nc.Offset + 28,
                        $"named component {nc.ObjectName} has memory address size limit 0; Linux ignores it when setting DMA limits",
                        "[Firmware Bug]: Named component missing memory address limit"));
                    break;
            }

            var msiIndex = node switch
            {
                IortSmmuV3 s => s.EffectiveDeviceIdMappingIndex,
                IortPmcg p => p.EffectiveDeviceIdMappingIndex,
                _ => null,
            };
            var singleAllowed = node.Type is IortNodeType.NamedComponent or IortNodeType.RootComplex;

            // Where range mappings start, so the end-of-range check is linear: a node can hold 3275 mappings.
            var rangeStarts = node.Mappings.Where(o => !o.SingleMapping && o.Index != msiIndex).Select(o => (ulong)o.InputBase).ToHashSet();
            foreach (var map in node.Mappings)
            {
                if (map.SingleMapping && !singleAllowed && map.Index != msiIndex)
                {
                    problems.Add(new AcpiProblem(AcpiRules.IortSingleMappingRefused, ProblemSeverity.Warning, map.Offset + 16,
                        $"ID mapping {map.Index} of {IortReader.Describe(node.Header)} has the single-mapping flag, which ID walks refuse on this node type",
                        $"[Firmware Bug]: [map] SINGLE MAPPING flag not allowed for node type {node.Header.RawType}, skipping ID map"));
                }

                // A mapping with IdCount > 0 ends past its own start, so a start at its end is always another mapping's.
                if (!map.SingleMapping && map.IdCount > 0 && rangeStarts.Contains(map.InputLast))
                {
                    problems.Add(new AcpiProblem(AcpiRules.IortEndOfRangeOverlap, ProblemSeverity.Info, map.Offset + 4,
                        $"ID mapping {map.Index} of {IortReader.Describe(node.Header)} ends at input 0x{map.InputLast:x}, where another mapping starts: its ID count reads as a number of IDs, not that number minus one; Linux lets the other mapping win for that ID"));
                }
            }
        }
    }
}
