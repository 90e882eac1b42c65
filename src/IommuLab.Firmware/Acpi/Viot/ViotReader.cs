using System.Buffers.Binary;
using IommuLab.Firmware.Topology;

namespace IommuLab.Firmware.Acpi.Viot;

/// <summary>
/// Decodes a VIOT (<c>struct acpi_table_viot</c> and its nodes, include/acpi/actbl3.h). Bounds follow
/// acpi_viot_init() / viot_check_bounds(), made strict: every malformation is an <see cref="AcpiFormatException"/>.
/// </summary>
internal static class ViotReader
{
    /// <summary>ACPI header, node count (u16), node offset (u16), 8 reserved bytes.</summary>
    public const int FixedSize = AcpiTableHeader.Size + 12;

    public static ViotTable Read(ReadOnlySpan<byte> bytes, string source, AcpiTableOptions options)
    {
        var problems = new List<AcpiProblem>();
        var (header, length) = AcpiTable.ReadHeader(bytes, source, FixedSize, problems);
        var t = bytes[..length];
        var count = U16(t, 36);
        var offset = U16(t, 38);
        if (count > 0)
        {
            if (offset < FixedSize || offset > length)
            {
                throw new AcpiFormatException(source, AcpiTableError.NodeOffsetOutOfRange, 38,
                    $"expected a node array offset between 0x{FixedSize:x} and the table length 0x{length:x}, found 0x{offset:x}");
            }

            if (count > (length - offset) / ViotNode.HeaderSize)
            {
                throw new AcpiFormatException(source, AcpiTableError.NodeCountImpossible, 36,
                    $"expected at most {(length - offset) / ViotNode.HeaderSize} nodes after the node offset 0x{offset:x}, found a node count of {count}");
            }
        }

        if (count > options.MaxNodes)
        {
            throw FirmwareFormatException.Exceeds(new AcpiFormatException(source, AcpiTableError.TooManyNodes, 36,
                $"expected at most {options.MaxNodes} nodes, found a node count of {count}{FirmwareLimits.Hint(FirmwareLimit.Nodes, "AcpiTableOptions.MaxNodes")}"), FirmwareLimit.Nodes);
        }

        var nodes = new List<ViotNode>(count);
        var off = (int)offset;
        var endpoints = 0;
        for (var i = 0; i < count; i++)
        {
            var node = ReadNode(t, off, i, source, problems);
            if (node is ViotPciRange or ViotMmioEndpoint && ++endpoints > options.MaxIdMappings)
            {
                // Each endpoint node is one mapping onto a virtio-iommu, as an IORT ID mapping is.
                throw FirmwareFormatException.Exceeds(new AcpiFormatException(source, AcpiTableError.TooManyMappings, off,
                    $"expected at most {options.MaxIdMappings} endpoint (PCI range and MMIO endpoint) nodes, found endpoint node number {endpoints}{FirmwareLimits.Hint(FirmwareLimit.Mappings, "AcpiTableOptions.MaxIdMappings")}"), FirmwareLimit.Mappings);
            }

            nodes.Add(node);
            off += node.Length;
        }

        if (count > 0 && off < length)
        {
            problems.Add(new AcpiProblem(AcpiRules.ViotTrailingBytes, ProblemSeverity.Info, off,
                $"{length - off} bytes after the last of the {count} nodes are not part of any node; Linux reads only node-count nodes"));
        }

        var table = new ViotTable(source, header, nodes, problems);
        foreach (var node in nodes)
        {
            var (reference, at) = node switch
            {
                ViotPciRange r => (r.OutputNode, r.Offset + 16),
                ViotMmioEndpoint m => (m.OutputNode, m.Offset + 16),
                _ => ((ushort)0, -1),
            };
            if (at < 0)
            {
                continue;
            }

            var target = table.NodeAt(reference)
                ?? throw new AcpiFormatException(source, AcpiTableError.ReferenceToNoNode, at,
                    $"expected the output node of the {Name(node.RawType)} node at 0x{node.Offset:x} to be the offset of a node, found 0x{reference:x}");
            if (target.Type is not (ViotNodeType.VirtioIommuPci or ViotNodeType.VirtioIommuMmio))
            {
                throw new AcpiFormatException(source, AcpiTableError.ReferenceToWrongType, at,
                    $"expected the output node of the {Name(node.RawType)} node at 0x{node.Offset:x} to be a virtio-iommu node, found the {Name(target.RawType)} node at 0x{target.Offset:x}");
            }
        }

        return table;
    }

