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
    /// <summary>Splits `DEVICE.key=value` knobs (DEVICE may itself contain dots); shared with the ACPI builder.</summary>
    internal static (List<(string Device, string Key, string Value)>? Knobs, string? Error) ParseDeviceKnobs(IReadOnlyList<string> deviceKnobs)
    {
        var parsed = new List<(string Device, string Key, string Value)>();
        foreach (var k in deviceKnobs)
        {
            var eq = k.IndexOf('=', StringComparison.Ordinal);
            var dot = eq > 0 ? k.LastIndexOf('.', eq) : -1;
            if (dot <= 0)
            {
                return (null, $"knob '{k}' is not DEVICE.key=value");
            }

            parsed.Add((k[..dot], k[(dot + 1)..eq].Trim().ToLowerInvariant(), k[(eq + 1)..].Trim()));
        }

        return (parsed, null);
    }

    private static readonly string[] BusCompatibles = ["simple-bus", "simple-mfd", "isa", "arm,amba-bus"];

    /// <summary>Builds the platform; returns an error message for a malformed knob.</summary>
    /// <param name="tree">The device tree.</param>
    /// <param name="knobs">Kernel config and command-line knobs.</param>
    /// <param name="deviceKnobs">Per-device knobs, "DEVICE.key=value".</param>
    /// <param name="pci">
    /// <c>--pci</c> device lists ("[BRIDGE=]LIST", docs/pci.md): the functions enumeration finds behind a host bridge;
    /// the bridge's DT child nodes are matched to them by bus/devfn.
    /// </param>
    /// <param name="topology">The tree's decoded IOMMU topology when the caller has it already (decoded here otherwise).</param>
    public static (Platform? Platform, string? Error) Build(DeviceTree tree, PlatformKnobs knobs, IReadOnlyList<string> deviceKnobs, IReadOnlyList<string>? pci = null, IommuTopology? topology = null)
    {
        ArgumentNullException.ThrowIfNull(tree);
        ArgumentNullException.ThrowIfNull(knobs);
        ArgumentNullException.ThrowIfNull(deviceKnobs);
        topology ??= IommuTopology.Decode(tree);
        var nodes = new List<DtNode>();
        Populate(tree.Root, nodes);

        var (parsedKnobs, kerr) = DtPlatformBuilder.ParseDeviceKnobs(deviceKnobs);
        if (parsedKnobs is null)
        {
            return (null, kerr);
        }

        // __symbols__ (dtc -@) names nodes by path; index it once instead of scanning it for every node.
        var symbolLabels = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        if (tree.FindByPath("/__symbols__") is { } symbols)
        {
            foreach (var p in symbols.Properties)
            {
                if (p.GetString() is { } target)
                {
                    if (!symbolLabels.TryGetValue(target, out var list))
                    {
                        symbolLabels[target] = list = [];
                    }

                    list.Add(p.Name);
                }
            }
        }

        var labelCache = new Dictionary<DtNode, string[]>();
        string[] LabelsOf(DtNode n)
        {
            if (labelCache.TryGetValue(n, out var cached))
            {
                return cached;
            }

            var labels = n.Labels.ToList();
            if (symbolLabels.Count > 0 && symbolLabels.TryGetValue(n.Path, out var fromSymbols))
            {
                labels.AddRange(fromSymbols.Where(l => !labels.Contains(l)));
            }

            return labelCache[n] = [.. labels];
        }

        bool Matches(DtNode n, string name) => n.Path == name || LabelsOf(n).Contains(name) || n.Name == name;

        var allNodes = Descendants(tree.Root).ToList();
        foreach (var (dev, _, _) in parsedKnobs)
        {
            if (!nodes.Any(n => Matches(n, dev)) && !allNodes.Any(n => Matches(n, dev)))
            {
                return (null, $"knob names unknown device '{dev}'");
            }
        }

        IEnumerable<(string Key, string Value)> KnobsOf(DtNode n) =>
            parsedKnobs.Where(k => Matches(n, k.Device)).Select(k => (k.Key, k.Value));

        var instances = new List<IommuInstanceInfo>();
        var instanceOfNode = new Dictionary<DtNode, int>();
        var streamsGiven = new HashSet<int>();
        for (var i = 0; i < nodes.Count; i++)
        {
            if (AddInstance(nodes[i], i) is { } error)
            {
                return (null, error);
            }
        }

        // An IOMMU that is itself a PCI function (virtio,pci-iommu under a host bridge): its instance is registered by
        // the driver of the virtio device that virtio-pci creates; the device index is set when the functions are built.
        var hostNodes = topology.MapUsers.Select(m => tree.FindByPath(m.Path))
            .Where(h => h is not null && nodes.Contains(h) && h.FindProperty("device_type")?.GetString() == "pci").ToList();
        foreach (var host in hostNodes)
        {
            foreach (var child in Descendants(host!).Where(c => c.FindProperty("#iommu-cells") is not null && IsAvailable(c)))
            {
                if (AddInstance(child, -1) is { } error)
                {
                    return (null, error);
                }
            }
        }

        string? AddInstance(DtNode n, int i)
        {
            if (n.FindProperty("#iommu-cells") is not { } cellsProp || !cellsProp.TryGetU32(out var cells))
            {
                return null;
            }

            var compatible = n.FindProperty("compatible")?.GetStringList()?.FirstOrDefault() ?? "";
            var kind = DriverKindOf(compatible);
            var availability = DefaultAvailability(knobs);
            var probeFails = false;
            var moduleAfterTimeout = false;
            int? numSmrs = null;
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
                if (NumberKnobError(n.Path, key, value) is { } bad)
                {
                    return bad;
                }

                switch (key)
                {
                    case "driver":
                        var (parsed, err) = ParseAvailability(n.Path, value, knobs);
                        if (parsed is null)
                        {
                            return err;
                        }

                        availability = parsed.Value;
                        break;
                    case "probe-fails":
                        probeFails = value is "1" or "true";
                        break;
                    case "module-after-timeout":
                        moduleAfterTimeout = value is "1" or "true";
                        break;
                    case "num-smrs":
                        numSmrs = KnobNumber(value);
                        break;
                }
            }

            var dart = kind == IommuDriverKind.AppleDart ? DartOf(compatible, props) : null;
            var numStreams = dart?.NumStreams ?? (props.TryGetValue("num-streams", out var ns) ? KnobNumber(ns)!.Value : 1 << 16);
            if (dart is null && props.ContainsKey("num-streams"))
            {
                streamsGiven.Add(instances.Count);
            }

            instanceOfNode[n] = instances.Count;
            uint? streamMatchMask = kind == IommuDriverKind.ArmSmmu && n.FindProperty("stream-match-mask") is { } smm && smm.TryGetU32(out var m) ? m : null;
            instances.Add(new IommuInstanceInfo(instances.Count, i, n.Path, LabelsOf(n).FirstOrDefault() ?? n.Name, compatible, kind, cells, availability, probeFails, numStreams, dart)
            {
                ModuleAfterTimeout = moduleAfterTimeout,
                StreamMatchMask = streamMatchMask,
                NumSmrs = numSmrs,
            });
            return null;
        }

        // One driver is one module: every instance it drives is built in or every one is a module.
        foreach (var byDriver in instances.Where(i => i.Availability != DriverAvailability.Absent).GroupBy(i => DriverNameOf(i.Driver)))
        {
            if (byDriver.Select(i => i.Availability).Distinct().Count() > 1)
            {
                return (null, $"{byDriver.Key} cannot be both built in and a module ({string.Join(", ", byDriver.Select(i => $"{i.Name}: {i.Availability}"))})");
            }
        }

        var devices = new List<PlatformDevice>();
        for (var i = 0; i < nodes.Count; i++)
        {
            var n = nodes[i];
            var list = topology.Consumer(n.Path) is { } consumer ? RefsOf(consumer, tree, instanceOfNode) : FwRefList.Empty;
            var compatible = n.FindProperty("compatible")?.GetStringList()?.FirstOrDefault();
            int? instance = instanceOfNode.TryGetValue(n, out var ix) ? ix : null;
            var isBus = n.FindProperty("compatible")?.GetStringList()?.Any(c => BusCompatibles.Contains(c)) == true;
            var (availability, error) = instance is { } inst
                ? (instances[inst].Availability, null)
                : ConsumerAvailability(n.Path, KnobsOf(n), knobs, isBus ? DriverAvailability.BuiltIn : DefaultAvailability(knobs));
            if (availability is null)
            {
                return (null, error);
            }

            devices.Add(new PlatformDevice(i, n.Path, n.Name, LabelsOf(n), compatible, availability != DriverAvailability.Absent, instance, list)
            {
                DriverAvailability = availability.Value,
                DriverName = instance is { } j ? DriverNameOf(instances[j].Driver) : compatible ?? n.Name,
            });
        }

        var notes = new List<string>();
        var pciLists = new List<(string? Host, string Text, bool Used)>();
        foreach (var list in pci ?? [])
        {
            var eq = list.IndexOf('=', StringComparison.Ordinal);
            pciLists.Add(eq > 0 ? (list[..eq].Trim(), list[(eq + 1)..], false) : (null, list, false));
        }

        var hosts = topology.MapUsers
            .Select(m => (Map: m, Node: tree.FindByPath(m.Path)))
            .Where(h => h.Node is not null && nodes.Contains(h.Node) && h.Node.FindProperty("device_type")?.GetString() == "pci")
            .ToList();
        foreach (var (map, bridge) in hosts)
        {
            var bridgeName = LabelsOf(bridge!).FirstOrDefault() ?? bridge!.Name;
            var given = pciLists.FindIndex(l => l.Host is null ? hosts.Count == 1 : Matches(bridge!, l.Host));
            var (functions, error) = DtPciFunctions(bridge!, LabelsOf);
            if (functions is null)
            {
                return (null, $"{map.Path}: {error}");
            }

            if (functions.Count > 0 && given >= 0)
            {
                // Enumeration finds the functions; of_pci_find_child_device() gives a DT node to the function at its devfn.
                var (parsed, perr) = PciTopology.Parse(pciLists[given].Text);
                if (parsed is null)
                {
                    return (null, $"{map.Path}: {perr}");
                }

                var dtFunctions = functions;
                var merged = parsed.Functions.Select(f => (dtFunctions.FirstOrDefault(d => d.Function.Bus == f.Bus && d.Function.DevFn == f.DevFn).Node, Function: f)).ToList();
                var extra = dtFunctions.Where(d => !parsed.Functions.Any(f => f.Bus == d.Function.Bus && f.DevFn == d.Function.DevFn)).ToList();
                var (_, merr) = PciTopology.Validate([.. merged.Concat(extra).Select(f => f.Function)]);
                if (merr is not null)
                {
                    return (null, $"{map.Path}: --pci with the device tree's child nodes: {merr}");
                }

                functions = [.. merged, .. extra];
                notes.Add($"{map.Path}: PCI functions from --pci ({parsed.Functions.Count} function(s)) merged with its {dtFunctions.Count} child node(s) by bus/devfn{(extra.Count > 0 ? $"; {extra.Count} child node(s) not in the list added" : "")}");
            }
            else if (functions.Count > 0)
            {
                notes.Add($"{map.Path}: PCI functions from its {functions.Count} child node(s)");
            }
            else if (given >= 0)
            {
                var (parsed, perr) = PciTopology.Parse(pciLists[given].Text);
                if (parsed is null)
                {
                    return (null, $"{map.Path}: {perr}");
                }

                functions = [.. parsed.Functions.Select(f => ((DtNode?)null, f))];
                notes.Add($"{map.Path}: PCI functions from --pci ({functions.Count} function(s))");
            }
            else
            {
                var reading = map.Reading(IommuMapLayout.FourCell);
                functions = [.. reading.Entries.Select(e => ((DtNode?)null, new PciFunction((byte)((e.IdBase >> 8) & 0xff), (byte)(e.IdBase & 0xff), null, null, [], false)))];
                notes.Add($"{map.Path}: no child nodes and no --pci list; one PCI function per iommu-map entry (its first RID)");
            }

            if (given >= 0)
            {
                pciLists[given] = pciLists[given] with { Used = true };
            }

            var pciTopology = new PciTopology([.. functions.Select(f => f.Function)]);
            var ats = bridge!.FindProperty("ats-supported") is not null;
            foreach (var (node, f) in functions)
            {
                var bdf = f.Bdf;
                IEnumerable<string> own = node is not null ? LabelsOf(node) : f.Label is { } l ? [l] : [];
                var labels = own.Append($"{bridgeName}:{bdf}").ToArray();
                var path = node?.Path ?? $"{map.Path}/pci@{bdf}";
                var (availability, aerr) = node is null
                    ? (PciDefaultAvailability(f, knobs), null)
                    : ConsumerAvailability(node.Path, KnobsOf(node), knobs, PciDefaultAvailability(f, knobs));
                if (availability is null)
                {
                    return (null, aerr);
                }

                var aliases = pciTopology.DmaAliases(f);
                int? iommu = node is not null && instanceOfNode.TryGetValue(node, out var iommuIx) ? iommuIx : null;
                if (iommu is not null)
                {
                    // The virtio-pci function of a virtio-iommu: built-in virtio-pci binds it; the IOMMU is its virtio device.
                    labels = [$"{bridgeName}:{bdf}"];
                    availability = DriverAvailability.BuiltIn;
                }

                devices.Add(new PlatformDevice(devices.Count, path, node?.Name ?? $"pci@{bdf}", labels, null, availability != DriverAvailability.Absent, null, PciRefs(map, aliases, tree, instanceOfNode), f.Rid)
                {
                    DriverAvailability = availability.Value,
                    DriverName = iommu is not null ? "virtio-pci" : PciDriverName(f, own.FirstOrDefault() ?? bdf),
                    Pci = f,
                    PciDmaAliases = aliases,
                    PciRcAts = ats,
                    PciHostTopology = pciTopology,
                });
                if (iommu is { } vi)
                {
                    var info = instances[vi];
                    instances[vi] = info with { Device = devices.Count };
                    devices.Add(new PlatformDevice(devices.Count, $"{path}/virtio", $"virtio-iommu@{bdf}", [.. own, $"{bridgeName}:{bdf}:virtio"], info.Compatible, info.Availability != DriverAvailability.Absent, vi, FwRefList.Empty)
                    {
                        DriverAvailability = info.Availability,
                        DriverName = DriverNameOf(info.Driver),
                    });
                }
            }
        }

        if (instances.FirstOrDefault(i => i.Device < 0) is { } lost)
        {
            return (null, $"{lost.Path}: #iommu-cells on a PCI node that is not a function enumeration finds (a second node for one devfn, or below an endpoint)");
        }

        if (pciLists.FirstOrDefault(l => !l.Used) is { Text: not null } unused)
        {
            return (null, unused.Host is null
                ? hosts.Count == 0 ? "--pci: no PCI host bridge with iommu-map in this device tree" : "--pci: several host bridges have iommu-map; name one: --pci BRIDGE=LIST"
                : $"--pci: '{unused.Host}' is not a PCI host bridge with iommu-map");
        }

        SizeStreamTables(topology, tree, devices, instances, instanceOfNode, streamsGiven);
        return (new Platform(tree.SourceName, devices, instances, knobs, notes) { Dma = DmaFirmware.Read(tree, devices) }, null);
    }

    /// <summary>The name of an IOMMU driver model: its module (and its ops' owner).</summary>
    public static string DriverNameOf(IommuDriverKind kind) => kind == IommuDriverKind.AppleDart ? "apple-dart" : Drivers.FwspecDriverModel.For(kind).Name;

    /// <summary>Built in without CONFIG_MODULES, else a module.</summary>
    private static DriverAvailability DefaultAvailability(PlatformKnobs knobs) => knobs.Modules ? DriverAvailability.Module : DriverAvailability.BuiltIn;

    private static (DriverAvailability?, string?) ParseAvailability(string path, string value, PlatformKnobs knobs)
    {
        if (!Enum.TryParse<DriverAvailability>(value.Replace("-", "", StringComparison.Ordinal), true, out var availability))
        {
            return (null, $"{path}: driver must be builtin, module or absent");
        }

        return availability == DriverAvailability.Module && !knobs.Modules
            ? (null, $"{path}: driver=module needs CONFIG_MODULES (drop --no-modules)")
            : (availability, null);
    }

    /// <summary>
    /// A consumer's driver: the <c>driver</c> knob, else <paramref name="fallback"/> (the kernel config's default; bus
    /// nodes bind the built-in simple-pm-bus driver).
    /// </summary>
    private static (DriverAvailability?, string?) ConsumerAvailability(string path, IEnumerable<(string Key, string Value)> deviceKnobs, PlatformKnobs knobs, DriverAvailability fallback)
    {
        var availability = fallback;
        foreach (var (key, value) in deviceKnobs.Where(k => k.Key == "driver"))
        {
            var (parsed, error) = ParseAvailability(path, value, knobs);
            if (parsed is null)
            {
                return (null, error);
            }

            availability = parsed.Value;
        }

        return (availability, null);
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

    /// <summary>
    /// PCI functions the device tree describes under a host bridge (DT PCI binding), numbered the way enumeration
    /// numbers them: the kernel matches a DT node to a function by devfn alone (of_pci_find_child_device()), so the
    /// bus field of <c>reg</c> is only the firmware's guess. Buses are assigned depth first in devfn order from the
    /// host's <c>bus-range</c> start; a bridge keeps the secondary bus its <c>bus-range</c> declares when that is
    /// above every bus used so far (firmware-assigned numbers), else takes the next free one. A child is a bridge
    /// when <c>device_type</c> is "pci"/"pciex" or it has <c>iommulab,pci-bridge</c>; only bridges are descended
    /// into (an endpoint's children, e.g. an Ethernet function's MDIO bus, are not PCI functions). Kind from
    /// <c>iommulab,pci-bridge</c>, else a root port under the host bridge and a switch port below that.
    /// <c>iommulab,dma-alias-devfns</c> is the function's dma_alias_mask, <c>iommulab,xlate-root</c> the bridge flag.
    /// </summary>
    private static (List<(DtNode? Node, PciFunction Function)>? Functions, string? Error) DtPciFunctions(DtNode host, Func<DtNode, string[]> labelsOf)
    {
        var into = new List<(DtNode? Node, PciFunction Function)>();
        var maxBus = host.FindProperty("bus-range")?.GetCells() is { Length: > 0 } hostRange ? (int)(hostRange[0] & 0xff) : 0;
        var error = Walk(host, (byte)maxBus, true);
        if (error is not null)
        {
            return (null, error);
        }

        var (_, verror) = PciTopology.Validate([.. into.Select(f => f.Function)]);
        return verror is null ? (into, null) : (null, verror);

        string? Walk(DtNode parent, byte bus, bool underHost)
        {
            var seen = new HashSet<byte>();
            var children = parent.Children.Where(IsAvailable)
                .Select(c => (Node: c, Hi: PhysHi(c)))
                .Where(c => c.Hi is not null)
                .OrderBy(c => (c.Hi!.Value >> 8) & 0xff);
            foreach (var (c, hi) in children)
            {
                var devfn = (byte)((hi!.Value >> 8) & 0xff);
                if (!seen.Add(devfn))
                {
                    continue; // a second node for one devfn never matches a function
                }

                var declared = c.FindProperty("iommulab,pci-bridge")?.GetString();
                var isBridge = declared is not null || c.FindProperty("device_type")?.GetString() is "pci" or "pciex";
                PciBridgeKind? kind = null;
                byte? secondary = null;
                if (isBridge)
                {
                    kind = declared is null ? underHost ? PciBridgeKind.RootPort : PciBridgeKind.SwitchPort : PciFunction.ParseKind(declared);
                    if (kind is null)
                    {
                        return $"{c.Path}: iommulab,pci-bridge must be root-port, switch-port, pcie-to-pci, pci-to-pcie or pci-bridge";
                    }

                    var wanted = c.FindProperty("bus-range")?.GetCells() is { Length: > 0 } range ? (int)(range[0] & 0xff) : -1;
                    var next = wanted > maxBus ? wanted : maxBus + 1;
                    if (next > 0xff)
                    {
                        return $"{c.Path}: no bus number left for the bridge's secondary bus (0xff used)";
                    }

                    maxBus = next;
                    secondary = (byte)next;
                }

                var aliases = c.FindProperty("iommulab,dma-alias-devfns")?.GetCells() ?? [];
                if (aliases.Any(a => a > 0xff))
                {
                    return $"{c.Path}: iommulab,dma-alias-devfns holds devfns (0-0xff) on the function's own bus";
                }

                into.Add((c, new PciFunction(bus, devfn, kind, secondary, [.. aliases.Select(a => (byte)a)], c.FindProperty("iommulab,xlate-root") is not null, labelsOf(c).FirstOrDefault())));
                if (secondary is { } sec && Walk(c, sec, false) is { } e)
                {
                    return e;
                }
            }

            return null;
        }
    }

    /// <summary>The first <c>reg</c> cell of a PCI node (phys.hi: bus in bits 16-23, devfn in bits 8-15).</summary>
    private static uint? PhysHi(DtNode n) => n.FindProperty("reg")?.GetCells() is { Length: > 0 } reg ? reg[0] : null;

    /// <summary>
    /// Root and switch ports bind pcieport (always built in); other bridges bind no driver; endpoints get the
    /// kernel config's default.
    /// </summary>
    private static DriverAvailability PciDefaultAvailability(PciFunction f, PlatformKnobs knobs) => f.Bridge switch
    {
        PciBridgeKind.RootPort or PciBridgeKind.SwitchPort => DriverAvailability.BuiltIn,
        null => DefaultAvailability(knobs),
        _ when f.Shpc => DriverAvailability.BuiltIn,
        _ => DriverAvailability.Absent,
    };

    /// <summary>pcieport for root and switch ports, shpchp for a bridge with an SHPC capability, else the endpoint's own driver.</summary>
    private static string PciDriverName(PciFunction f, string name) => f.Bridge switch
    {
        PciBridgeKind.RootPort or PciBridgeKind.SwitchPort => "pcieport",
        not null when f.Shpc => "shpchp",
        _ => $"pci-{name}",
    };

    /// <summary>
    /// of_pci_iommu_init() over pci_for_each_dma_alias(): each alias goes through of_map_id(); an of_map_id error
    /// ends the list with that error, and "no translation" is a reference to no node (-ENODEV at of_iommu_xlate).
    /// </summary>
    /// <summary>
    /// The stream-table size assumed for an arm-smmu-v3 without a <c>num-streams</c> knob: the DT does not carry
    /// SMMU_IDR1.SIDSIZE, so, as for IORT, the hardware is taken to cover every StreamID the tree routes to it
    /// (<c>iommus</c> specifiers and <c>iommu-map</c> output ranges; at least 16 bits, at most 24). Firmware routing
    /// IDs past the real SIDSIZE fails in arm_smmu_init_sid_strtab() with -ERANGE; the knob models that.
    /// </summary>
    private static void SizeStreamTables(IommuTopology topology, DeviceTree tree, List<PlatformDevice> devices, List<IommuInstanceInfo> instances, Dictionary<DtNode, int> instanceOfNode, HashSet<int> given)
    {
        var highest = new ulong[instances.Count];
        foreach (var d in devices)
        {
            foreach (var r in d.Iommus.Refs)
            {
                if (r.Instance is { } j && r.Args.Length > 0)
                {
                    highest[j] = Math.Max(highest[j], r.Args[0]);
                }
            }
        }

        foreach (var m in topology.MapUsers)
        {
            foreach (var e in m.Reading(IommuMapLayout.FourCell).Entries)
            {
                if (e.Length > 0 && e.OutBase.Count > 0 && e.TargetPath is { } t && tree.FindByPath(t) is { } node && instanceOfNode.TryGetValue(node, out var j))
                {
                    highest[j] = Math.Max(highest[j], (ulong)e.OutBase[0] + e.Length - 1);
                }
            }
        }

        for (var j = 0; j < instances.Count; j++)
        {
            if (instances[j].Driver == IommuDriverKind.ArmSmmuV3 && !given.Contains(j))
            {
                instances[j] = instances[j] with { NumStreams = IommuInstanceInfo.StreamTableCovering(highest[j]) };
            }
        }
    }

    private static FwRefList PciRefs(IommuMapUser map, IReadOnlyList<PciDmaAlias> aliases, DeviceTree tree, Dictionary<DtNode, int> instances)
    {
        var refs = ImmutableArray.CreateBuilder<FwRef>();
        foreach (var alias in aliases)
        {
            var r = map.MapId(alias.Rid, IommuMapLayout.FourCell);
            switch (r.Outcome)
            {
                case MapIdOutcome.Translated:
                    var node = r.TargetPath is null ? null : tree.FindByPath(r.TargetPath);
                    int? instance = node is not null && instances.TryGetValue(node, out var ix) ? ix : null;
                    refs.Add(new FwRef(refs.Count, r.TargetPath!, instance, node is not null && IsAvailable(node), [.. r.Args]) { PciAlias = alias });
                    break;
                case MapIdOutcome.NoMatch:
                    refs.Add(new FwRef(refs.Count, $"(no iommu-map translation for id 0x{alias.Rid:x})", null, false, [alias.Rid]) { PciAlias = alias });
                    break;
                default:
                    return new FwRefList(refs.ToImmutable(), new Errno(-(int)(r.Errno ?? IommuLab.Firmware.Topology.Errno.EINVAL)), r.KernelLog ?? "of_map_id failed") { EndsWithError = true };
            }
        }

        return new FwRefList(refs.ToImmutable(), Errno.ENOENT, null);
    }

    /// <summary>Every node below <paramref name="parent"/>, depth first.</summary>
    private static IEnumerable<DtNode> Descendants(DtNode parent)
    {
        foreach (var c in parent.Children)
        {
            yield return c;
            foreach (var d in Descendants(c))
            {
                yield return d;
            }
        }
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
    /// <summary>A knob or <c>iommulab,*</c> number: decimal or 0x-hex, 0 to 2^31-1; null when it is not one.</summary>
    internal static int? KnobNumber(string v)
    {
        var hex = v.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
        return int.TryParse(hex ? v.AsSpan(2) : v.AsSpan(), hex ? NumberStyles.AllowHexSpecifier : NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 0
            ? n
            : null;
    }

    /// <summary>The accepted range of each numeric hardware knob (values the modelled registers can hold).</summary>
    internal static string? NumberKnobError(string path, string key, string value)
    {
        (long Min, long Max, string What)? range = key switch
        {
            "num-streams" => (1, 1 << 24, "a number of stream IDs"),
            "num-smrs" => (1, 128, "a number of stream-map entries"),
            "locked-sid" => (0, (1 << 24) - 1, "a stream ID"),
            "pgsize" => (4096, 1 << 20, "a page size in bytes (a power of two)"),
            "ias" => (12, 64, "an input address size in bits"),
            _ => null,
        };
        if (range is not { } r)
        {
            return null;
        }

        var n = KnobNumber(value);
        return n is { } x && x >= r.Min && x <= r.Max && (key != "pgsize" || int.IsPow2(x))
            ? null
            : $"{path}: {key} must be {r.What} from {r.Min} to {r.Max}, found '{value}'";
    }

    private static DartHardware DartOf(string compatible, Dictionary<string, string> props)
    {
        var hw = compatible switch
        {
            "apple,t8103-usb4-dart" => new DartHardware("t8103-usb4", 36, 32, 16384, 64, false, false, 4, []),
            "apple,t6000-dart" => new DartHardware("t6000", 42, 32, 16384, 16, true, false, 4, []),
            "apple,t8110-dart" => new DartHardware("t8110", 36, 36, 16384, 256, true, false, 1, []),
            _ => new DartHardware("t8103", 36, 32, 16384, 16, true, false, 4, []),
        };
        // Checked by NumberKnobError before the instance is built.
        static int Int(string v) => KnobNumber(v)!.Value;
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
