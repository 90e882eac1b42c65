using System.Collections.Immutable;
using System.Globalization;
using IommuLab.Firmware.Acpi;
using IommuLab.Firmware.Acpi.Iort;
using IommuLab.Firmware.Acpi.Viot;
using IommuLab.Model.Dma;

namespace IommuLab.Model.Kernel;

/// <summary>Which ACPI table describes a device's IOMMU references (acpi_iommu_configure_id() tries IORT, then VIOT).</summary>
public enum AcpiIommuTable
{
    Iort,
    Viot,
}

/// <summary>
/// How an ACPI device reaches the IOMMU configure path: the table, and the facts the kernel reads that are not a
/// reference (the root complex's ATS attribute, whether a named component or root complex exists at all).
/// </summary>
/// <param name="Table">The table its references come from.</param>
/// <param name="Node">The IORT named component or root complex (or VIOT endpoint) the kernel starts from, or a
/// description of why none was found (iort_scan_node() returned NULL: -ENODEV before any walk).</param>
/// <param name="NodeFound">False when iort_scan_node() finds no node for the device.</param>
/// <param name="RcAts">The root complex advertises ATS (iort_pci_rc_supports_ats()).</param>
/// <param name="EndNote">Why the reference list ends (the named-component loop's end, a walk that reached no SMMU).</param>
public sealed record AcpiDeviceInfo(AcpiIommuTable Table, string Node, bool NodeFound, bool RcAts, string? EndNote);

/// <summary>
/// Builds the <see cref="Platform"/> an IORT or VIOT table describes. IOMMU instances are the SMMUv1/v2 and SMMUv3
/// nodes (platform devices iort_init_platform_devices() creates before the namespace scan, drivers arm-smmu and
/// arm-smmu-v3) or the VIOT virtio-iommu nodes (a PCI function or an MMIO device, driver virtio-iommu). Named
/// components are platform devices; VIOT MMIO endpoints are virtio-mmio platform devices. PCI functions are not in
/// the tables: they come from <c>--pci [SEGMENT=]LIST</c> (docs/pci.md), else one function at the first RID of each
/// root-complex mapping (IORT) or of each PCI range (VIOT), and the platform notes say which rule was used.
/// </summary>
public static class AcpiPlatformBuilder
{
    /// <summary>Builds the platform; returns an error message for a malformed knob or <c>--pci</c> list.</summary>
    /// <param name="table">The IORT or VIOT table.</param>
    /// <param name="knobs">Kernel config and command-line knobs.</param>
    /// <param name="deviceKnobs">Per-device knobs, "DEVICE.key=value" (driver, probe-fails, num-streams).</param>
    /// <param name="pci"><c>--pci</c> device lists, "[SEGMENT=]LIST" (the same entry format as for a device tree).</param>
    public static (Platform? Platform, string? Error) Build(AcpiTable table, PlatformKnobs knobs, IReadOnlyList<string> deviceKnobs, IReadOnlyList<string>? pci = null)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(knobs);
        ArgumentNullException.ThrowIfNull(deviceKnobs);
        var (parsedKnobs, kerr) = DtPlatformBuilder.ParseDeviceKnobs(deviceKnobs);
        if (parsedKnobs is null)
        {
            return (null, kerr);
        }

        var b = new Builder(knobs, parsedKnobs);
        var error = table switch
        {
            IortTable iort => b.FromIort(iort, pci ?? []),
            ViotTable viot => b.FromViot(viot, pci ?? []),
            _ => $"{table.Source}: not an IORT or VIOT table",
        };
        if (error is not null)
        {
            return (null, error);
        }

        foreach (var (dev, _, _) in parsedKnobs)
        {
            if (!b.Devices.Any(d => b.Matches(d, dev)))
            {
                return (null, $"knob names unknown device '{dev}'");
            }
        }

