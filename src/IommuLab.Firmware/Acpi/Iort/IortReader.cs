using System.Buffers.Binary;
using IommuLab.Firmware.Topology;

namespace IommuLab.Firmware.Acpi.Iort;

/// <summary>
/// Decodes an IORT (Arm DEN 0049, table revisions 0 to 7: issues A-C, E.b, E.d, E.e, E.f/E.g; the deprecated
/// revisions 1, 2 and 4 read with the same layout). Node layouts follow <c>include/acpi/actbl2.h</c>; which
/// optional fields exist follows the node revision and length. Every malformation is an
/// <see cref="AcpiFormatException"/>; what Linux tolerates becomes an <see cref="AcpiProblem"/>.
/// </summary>
internal static class IortReader
{
    /// <summary>ACPI header plus node count, node offset and a reserved word.</summary>
    public const int FixedSize = AcpiTableHeader.Size + 12;

    /// <summary>The newest table revision this reader knows (E.g adds the IWB node).</summary>
    public const byte NewestKnownRevision = 7;

    public static IortTable Read(ReadOnlySpan<byte> bytes, string source, AcpiTableOptions options)
    {
        var problems = new List<AcpiProblem>();
        var (header, length) = AcpiTable.ReadHeader(bytes, source, FixedSize, problems);
        var t = bytes[..length];
        if (header.Revision > NewestKnownRevision)
        {
            problems.Add(new AcpiProblem(AcpiRules.IortRevisionUnknown, ProblemSeverity.Info, 8,
                $"table revision {header.Revision} is newer than {NewestKnownRevision}; nodes are read with the revision {NewestKnownRevision} layouts"));
        }

        var nodeCount = U32(t, 36);
        var nodeOffset = U32(t, 40);
        if (nodeCount > 0)
        {
            if (nodeOffset < FixedSize || nodeOffset > (uint)length)
            {
                throw new AcpiFormatException(source, AcpiTableError.NodeOffsetOutOfRange, 40,
                    $"expected a node array offset between 0x{FixedSize:x} and the table length 0x{length:x}, found 0x{nodeOffset:x}");
            }

            var room = ((uint)length - nodeOffset) / IortNodeHeader.Size;
            if (nodeCount > room)
            {
                throw new AcpiFormatException(source, AcpiTableError.NodeCountImpossible, 36,
                    $"expected at most {room} nodes in the 0x{(uint)length - nodeOffset:x} bytes after the node offset 0x{nodeOffset:x}, found a node count of {nodeCount}");
            }
        }

        if (nodeCount > (uint)options.MaxNodes)
        {
            throw FirmwareFormatException.Exceeds(new AcpiFormatException(source, AcpiTableError.TooManyNodes, 36,
                $"expected at most {options.MaxNodes} nodes, found a node count of {nodeCount}{FirmwareLimits.Hint(FirmwareLimit.Nodes, "AcpiTableOptions.MaxNodes")}"), FirmwareLimit.Nodes);
        }

        var nodes = new List<IortNode>((int)nodeCount);
        var mappings = 0L;

        // With no nodes the offset is never checked nor used (Linux ignores it too), so it may be anything.
        var off = nodeCount == 0 ? 0 : (int)nodeOffset;
        for (var i = 0; i < nodeCount; i++)
        {
            var node = ReadNode(t, off, i, source, problems);
            mappings += node.Mappings.Count;
            if (mappings > options.MaxIdMappings)
            {
                throw FirmwareFormatException.Exceeds(new AcpiFormatException(source, AcpiTableError.TooManyMappings, off + 8,
                    $"expected at most {options.MaxIdMappings} ID mappings in the table, found {Describe(node.Header)} bringing the total to {mappings}{FirmwareLimits.Hint(FirmwareLimit.Mappings, "AcpiTableOptions.MaxIdMappings")}"), FirmwareLimit.Mappings);
            }

            nodes.Add(node);
            off += node.Header.Length;
        }

        if (nodeCount > 0 && off < length)
        {
            problems.Add(new AcpiProblem(AcpiRules.IortTrailingBytes, ProblemSeverity.Info, off,
                $"{length - off} bytes after the last of the {nodeCount} nodes are not part of any node; Linux reads only node-count nodes"));
        }

        var table = new IortTable(source, header, nodes, problems);
        IortChecks.Run(table, source, problems);
        return table;
    }

