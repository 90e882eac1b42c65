using System.Collections.Immutable;
using System.Globalization;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.Topology;
using IommuLab.Model.Dma;

namespace IommuLab.Model.Kernel;

/// <summary>
/// Builds the <see cref="Platform"/> a device tree describes: the devices of_platform_populate() creates, the IOMMU
/// instances (enabled <c>#iommu-cells</c> providers, driver model by <c>compatible</c>), each consumer's decoded
/// <c>iommus</c> list, and per-device knobs ("label.key=value").
/// </summary>
public static class DtPlatformBuilder
{
    private static readonly string[] BusCompatibles = ["simple-bus", "simple-mfd", "isa", "arm,amba-bus"];

    /// <summary>Builds the platform; returns an error message for a malformed knob.</summary>
    public static (Platform? Platform, string? Error) Build(DeviceTree tree, PlatformKnobs knobs, IReadOnlyList<string> deviceKnobs)
    {
        ArgumentNullException.ThrowIfNull(tree);
        ArgumentNullException.ThrowIfNull(knobs);
        ArgumentNullException.ThrowIfNull(deviceKnobs);
        var nodes = new List<DtNode>();
        Populate(tree.Root, nodes);

        var parsedKnobs = new List<(string Device, string Key, string Value)>();
        foreach (var k in deviceKnobs)
        {
            var eq = k.IndexOf('=', StringComparison.Ordinal);
            var dot = eq > 0 ? k.LastIndexOf('.', eq) : -1;
            if (dot <= 0)
            {
                return (null, $"knob '{k}' is not DEVICE.key=value");
            }

            parsedKnobs.Add((k[..dot], k[(dot + 1)..eq].Trim().ToLowerInvariant(), k[(eq + 1)..].Trim()));
        }

        var symbols = tree.FindByPath("/__symbols__");
        string[] LabelsOf(DtNode n)
        {
            var labels = n.Labels.ToList();
            if (symbols is not null)
            {
                foreach (var p in symbols.Properties)
                {
                    if (p.GetString() == n.Path && !labels.Contains(p.Name))
                    {
                        labels.Add(p.Name);
                    }
                }
            }

            return [.. labels];
        }

        bool Matches(DtNode n, string name) => n.Path == name || LabelsOf(n).Contains(name) || n.Name == name;

        foreach (var (dev, _, _) in parsedKnobs)
        {
            if (!nodes.Any(n => Matches(n, dev)))
            {
                return (null, $"knob names unknown device '{dev}'");
            }
        }

        IEnumerable<(string Key, string Value)> KnobsOf(DtNode n) =>
            parsedKnobs.Where(k => Matches(n, k.Device)).Select(k => (k.Key, k.Value));

        var instances = new List<IommuInstanceInfo>();
        var instanceOfNode = new Dictionary<DtNode, int>();
        for (var i = 0; i < nodes.Count; i++)
        {
            var n = nodes[i];
            if (n.FindProperty("#iommu-cells") is not { } cellsProp || !cellsProp.TryGetU32(out var cells))
            {
                continue;
            }

            var compatible = n.FindProperty("compatible")?.GetStringList()?.FirstOrDefault() ?? "";
            var kind = DriverKindOf(compatible);
            var availability = DriverAvailability.Module;
            var probeFails = false;
            var props = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var p in n.Properties.Where(p => p.Name.StartsWith("iommulab,", StringComparison.Ordinal)))
            {
                props[p.Name["iommulab,".Length..]] = p.IsEmpty ? "1" : p.TryGetU32(out var v) ? v.ToString(CultureInfo.InvariantCulture) : p.GetString() ?? "1";
            }

            foreach (var (key, value) in KnobsOf(n))
            {
                props[key] = value;
            }

            foreach (var (key, value) in props)
            {
                switch (key)
                {
                    case "driver":
                        if (!Enum.TryParse(value.Replace("-", "", StringComparison.Ordinal), true, out availability))
                        {
                            return (null, $"{n.Path}: driver must be builtin, module or absent");
                        }

                        break;
                    case "probe-fails":
                        probeFails = value is "1" or "true";
                        break;
                }
            }

            var dart = kind == IommuDriverKind.AppleDart ? DartOf(compatible, props) : null;
            var numStreams = dart?.NumStreams ?? (props.TryGetValue("num-streams", out var ns) ? int.Parse(ns, CultureInfo.InvariantCulture) : 1 << 16);
            instanceOfNode[n] = instances.Count;
            instances.Add(new IommuInstanceInfo(instances.Count, i, n.Path, LabelsOf(n).FirstOrDefault() ?? n.Name, compatible, kind, cells, availability, probeFails, numStreams, dart));
        }