        return (new Platform(table.Source, b.Devices, b.Instances, knobs, b.Notes) { Dma = DmaFirmware.None }, null);
    }

    private sealed class Builder(PlatformKnobs knobs, List<(string Device, string Key, string Value)> parsedKnobs)
    {
        public List<PlatformDevice> Devices { get; } = [];

        public List<IommuInstanceInfo> Instances { get; } = [];

        public List<string> Notes { get; } = [];

        private readonly Dictionary<int, int> _instanceOfNode = [];

        public bool Matches(PlatformDevice d, string name) =>
            d.Path == name || d.Name == name || d.Labels.Contains(name, StringComparer.Ordinal);

        private DriverAvailability DefaultAvailability => knobs.Modules ? DriverAvailability.Module : DriverAvailability.BuiltIn;

        private IEnumerable<(string Key, string Value)> KnobsOf(string path, string name, IEnumerable<string> labels) =>
            parsedKnobs.Where(k => k.Device == path || k.Device == name || labels.Contains(k.Device)).Select(k => (k.Key, k.Value));

        /// <summary>An IOMMU instance and the device its driver binds.</summary>
        private string? AddInstance(int nodeOffset, string path, string name, string label, IommuDriverKind kind, bool pci, uint? rid, int numStreams = 1 << 16)
        {
            var availability = DefaultAvailability;
            var probeFails = false;
            int? numSmrs = null;
            foreach (var (key, value) in KnobsOf(path, name, [label]))
            {
                switch (key)
                {
                    case "driver":
                        var (parsed, err) = ParseAvailability(path, value);
                        if (parsed is null)
                        {
                            return err;
                        }

                        availability = parsed.Value;
                        break;
                    case "probe-fails":
                        probeFails = value is "1" or "true";
                        break;
                    case "num-streams":
                        if (!TryParseNumber(value, out var n) || n is < 1 or > 1 << 24)
                        {
                            return $"{path}: num-streams must be a number of stream IDs";
                        }

                        numStreams = (int)n;
                        break;
                    case "num-smrs":
                        if (DtPlatformBuilder.NumberKnobError(path, key, value) is { } bad)
                        {
                            return bad;
                        }

                        numSmrs = DtPlatformBuilder.KnobNumber(value)!.Value;
                        break;
                }
            }

            var driverName = DtPlatformBuilder.DriverNameOf(kind);
            var index = Instances.Count;
            _instanceOfNode[nodeOffset] = index;
            Instances.Add(new IommuInstanceInfo(index, Devices.Count, path, label, driverName, kind, 1, availability, probeFails, numStreams, null) { NumSmrs = numSmrs });
            Devices.Add(new PlatformDevice(Devices.Count, path, name, [label], driverName, availability != DriverAvailability.Absent, index, FwRefList.Empty, rid)
            {
                DriverAvailability = availability,
                DriverName = driverName,
                Pci = pci && rid is { } r ? new PciFunction((byte)(r >> 8), (byte)(r & 0xff), null, null, [], false, label) : null,
                PciDmaAliases = pci && rid is { } r2 ? [new PciDmaAlias(r2, "own RID")] : [],
            });
            return null;
        }

        private string? AddConsumer(string path, string name, IReadOnlyList<string> labels, FwRefList refs, AcpiDeviceInfo acpi, PciFunction? f = null, IReadOnlyList<PciDmaAlias>? aliases = null)
        {
            var availability = f?.Bridge switch
            {
                PciBridgeKind.RootPort or PciBridgeKind.SwitchPort => DriverAvailability.BuiltIn,
                null => DefaultAvailability,
                _ => DriverAvailability.Absent,
            };
            foreach (var (key, value) in KnobsOf(path, name, labels).Where(k => k.Key == "driver"))
            {
                var (parsed, err) = ParseAvailability(path, value);
                if (parsed is null)
                {
                    return err;
                }

                availability = parsed.Value;
            }

            Devices.Add(new PlatformDevice(Devices.Count, path, name, labels, null, availability != DriverAvailability.Absent, null, refs, f?.Rid)
            {
                DriverAvailability = availability,
                DriverName = f?.Bridge is PciBridgeKind.RootPort or PciBridgeKind.SwitchPort ? "pcieport" : f is null ? $"acpi-{name}" : $"pci-{labels.FirstOrDefault() ?? name}",
                Pci = f,
                PciDmaAliases = aliases ?? [],
                PciRcAts = acpi.RcAts,
                Acpi = acpi,
            });
            return null;
        }

        private (DriverAvailability?, string?) ParseAvailability(string path, string value)
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
        /// The stream-table size assumed for an SMMU: IORT does not carry SMMU_IDR1.SIDSIZE, so the hardware is taken to
        /// cover every StreamID the table routes to it (at least 16 bits, at most the knob's 24-bit limit). Firmware that
        /// routes IDs beyond the real SIDSIZE fails in arm_smmu_init_sid_strtab with -ERANGE; `num-streams` models that.
        /// </summary>
        private static int StreamsRoutedTo(IortTable iort, IortNode smmu)
        {
            ulong highest = 0;
            foreach (var n in iort.Nodes)
            {
                foreach (var m in n.Mappings)
                {
                    if (m.OutputReference == (uint)smmu.Header.Offset)
                    {
                        highest = Math.Max(highest, m.Flags % 2 == 1 ? m.OutputBase : m.OutputBase + (ulong)m.IdCount);
                    }
                }
            }

            return IommuInstanceInfo.StreamTableCovering(highest);
        }

        /// <summary>SMMUs first (created at acpi_iort_init()), then named components, then each segment's PCI functions.</summary>
        public string? FromIort(IortTable iort, IReadOnlyList<string> pci)
        {
            var smmuIndex = 0;
            foreach (var node in iort.Iommus)
            {
                var (kind, what, @base) = node switch
                {
                    IortSmmuV3 v3 => (IommuDriverKind.ArmSmmuV3, "smmuv3", v3.BaseAddress),
                    IortSmmu v2 => (IommuDriverKind.ArmSmmu, "smmu", v2.BaseAddress),
                    _ => (IommuDriverKind.Generic, "iommu", 0UL),
                };
                var name = $"{what}@{@base:x}";
                if (AddInstance(node.Header.Offset, $"IORT/{name}", name, $"smmu{smmuIndex++}", kind, false, null, StreamsRoutedTo(iort, node)) is { } e)
                {
                    return e;
                }
            }

            foreach (var nc in iort.NamedComponents)
            {
                if (Devices.Any(d => d.Path == nc.ObjectName))
                {
                    continue; // iort_scan_node() finds the first named component of a name.
                }

                var r = iort.ResolveNamedComponent(nc.ObjectName);
                var refs = r.Steps.Select((s, i) => Ref(i, s.Iommu, s.StreamId, null)).ToImmutableArray();
                var end = r.End switch
                {
                    IortNcEnd.GetIdFailed => $"iort_node_get_id(index {r.EndIndex}): {r.GetIdEnd switch
                    {
                        IortGetIdEnd.NoSuchIndex => "no more mappings",
                        IortGetIdEnd.NotSingleMapping => "the mapping has no single-mapping flag",
                        _ => "ID map has NULL parent reference",
                    }}; the loop ends",
                    _ => $"mapping {r.EndIndex}: the walk reached no SMMU ({r.FailedWalk?.End}); the loop ends",
                };
                var list = new FwRefList(refs, Errno.ENODEV, end);
                var name = nc.ObjectName.TrimStart('\\');
                var acpi = new AcpiDeviceInfo(AcpiIommuTable.Iort, $"IORT named component {nc.ObjectName} @0x{nc.Header.Offset:x}", true, false, end);
                if (AddConsumer(nc.ObjectName, name, [name], list, acpi) is { } e)
                {
                    return e;
                }
            }

            var segments = iort.RootComplexes.Select(rc => rc.PciSegment).Distinct().ToList();
            var (lists, lerr) = PciLists(pci, segments);
            if (lists is null)
            {
                return lerr;
            }

            foreach (var segment in segments.Concat(lists.Keys.Where(s => !segments.Contains(s))))
            {
                var rc = iort.FindRootComplex(segment);
                PciTopology topology;
                if (lists.TryGetValue(segment, out var given))
                {
                    topology = given;
                    Notes.Add($"PCI segment {segment}: functions from --pci ({topology.Functions.Count} function(s))");
                }
                else
                {
                    var rids = rc!.Mappings.Where(m => !m.SingleMapping).Select(m => m.InputBase).Where(x => x <= 0xffff).Distinct().ToList();
                    topology = new PciTopology([.. rids.Select(x => new PciFunction((byte)(x >> 8), (byte)(x & 0xff), null, null, [], false))]);
                    Notes.Add($"PCI segment {segment}: no --pci list; one PCI function per root-complex ID mapping (its first RID): {string.Join(", ", topology.Functions.Select(f => f.Bdf))}");
                }

                foreach (var f in topology.Functions)
                {
                    var aliases = topology.DmaAliases(f);
                    var (refs, end) = rc is null ? ([], null) : IortPciRefs(iort, segment, aliases);
                    var acpi = new AcpiDeviceInfo(AcpiIommuTable.Iort,
                        rc is null ? $"no IORT root complex for PCI segment {segment}" : $"IORT root complex (segment {segment}) @0x{rc.Header.Offset:x}",
                        rc is not null, rc?.AtsSupported ?? false, end);
                    var list = rc is null ? FwRefList.Empty : new FwRefList(refs, Errno.ENOENT, null);
                    if (AddPci(segment, f, aliases, list, acpi, topology) is { } e)
                    {
                        return e;
                    }
                }
            }

            return null;
        }

        private string? AddPci(uint segment, PciFunction f, IReadOnlyList<PciDmaAlias> aliases, FwRefList list, AcpiDeviceInfo acpi, PciTopology topology)
        {
            var bdf = $"{segment:x4}:{f.Bdf}";
            IEnumerable<string> own = f.Label is { } l ? [l] : [];
            if (AddConsumer($"PCI/{bdf}", $"pci@{bdf}", [.. own.Append(bdf).Append(f.Bdf)], list, acpi, f, aliases) is { } error)
            {
                return error;
            }

            Devices[^1] = Devices[^1] with { PciHostTopology = topology };
            return null;
        }

        /// <summary>
        /// iort_pci_iommu_init() over pci_for_each_dma_alias(): each alias walked from the root complex; a walk that
        /// reaches no SMMU is iort_iommu_xlate(NULL) = -ENODEV, which ends the alias walk, so later aliases are not listed.
        /// </summary>
        private (ImmutableArray<FwRef>, string?) IortPciRefs(IortTable iort, uint segment, IReadOnlyList<PciDmaAlias> aliases)
        {
            var refs = ImmutableArray.CreateBuilder<FwRef>();
            foreach (var alias in aliases)
            {
                var res = iort.ResolvePci(segment, (ushort)alias.Rid);
                if (res.Iommu is null)
                {
                    var why = $"walk from the root complex for 0x{alias.Rid:x} reached no SMMU ({res.Walk?.End} at node @0x{res.Walk?.StoppedAt.Header.Offset:x})";
                    refs.Add(new FwRef(refs.Count, $"({why})", null, false, [alias.Rid]) { PciAlias = alias });
                    return (refs.ToImmutable(), why);
                }

                refs.Add(Ref(refs.Count, res.Iommu, res.StreamId!.Value, alias));
            }

            return (refs.ToImmutable(), null);
        }

        private FwRef Ref(int index, IortNode iommu, uint streamId, PciDmaAlias? alias)
        {
            var ix = _instanceOfNode[iommu.Header.Offset];
            return new FwRef(index, Instances[ix].Path, ix, true, [streamId]) { PciAlias = alias };
        }

        /// <summary>virtio-iommus (MMIO ones on the platform bus, PCI ones as PCI functions), MMIO endpoints, then PCI functions.</summary>
        public string? FromViot(ViotTable viot, IReadOnlyList<string> pci)
        {
            var ix = 0;
            foreach (var node in viot.Iommus)
            {
                var err = node switch
                {
                    ViotVirtioIommuMmio m => AddInstance(m.Offset, $"VIOT/virtio-iommu@{m.BaseAddress:x}", $"virtio-iommu@{m.BaseAddress:x}", $"viommu{ix}", IommuDriverKind.VirtioIommu, false, null),
                    ViotVirtioIommuPci p => AddInstance(p.Offset, $"PCI/{p.Segment:x4}:{PciFunction.Format(p.Bdf)}", $"virtio-iommu@{p.Segment:x4}:{PciFunction.Format(p.Bdf)}", $"viommu{ix}", IommuDriverKind.VirtioIommu, true, p.Bdf),
                    _ => null,
                };
                if (err is not null)
                {
                    return err;
                }

                ix++;
            }

            // A virtio-iommu PCI function runs the VIOT path too: a range covering it gives "not translating ourself".
            foreach (var p in viot.Iommus.OfType<ViotVirtioIommuPci>())
            {
                var i = Devices.FindIndex(d => d.Instance is { } n && Instances[n].Path == $"PCI/{p.Segment:x4}:{PciFunction.Format(p.Bdf)}");
                var f = Devices[i].Pci!;
                var refs = ViotPciRefs(viot, p.Segment, f, [new PciDmaAlias(p.Bdf, "own RID")]);
                Devices[i] = Devices[i] with { Iommus = refs, Acpi = new AcpiDeviceInfo(AcpiIommuTable.Viot, $"VIOT PCI ranges (segment {p.Segment})", true, false, refs.EndLog) };
            }

            foreach (var ep in viot.Nodes.OfType<ViotMmioEndpoint>())
            {
                var name = $"virtio-mmio@{ep.BaseAddress:x}";
                var refs = RefsOfMatch(viot.ResolveMmio(ep.BaseAddress), null, null);
                var acpi = new AcpiDeviceInfo(AcpiIommuTable.Viot, $"VIOT MMIO endpoint @0x{ep.Offset:x}", true, false, null);
                if (AddConsumer($"VIOT/{name}", name, [name], refs, acpi) is { } e)
                {
                    return e;
                }
            }

            var ranges = viot.Nodes.OfType<ViotPciRange>().ToList();
            var segments = ranges.Select(r => (uint)r.SegmentStart).Distinct().ToList();
            var (lists, lerr) = PciLists(pci, segments);
            if (lists is null)
            {
                return lerr;
            }

            foreach (var segment in segments.Concat(lists.Keys.Where(s => !segments.Contains(s))))
            {
                PciTopology topology;
                if (lists.TryGetValue(segment, out var given))
                {
                    topology = given;
                    Notes.Add($"PCI segment {segment}: functions from --pci ({topology.Functions.Count} function(s))");
                }
                else
                {
                    var own = Instances.Select(i => Devices[i.Device].Rid).OfType<uint>().ToHashSet();
                    var rids = ranges.Where(r => r.SegmentStart == segment).Select(r => (uint)r.BdfStart).Where(r => !own.Contains(r)).Distinct().ToList();
                    topology = new PciTopology([.. rids.Select(x => new PciFunction((byte)(x >> 8), (byte)(x & 0xff), null, null, [], false))]);
                    Notes.Add($"PCI segment {segment}: no --pci list; one PCI function per VIOT PCI range (its first BDF): {string.Join(", ", topology.Functions.Select(f => f.Bdf))}");
                }

                foreach (var f in topology.Functions)
                {
                    if (Devices.Any(d => d.Rid == f.Rid && d.Instance is not null && d.Path.StartsWith($"PCI/{segment:x4}:", StringComparison.Ordinal)))
                    {
                        continue; // The virtio-iommu function itself is already on the bus.
                    }

                    var aliases = topology.DmaAliases(f);
                    var refs = ViotPciRefs(viot, (ushort)segment, f, aliases);
                    var acpi = new AcpiDeviceInfo(AcpiIommuTable.Viot, $"VIOT PCI ranges (segment {segment})", true, false, refs.EndLog);
                    if (AddPci(segment, f, aliases, refs, acpi, topology) is { } e)
                    {
                        return e;
                    }
                }
            }

            return null;
        }

        /// <summary>
        /// viot_pci_dev_iommu_init() over pci_for_each_dma_alias(): no covering range is -ENODEV and ends the walk; a
        /// range whose virtio-iommu is this very function is -EINVAL ("not translating ourself").
        /// </summary>
        private FwRefList ViotPciRefs(ViotTable viot, ushort segment, PciFunction f, IReadOnlyList<PciDmaAlias> aliases)
        {
            var refs = ImmutableArray.CreateBuilder<FwRef>();
            foreach (var alias in aliases)
            {
                var m = viot.ResolvePci(segment, (ushort)alias.Rid);
                if (m is null)
                {
                    refs.Add(new FwRef(refs.Count, $"(no VIOT PCI range covers {segment:x4}:{PciFunction.Format(alias.Rid)})", null, false, [alias.Rid]) { PciAlias = alias });
                    break;
                }

                if (m.Iommu is ViotVirtioIommuPci p && p.Segment == segment && p.Bdf == f.Rid)
                {
                    return new FwRefList(refs.ToImmutable(), Errno.EINVAL, "viot_dev_iommu_init: the virtio-iommu itself (not translating ourself)") { EndsWithError = true };
                }

                var single = RefsOfMatch(m, alias, refs.Count);
                refs.AddRange(single.Refs);
            }

            return new FwRefList(refs.ToImmutable(), Errno.ENOENT, null);
        }

        private FwRefList RefsOfMatch(ViotEndpointMatch? m, PciDmaAlias? alias, int? index)
        {
            if (m is null || !_instanceOfNode.TryGetValue(m.Iommu.Offset, out var ix))
            {
                return new FwRefList([], Errno.ENODEV, "no VIOT endpoint matches");
            }

            return new FwRefList([new FwRef(index ?? 0, Instances[ix].Path, ix, true, [m.EndpointId]) { PciAlias = alias }], Errno.ENOENT, null);
        }

        /// <summary>"[SEGMENT=]LIST" per segment; no SEGMENT means the only segment the table describes.</summary>
        private static (Dictionary<uint, PciTopology>? Lists, string? Error) PciLists(IReadOnlyList<string> pci, List<uint> segments)
        {
            var lists = new Dictionary<uint, PciTopology>();
            foreach (var entry in pci)
            {
                var eq = entry.IndexOf('=', StringComparison.Ordinal);
                uint segment;
                if (eq > 0)
                {
                    if (!TryParseNumber(entry[..eq].Trim(), out var s) || s > 0xffff)
                    {
                        return (null, $"--pci: '{entry[..eq].Trim()}' is not a PCI segment number");
                    }

                    segment = (uint)s;
                }
                else if (segments.Count == 1)
                {
                    segment = segments[0];
                }
                else
                {
                    return (null, segments.Count == 0
                        ? "--pci: the table describes no PCI segment; name one: --pci SEGMENT=LIST"
                        : $"--pci: the table describes PCI segments {string.Join(", ", segments)}; name one: --pci SEGMENT=LIST");
                }

                var (topology, error) = PciTopology.Parse(eq > 0 ? entry[(eq + 1)..] : entry);
                if (topology is null)
                {
                    return (null, error);
                }

                if (!lists.TryAdd(segment, topology))
                {
                    return (null, $"--pci: segment {segment} is listed twice");
                }
            }

            return (lists, null);
        }

        private static bool TryParseNumber(string s, out long value) => s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? long.TryParse(s[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out value)
            : long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out value);
    }
}