    private static IortNode ReadNode(ReadOnlySpan<byte> t, int off, int index, string source, List<AcpiProblem> problems)
    {
        if (off + IortNodeHeader.Size > t.Length)
        {
            throw new AcpiFormatException(source, AcpiTableError.NodeOverrunsTable, off,
                $"expected a {IortNodeHeader.Size}-byte header for node {index}, the table ends {t.Length - off} bytes later");
        }

        var h = new IortNodeHeader(off, t[off], U16(t, off + 1), t[off + 3], U32(t, off + 4), U32(t, off + 8), U32(t, off + 12));
        var minimum = MinimumLength(h.RawType);
        if (h.Length < minimum)
        {
            throw new AcpiFormatException(source, AcpiTableError.NodeTooShort, off + 1,
                $"expected a length of at least {minimum} for {Describe(h)}, found {h.Length}");
        }

        if (off + h.Length > t.Length)
        {
            throw new AcpiFormatException(source, AcpiTableError.NodeOverrunsTable, off + 1,
                $"expected {Describe(h)} (length {h.Length}) to end within the table (0x{t.Length:x} bytes), it ends at 0x{off + h.Length:x}");
        }

        var n = t.Slice(off, h.Length);
        var mappings = ReadMappings(n, h, minimum, source);

        // Optional fields are read only up to the mapping array, so a short node never has a field overlap it.
        var fieldEnd = h.MappingCount > 0 ? (int)Math.Min(h.MappingOffset, h.Length) : h.Length;
        switch (h.Type)
        {
            case IortNodeType.ItsGroup:
            {
                var count = U32(n, 16);
                if (count > (uint)(h.Length - 20) / 4)
                {
                    throw new AcpiFormatException(source, AcpiTableError.ArrayOutsideNode, off + 16,
                        $"expected the {count} ITS identifiers of {Describe(h)} to fit in its {h.Length} bytes");
                }

                var ids = new uint[count];
                for (var i = 0; i < ids.Length; i++)
                {
                    ids[i] = U32(n, 20 + (4 * i));
                }

                return new IortItsGroup(h, mappings, ids);
            }

            case IortNodeType.NamedComponent:
            {
                var name = ReadName(n, 29, fieldEnd, h, source);
                return new IortNamedComponent(h, mappings, U32(n, 16), Memory(n, 20), n[28], name);
            }

            case IortNodeType.RootComplex:
            {
                byte? limit = h.Revision >= 1 && fieldEnd >= 33 ? n[32] : null;
                ushort? pasid = h.Revision >= 4 && fieldEnd >= 35 ? U16(n, 33) : null;
                uint? flags = h.Revision >= 4 && fieldEnd >= 40 ? U32(n, 36) : null;
                return new IortRootComplex(h, mappings, Memory(n, 16), U32(n, 24), U32(n, 28), limit, pasid, flags);
            }

            case IortNodeType.Smmu:
            {
                var global = Interrupts(n, h, U32(n, 40), 2, "global interrupt", source);
                var context = Interrupts(n, h, U32(n, 48), U32(n, 44), "context interrupt", source);
                var pmu = Interrupts(n, h, U32(n, 56), U32(n, 52), "PMU interrupt", source);
                return new IortSmmu(h, mappings, U64(n, 16), U64(n, 24), U32(n, 32), U32(n, 36), global[0], global[1], context, pmu);
            }

            case IortNodeType.SmmuV3:
            {
                uint? pxm = fieldEnd >= 64 ? U32(n, 60) : null;
                uint? idIndex = fieldEnd >= 68 ? U32(n, 64) : null;
                var smmu = new IortSmmuV3(h, mappings, U64(n, 16), U32(n, 24), U64(n, 32), U32(n, 40),
                    U32(n, 44), U32(n, 48), U32(n, 52), U32(n, 56), pxm, idIndex, null);
                return smmu with { EffectiveDeviceIdMappingIndex = SmmuV3DeviceIdIndex(smmu, problems) };
            }

            case IortNodeType.Pmcg:
            {
                ulong? page1 = h.Revision >= 1 && fieldEnd >= 40 ? U64(n, 32) : null;
                var overflow = U32(n, 24);
                int? msiIndex = overflow != 0 || h.MappingCount == 0 ? null : 0;
                return new IortPmcg(h, mappings, U64(n, 16), overflow, U32(n, 28), page1, msiIndex);
            }

            case IortNodeType.Rmr:
            {
                var count = U32(n, 20);
                var at = U32(n, 24);
                if (count > 0 && (at < 28 || at > h.Length || count > (h.Length - at) / 20))
                {
                    throw new AcpiFormatException(source, AcpiTableError.ArrayOutsideNode, off + 24,
                        $"expected the {count} memory range descriptors of {Describe(h)} at node offset 0x{at:x} to fit between its fields and its end (0x{h.Length:x})");
                }

                var ranges = new IortRmrDescriptor[count];
                for (var i = 0; i < ranges.Length; i++)
                {
                    var d = (int)at + (20 * i);
                    ranges[i] = new IortRmrDescriptor(off + d, U64(n, d), U64(n, d + 8));
                }

                return new IortRmr(h, mappings, U32(n, 16), ranges);
            }

            case IortNodeType.Iwb:
                return new IortIwb(h, mappings, U64(n, 16), U16(n, 24), ReadName(n, 26, fieldEnd, h, source));

            default:
                problems.Add(new AcpiProblem(AcpiRules.IortUnknownNodeType, ProblemSeverity.Warning, off,
                    $"node type {h.RawType} is not defined by IORT revisions up to E.g; Linux skips it by its length"));
                return new IortUnknownNode(h, mappings);
        }
    }