        var topology = IommuTopology.Decode(tree);
        var devices = new List<PlatformDevice>();
        for (var i = 0; i < nodes.Count; i++)
        {
            var n = nodes[i];
            var hasDriver = !KnobsOf(n).Any(k => k.Key == "driver" && k.Value == "absent");
            var list = topology.Consumer(n.Path) is { } consumer ? RefsOf(consumer, tree, instanceOfNode) : FwRefList.Empty;
            var compatible = n.FindProperty("compatible")?.GetStringList()?.FirstOrDefault();
            int? instance = instanceOfNode.TryGetValue(n, out var ix) ? ix : null;
            devices.Add(new PlatformDevice(i, n.Path, n.Name, LabelsOf(n), compatible, hasDriver, instance, list));
        }

        var notes = new List<string>();
        foreach (var map in topology.MapUsers)
        {
            var bridge = tree.FindByPath(map.Path);
            if (bridge is null || !nodes.Contains(bridge) || bridge.FindProperty("device_type")?.GetString() != "pci")
            {
                continue;
            }

            var bridgeName = LabelsOf(bridge).FirstOrDefault() ?? bridge.Name;
            var functions = PciFunctions(bridge).ToList();
            if (functions.Count > 0)
            {
                notes.Add($"{map.Path}: PCI functions from its {functions.Count} child node(s)");
            }
            else
            {
                var reading = map.Reading(IommuMapLayout.FourCell);
                functions = [.. reading.Entries.Select(e => ((DtNode?)null, e.IdBase))];
                notes.Add($"{map.Path}: no child nodes; one PCI function per iommu-map entry (its first RID)");
            }

            foreach (var (node, rid) in functions)
            {
                var aliases = new List<uint> { rid };
                if (node?.FindProperty("iommulab,dma-aliases")?.GetCells() is { } extra)
                {
                    aliases.AddRange(extra);
                }

                var bdf = $"{rid >> 8:x2}:{(rid >> 3) & 0x1f:x2}.{rid & 7}";
                var labels = node is null ? [$"{bridgeName}:{bdf}"] : LabelsOf(node).Append($"{bridgeName}:{bdf}").ToArray();
                var path = node?.Path ?? $"{map.Path}/pci@{bdf}";
                var hasDriver = node is null || !KnobsOf(node).Any(k => k.Key == "driver" && k.Value == "absent");
                devices.Add(new PlatformDevice(devices.Count, path, node?.Name ?? $"pci@{bdf}", labels, null, hasDriver, null, PciRefs(map, aliases, tree, instanceOfNode), rid));
            }
        }