    private static ViotNode ReadNode(ReadOnlySpan<byte> t, int off, int index, string source, List<AcpiProblem> problems)
    {
        if (off + ViotNode.HeaderSize > t.Length)
        {
            throw new AcpiFormatException(source, AcpiTableError.NodeOverrunsTable, off,
                $"expected a {ViotNode.HeaderSize}-byte header for node {index}, the table ends {t.Length - off} bytes later");
        }

        var type = t[off];
        var length = U16(t, off + 2);
        var minimum = (ViotNodeType)type switch
        {
            ViotNodeType.PciRange => ViotPciRange.Size,
            ViotNodeType.MmioEndpoint => ViotMmioEndpoint.Size,
            ViotNodeType.VirtioIommuPci => ViotVirtioIommuPci.Size,
            ViotNodeType.VirtioIommuMmio => ViotVirtioIommuMmio.Size,
            _ => ViotNode.HeaderSize,
        };
        if (length < minimum)
        {
            throw new AcpiFormatException(source, AcpiTableError.NodeTooShort, off + 2,
                $"expected a length of at least {minimum} for the {Name(type)} node at 0x{off:x}, found {length}");
        }

        if (off + length > t.Length)
        {
            throw new AcpiFormatException(source, AcpiTableError.NodeOverrunsTable, off + 2,
                $"expected the {Name(type)} node at 0x{off:x} (length {length}) to end within the table (0x{t.Length:x} bytes), it ends at 0x{off + length:x}");
        }

        var n = t.Slice(off, length);
        switch ((ViotNodeType)type)
        {
            case ViotNodeType.PciRange:
                return new ViotPciRange(off, type, length, U32(n, 4), U16(n, 8), U16(n, 10), U16(n, 12), U16(n, 14), U16(n, 16));
            case ViotNodeType.MmioEndpoint:
                return new ViotMmioEndpoint(off, type, length, U32(n, 4), BinaryPrimitives.ReadUInt64LittleEndian(n[8..]), U16(n, 16));
            case ViotNodeType.VirtioIommuPci:
                return new ViotVirtioIommuPci(off, type, length, U16(n, 4), U16(n, 6));
            case ViotNodeType.VirtioIommuMmio:
                return new ViotVirtioIommuMmio(off, type, length, BinaryPrimitives.ReadUInt64LittleEndian(n[8..]));
            default:
                problems.Add(new AcpiProblem(AcpiRules.ViotUnknownNodeType, ProblemSeverity.Warning, off,
                    $"node type {type} is not defined by VIOT version 1; Linux skips it",
                    $"ACPI: VIOT: Unsupported node {type:x}"));
                return new ViotUnknownNode(off, type, length);
        }
    }

    internal static string Name(byte type) => (ViotNodeType)type switch
    {
        ViotNodeType.PciRange => "PCI range",
        ViotNodeType.MmioEndpoint => "MMIO endpoint",
        ViotNodeType.VirtioIommuPci => "virtio-iommu PCI",
        ViotNodeType.VirtioIommuMmio => "virtio-iommu MMIO",
        _ => $"type-{type}",
    };

    private static ushort U16(ReadOnlySpan<byte> s, int at) => BinaryPrimitives.ReadUInt16LittleEndian(s[at..]);

    private static uint U32(ReadOnlySpan<byte> s, int at) => BinaryPrimitives.ReadUInt32LittleEndian(s[at..]);
}