    /// <summary>The fixed part each node type needs (node header included), in its oldest revision.</summary>
    private static int MinimumLength(byte type) => (IortNodeType)type switch
    {
        IortNodeType.ItsGroup => 20,
        IortNodeType.NamedComponent => 30,
        IortNodeType.RootComplex => 32,
        IortNodeType.Smmu => 60,
        IortNodeType.SmmuV3 => 60,
        IortNodeType.Pmcg => 32,
        IortNodeType.Rmr => 28,
        IortNodeType.Iwb => 27,
        _ => IortNodeHeader.Size,
    };

    private static IReadOnlyList<IortIdMapping> ReadMappings(ReadOnlySpan<byte> n, IortNodeHeader h, int fixedPart, string source)
    {
        if (h.MappingCount == 0)
        {
            return [];
        }

        var fits = h.MappingOffset >= fixedPart && h.MappingOffset <= h.Length
            && h.MappingCount <= (h.Length - h.MappingOffset) / IortIdMapping.Size;
        if (!fits)
        {
            throw new AcpiFormatException(source, AcpiTableError.MappingsOutsideNode, h.Offset + 12,
                $"expected {h.MappingCount} ID mappings ({(ulong)h.MappingCount * IortIdMapping.Size} bytes) at node offset 0x{h.MappingOffset:x} to lie between the end of the fields of {Describe(h)} (0x{fixedPart:x}) and its end (0x{h.Length:x})");
        }

        var list = new IortIdMapping[h.MappingCount];
        for (var i = 0; i < list.Length; i++)
        {
            var m = (int)h.MappingOffset + (i * IortIdMapping.Size);
            list[i] = new IortIdMapping(i, h.Offset + m, U32(n, m), U32(n, m + 4), U32(n, m + 8), U32(n, m + 12), U32(n, m + 16));
        }

        return list;
    }

    private static string ReadName(ReadOnlySpan<byte> n, int start, int end, IortNodeHeader h, string source)
    {
        var region = start < end ? n[start..end] : [];
        var nul = region.IndexOf((byte)0);
        return nul >= 0
            ? AcpiTableHeader.Text(region[..nul])
            : throw new AcpiFormatException(source, AcpiTableError.UnterminatedName, h.Offset + start,
                $"expected a NUL-terminated object name in {Describe(h)} before node offset 0x{end:x}, found none");
    }

    private static IortSmmuInterrupt[] Interrupts(ReadOnlySpan<byte> n, IortNodeHeader h, uint at, uint count, string what, string source)
    {
        if (count == 0)
        {
            return [];
        }

        if (at < IortNodeHeader.Size || at > h.Length || count > (h.Length - at) / 8)
        {
            throw new AcpiFormatException(source, AcpiTableError.ArrayOutsideNode, h.Offset,
                $"expected the {count} {what} entries of {Describe(h)} at node offset 0x{at:x} to fit in its {h.Length} bytes");
        }

        var list = new IortSmmuInterrupt[count];
        for (var i = 0; i < list.Length; i++)
        {
            list[i] = new IortSmmuInterrupt(U32(n, (int)at + (8 * i)), U32(n, (int)at + (8 * i) + 4));
        }

        return list;
    }

    /// <summary>Models iort_get_id_mapping_index() for an SMMUv3 node.</summary>
    private static int? SmmuV3DeviceIdIndex(IortSmmuV3 s, List<AcpiProblem> problems)
    {
        if (s.Revision < 1 || s.DeviceIdMappingIndex is not { } index)
        {
            return null;
        }

        // Before node revision 5 (E.e) the index is meaningful unless every interrupt is a wired GSIV.
        var valid = s.Revision < 5
            ? !(s.EventGsiv != 0 && s.PriGsiv != 0 && s.GerrGsiv != 0 && s.SyncGsiv != 0)
            : s.DeviceIdValid;
        if (!valid)
        {
            return null;
        }

        if (index >= s.Header.MappingCount)
        {
            problems.Add(new AcpiProblem(AcpiRules.IortDeviceIdIndexOverflow, ProblemSeverity.Warning, s.Offset + 64,
                $"SMMUv3 DeviceID mapping index {index} is not below the mapping count {s.Header.MappingCount}; Linux uses no MSI mapping index",
                $"[Firmware Bug]: [node type 4] ID mapping index overflows valid mappings"));
            return null;
        }

        return (int)index;
    }

    private static IortMemoryAccess Memory(ReadOnlySpan<byte> n, int at) => new(U32(n, at), n[at + 4], n[at + 7]);

    internal static string Describe(IortNodeHeader h) => $"the {IortTable.TypeName(h.RawType)} node at 0x{h.Offset:x}";

    private static ushort U16(ReadOnlySpan<byte> s, int at) => BinaryPrimitives.ReadUInt16LittleEndian(s[at..]);

    private static uint U32(ReadOnlySpan<byte> s, int at) => BinaryPrimitives.ReadUInt32LittleEndian(s[at..]);

    private static ulong U64(ReadOnlySpan<byte> s, int at) => BinaryPrimitives.ReadUInt64LittleEndian(s[at..]);
}