        return (new Platform(tree.SourceName, devices, instances, knobs, notes) { Dma = DmaFirmware.Read(tree, devices) }, null);
    }

    /// <summary>The decoded <c>iommus</c> list in the model's terms: references, and how the kernel's loop ends.</summary>
    private static FwRefList RefsOf(IommusConsumer consumer, DeviceTree tree, Dictionary<DtNode, int> instances)
    {
        var refs = consumer.References.Select(r =>
        {
            var node = tree.FindByPath(r.TargetPath);
            int? instance = node is not null && instances.TryGetValue(node, out var ix) ? ix : null;
            return new FwRef(r.Index, r.TargetPath, instance, r.TargetAvailable, [.. r.Args]);
        }).ToImmutableArray();
        var errno = new Errno(-(int)consumer.End.Errno);
        return new FwRefList(refs, errno, consumer.End.Reason == IommusEndReason.EndOfList ? null : consumer.End.KernelLog ?? consumer.End.Reason.ToString());
    }

    /// <summary>PCI functions described under a host bridge: every descendant with a <c>reg</c> (RID from its first cell).</summary>
    private static IEnumerable<(DtNode? Node, uint Rid)> PciFunctions(DtNode bridge)
    {
        foreach (var c in bridge.Children)
        {
            if (c.FindProperty("reg")?.GetCells() is { Length: > 0 } reg && IsAvailable(c))
            {
                yield return (c, (reg[0] >> 8) & 0xffff);
                foreach (var f in PciFunctions(c))
                {
                    yield return f;
                }
            }
        }
    }

    /// <summary>
    /// of_pci_iommu_init() over the DMA aliases (own RID first, then <c>iommulab,dma-aliases</c>): each alias goes
    /// through of_map_id(); the walk stops at the first error, and "no translation" is a reference to no node.
    /// </summary>
    private static FwRefList PciRefs(IommuMapUser map, List<uint> aliases, DeviceTree tree, Dictionary<DtNode, int> instances)
    {
        var refs = ImmutableArray.CreateBuilder<FwRef>();
        foreach (var alias in aliases)
        {
            var r = map.MapId(alias, IommuMapLayout.FourCell);
            switch (r.Outcome)
            {
                case MapIdOutcome.Translated:
                    var node = r.TargetPath is null ? null : tree.FindByPath(r.TargetPath);
                    int? instance = node is not null && instances.TryGetValue(node, out var ix) ? ix : null;
                    refs.Add(new FwRef(refs.Count, r.TargetPath!, instance, node is not null && IsAvailable(node), [.. r.Args]));
                    break;
                case MapIdOutcome.NoMatch:
                    refs.Add(new FwRef(refs.Count, $"(no iommu-map translation for id 0x{alias:x})", null, false, [alias]));
                    break;
                default:
                    return new FwRefList(refs.ToImmutable(), new Errno(-(int)(r.Errno ?? IommuLab.Firmware.Topology.Errno.EINVAL)), r.KernelLog ?? "of_map_id failed");
            }
        }

        return new FwRefList(refs.ToImmutable(), Errno.ENOENT, null);
    }

    /// <summary>of_platform_populate(): enabled nodes with compatible under the root and under bus nodes.</summary>
    private static void Populate(DtNode parent, List<DtNode> into)
    {
        foreach (var c in parent.Children)
        {
            if (!IsAvailable(c) || c.FindProperty("compatible")?.GetStringList() is not { Count: > 0 } compat)
            {
                continue;
            }

            into.Add(c);
            if (compat.Any(s => BusCompatibles.Contains(s)))
            {
                Populate(c, into);
            }
        }
    }

    /// <summary>of_device_is_available(): status absent, "okay" or "ok".</summary>
    public static bool IsAvailable(DtNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var status = node.FindProperty("status")?.GetString();
        return status is null or "okay" or "ok";
    }

    private static IommuDriverKind DriverKindOf(string compatible) => compatible switch
    {
        "apple,t8103-dart" or "apple,t8103-usb4-dart" or "apple,t6000-dart" or "apple,t8110-dart" => IommuDriverKind.AppleDart,
        "arm,smmu-v3" => IommuDriverKind.ArmSmmuV3,
        "arm,smmu-v1" or "arm,smmu-v2" or "arm,mmu-400" or "arm,mmu-401" or "arm,mmu-500" => IommuDriverKind.ArmSmmu,
        _ when compatible.EndsWith("-smmu-500", StringComparison.Ordinal) => IommuDriverKind.ArmSmmu,
        "virtio,mmio" or "virtio,pci-iommu" => IommuDriverKind.VirtioIommu,
        _ => IommuDriverKind.Generic,
    };

    /// <summary>Variant table of spec §6.1, then the simulated register overrides.</summary>
    private static DartHardware DartOf(string compatible, Dictionary<string, string> props)
    {
        var hw = compatible switch
        {
            "apple,t8103-usb4-dart" => new DartHardware("t8103-usb4", 36, 32, 16384, 64, false, false, 4, []),
            "apple,t6000-dart" => new DartHardware("t6000", 42, 32, 16384, 16, true, false, 4, []),
            "apple,t8110-dart" => new DartHardware("t8110", 36, 36, 16384, 256, true, false, 1, []),
            _ => new DartHardware("t8103", 36, 32, 16384, 16, true, false, 4, []),
        };
        int Int(string v) => v.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? int.Parse(v[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture)
            : int.Parse(v, CultureInfo.InvariantCulture);
        foreach (var (key, value) in props)
        {
            hw = key switch
            {
                "bypass" => hw with { SupportsBypass = value is "1" or "true" },
                "locked" => hw with { Locked = value is "1" or "true" },
                "locked-sid" => hw with { Locked = true, LockedSids = [Int(value)] },
                "pgsize" => hw with { PgSize = Int(value) },
                "num-streams" => hw with { NumStreams = Int(value) },
                "ias" => hw with { Ias = Int(value) },
                _ => hw,
            };
        }

        return hw.Locked && hw.LockedSids.Count == 0 ? hw with { LockedSids = [0] } : hw;
    }
}
