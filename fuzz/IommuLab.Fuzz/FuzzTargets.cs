using System.Text;
using IommuLab.Cli.Rendering;
using IommuLab.Firmware;
using IommuLab.Firmware.Acpi;
using IommuLab.Firmware.Acpi.Iort;
using IommuLab.Firmware.Acpi.Viot;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.DeviceTree.Dts;
using IommuLab.Firmware.Topology;

namespace IommuLab.Fuzz;

/// <summary>The fuzz targets. A typed <see cref="FirmwareFormatException"/> is an expected answer to bad input;
/// any other exception, a stack overflow or a time-out is a finding.</summary>
public static class FuzzTargets
{
    /// <summary>Target names, as <c>fuzz/run.sh TARGET</c> spells them.</summary>
    public static readonly IReadOnlyList<string> Names = ["dtb", "dts", "acpi"];

    /// <summary>Runs one input through a target; returns true when the input was accepted.</summary>
    public static bool Run(string target, byte[] input, string workDir) => target switch
    {
        "dtb" => Expected(() => Dtb(input)),
        "dts" => Expected(() => Dts(input, workDir)),
        "acpi" => Expected(() => Acpi(input)),
        _ => throw new ArgumentException($"unknown target '{target}'; known: {string.Join(", ", Names)}", nameof(target)),
    };

    private static bool Expected(Action body)
    {
        try
        {
            body();
            return true;
        }
        catch (FirmwareFormatException)
        {
            return false;
        }
    }

    /// <summary>DTB reader, then everything that consumes an accepted tree: topology decode, both writers, and a
    /// DTB round trip that must give the same tree.</summary>
    public static void Dtb(byte[] input)
    {
        var tree = DtbReader.Read(input, "fuzz.dtb");
        Consume(tree);
        var back = DtbReader.Read(DtbWriter.Write(tree), "rewritten.dtb");
        if (DeviceTreeComparer.FirstDifference(tree, back) is { } difference)
        {
            throw new InvalidOperationException($"DTB round trip changed the tree: {difference}");
        }

        // The decompiled text is parsed again only for robustness (dtc's octal quirk changes some values).
        DtsParser.Parse(DtsWriter.Write(tree), "decompiled.dts");
    }

    /// <summary>DTS parser (with /include/ and /incbin/ resolving inside <paramref name="workDir"/>), then the
    /// consumers of an accepted tree and a DTB round trip.</summary>
    public static void Dts(byte[] input, string workDir)
    {
        var tree = DtsParser.Parse(Encoding.UTF8.GetString(input), Path.Combine(workDir, "fuzz.dts"));
        Consume(tree);
        DeviceTree back;
        try
        {
            back = DtbReader.Read(DtbWriter.Write(tree), "compiled.dtb");
        }
        catch (DtbFormatException e) when (e.Kind == DtbError.TooDeep)
        {
            // The DTS limit (MaxNodeDepth) is deliberately looser than the kernel's DTB limit of 64 levels.
            return;
        }

        // A reservation of address 0 and size 0 is the DTB block's terminator: it and every entry after it are gone
        // after compiling, exactly as with dtc (found by AFL++: `/memreserve/ 0 0;`).
        var end = tree.MemoryReservations.FindIndex(r => r.Address == 0 && r.Size == 0);
        if (end >= 0)
        {
            tree.MemoryReservations.RemoveRange(end, tree.MemoryReservations.Count - end);
        }

        if (DeviceTreeComparer.FirstDifference(tree, back) is { } difference)
        {
            throw new InvalidOperationException($"DTS -> DTB -> tree changed the tree: {difference}");
        }
    }

    /// <summary>IORT/VIOT loader, then the text rendering and every resolution a user can ask for.</summary>
    public static void Acpi(byte[] input)
    {
        var table = AcpiTable.Load(input, "fuzz.dat");
        _ = AcpiTableText.Render(table);
        switch (table)
        {
            case IortTable iort:
                foreach (var nc in iort.NamedComponents)
                {
                    _ = iort.ResolveNamedComponent(nc.ObjectName);
                    foreach (var map in nc.Mappings)
                    {
                        _ = iort.ResolveNamedComponent(nc.ObjectName, map.InputBase);
                        _ = iort.ResolveNamedComponent(nc.ObjectName, unchecked((uint)map.InputLast));
                    }
                }

                foreach (var rc in iort.RootComplexes)
                {
                    _ = iort.ResolvePci(rc.PciSegment, 0);
                    _ = iort.ResolvePci(rc.PciSegment, ushort.MaxValue);
                    foreach (var map in rc.Mappings)
                    {
                        _ = iort.ResolvePci(rc.PciSegment, unchecked((ushort)map.InputBase));
                        _ = iort.ResolvePci(rc.PciSegment, unchecked((ushort)map.InputLast));
                    }
                }

                foreach (var node in iort.Nodes)
                {
                    _ = IortTable.DmaLimit(node);
                    for (var i = 0; i < node.Mappings.Count; i++)
                    {
                        _ = iort.GetId(node, i);
                    }
                }

                break;
            case ViotTable viot:
                foreach (var node in viot.Nodes)
                {
                    switch (node)
                    {
                        case ViotPciRange r:
                            _ = viot.ResolvePci(r.SegmentStart, r.BdfStart);
                            _ = viot.ResolvePci(r.SegmentEnd, r.BdfEnd);
                            break;
                        case ViotMmioEndpoint m:
                            _ = viot.ResolveMmio(m.BaseAddress);
                            break;
                    }
                }

                break;
        }
    }

    /// <summary>What every accepted tree goes through: the topology decode, its three renderings (what
    /// <c>iommulab topology</c> prints) and the DTS writer (what <c>iommulab dump</c> prints).</summary>
    private static void Consume(DeviceTree tree)
    {
        var topology = IommuTopology.Decode(tree);
        _ = topology.Counts;
        TopologyText.Write(topology, TextWriter.Null);
        TopologyJson.Write(topology, TextWriter.Null);
        TopologyDot.Write(topology, TextWriter.Null);
        _ = DtsWriter.Write(tree);
    }
}
