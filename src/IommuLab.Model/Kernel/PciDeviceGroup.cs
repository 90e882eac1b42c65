using IommuLab.Model.Drivers;
using IommuLab.Model.Exploration;

namespace IommuLab.Model.Kernel;

/// <summary>
/// PCI isolation (spec §4.4): ACS and the IOMMU group of a PCI function. Models pci_request_acs(),
/// pci_enable_acs()/pci_std_enable_acs(), pci_acs_enabled()/pci_acs_flags_enabled() and pci_acs_path_enabled()
/// (drivers/pci/pci.c), the ACS quirk pci_quirk_rciep_acs() (drivers/pci/quirks.c), pci_devs_are_dma_aliases()
/// (drivers/pci/search.c), and pci_device_group() with get_pci_alias_or_group(), get_pci_alias_group() and
/// get_pci_function_alias_group() (drivers/iommu/iommu.c).
/// </summary>
public sealed partial class Kernel
{
    private const ushort AcsSv = 0x01;
    private const ushort AcsRr = 0x04;
    private const ushort AcsCr = 0x08;
    private const ushort AcsUf = 0x10;
    private const ushort AcsEc = 0x20;

    /// <summary>REQ_ACS_FLAGS: source validation, request and completion redirect, upstream forwarding.</summary>
    private const ushort ReqAcsFlags = AcsSv | AcsRr | AcsCr | AcsUf;

    private const ushort IntelVendor = 0x8086;

    private Dictionary<int, ushort>? _acsCtrl;

    /// <summary><c>pci_acs_enable</c>: some IOMMU code called pci_request_acs().</summary>
    public bool PciAcsRequested { get; private set; }

    /// <summary>
    /// The ACS control register of every PCI function with an ACS capability, as the kernel leaves it at enumeration
    /// (pci_acs_init() → pci_enable_acs()): firmware's value, plus the standard bits when pci_request_acs() already ran.
    /// IORT and VIOT call pci_request_acs() at table init, before enumeration; of_iommu_configure() calls it only
    /// when a PCI function is configured, after the host bridge enumerated its functions.
    /// </summary>
    private Dictionary<int, ushort> AcsCtrl
    {
        get
        {
            if (_acsCtrl is null)
            {
                _acsCtrl = [];
                PciAcsRequested |= Platform.Devices.Any(d => d.Pci is not null && d.Acpi is not null);
                foreach (var d in Platform.Devices.Where(d => d.Pci?.AcsCap is not null))
                {
                    var f = d.Pci!;
                    _acsCtrl[d.Index] = PciAcsRequested ? StdEnableAcs(f.AcsCap!.Value, f.AcsCtrl) : f.AcsCtrl;
                }
            }

            return _acsCtrl;
        }
    }

    /// <summary>The ACS control register of a PCI function now (null: no ACS capability).</summary>
    public ushort? PciAcsControl(Device dev)
    {
        ArgumentNullException.ThrowIfNull(dev);
        return AcsCtrl.TryGetValue(dev.Index, out var ctrl) ? ctrl : null;
    }

    /// <summary>Models pci_std_enable_acs(): SV, RR, CR and UF where the capability has them (TB not modelled).</summary>
    private static ushort StdEnableAcs(ushort cap, ushort ctrl) => (ushort)(ctrl | (cap & ReqAcsFlags));

    /// <summary>
    /// The PCI side of pci_dma_configure() on a DT platform: of_iommu_configure() calls pci_request_acs() for a PCI
    /// function, and with <see cref="KernelSwitches.PciAcsAtDmaConfigure"/> pci_enable_acs() follows of_dma_configure().
    /// </summary>
    internal async KTask PciDmaConfigureAcs(Device dev)
    {
        if (dev.Info.Pci is null || dev.Info.Acpi is not null)
        {
            return;
        }

        // The ACS control register feeds other functions' pci_device_group(): an access on the function's group slot.
        if (!PciAcsRequested || (Switches.PciAcsAtDmaConfigure && dev.Info.Pci.AcsCap is not null))
        {
            await Write(ObjectKind.DevGroup, dev.Index);
        }

        if (!PciAcsRequested)
        {
            _ = AcsCtrl;
            PciAcsRequested = true;
            Log(EventLevel.Trace, dev, "of_iommu_configure", "pci_request_acs(): ACS is enabled on functions enumerated or configured from now on");
        }

        if (Switches.PciAcsAtDmaConfigure)
        {
            PciEnableAcs(dev);
        }
    }

    /// <summary>Models pci_enable_acs(): with pci_acs_enable set, the standard ACS controls the capability offers.</summary>
    private void PciEnableAcs(Device dev)
    {
        if (!PciAcsRequested || dev.Info.Pci?.AcsCap is not { } cap || !AcsCtrl.TryGetValue(dev.Index, out var ctrl))
        {
            return;
        }

        var now = StdEnableAcs(cap, ctrl);
        if (now != ctrl)
        {
            AcsCtrl[dev.Index] = now;
            Log(EventLevel.Trace, dev, "pci_enable_acs", $"ACS control 0x{ctrl:x4} -> 0x{now:x4}");
        }
    }

    /// <summary>Models pci_acs_enabled(): quirks, then the rules per PCI Express type.</summary>
    private bool PciAcsEnabled(Device dev, PciTopology topology, ushort flags)
    {
        var f = dev.Info.Pci!;
        var endpoint = topology.EndpointKindOf(f);

        // pci_quirk_rciep_acs(): Intel root-complex integrated endpoints only allow peer-to-peer on translated addresses.
        if (f.Vendor == IntelVendor && endpoint == PciEndpointKind.RcIntegrated)
        {
            return (flags & ~ReqAcsFlags) == 0;
        }

        switch (f.Bridge)
        {
            case PciBridgeKind.PciToPcie or PciBridgeKind.PcieToPci or PciBridgeKind.PciBridge:
                // PCI/PCI-X-to-PCIe and PCIe-to-PCI bridges never count; a conventional bridge is not PCIe at all.
                return false;
            case PciBridgeKind.RootPort or PciBridgeKind.SwitchPort:
                return PciAcsFlagsEnabled(dev, flags);
        }

        if (endpoint == PciEndpointKind.Conventional)
        {
            return false;
        }

        // Endpoints: ACS applies to multi-function devices only; a single function is isolated.
        return !f.MultiFunction || PciAcsFlagsEnabled(dev, flags);
    }

    /// <summary>Models pci_acs_flags_enabled(): controls missing from the capability count as hard-wired on.</summary>
    private bool PciAcsFlagsEnabled(Device dev, ushort flags)
    {
        if (dev.Info.Pci?.AcsCap is not { } cap || PciAcsControl(dev) is not { } ctrl)
        {
            return false;
        }

        flags &= (ushort)(cap | AcsEc);
        return (ctrl & flags) == flags;
    }

    /// <summary>Models pci_acs_path_enabled(start, NULL, flags): every function from start up to the root bus.</summary>
    private bool PciAcsPathEnabled(Device start, PciTopology topology, ushort flags)
    {
        var seen = new HashSet<int>();
        for (var pdev = start; seen.Add(pdev.Index);)
        {
            if (!PciAcsEnabled(pdev, topology, flags))
            {
                return false;
            }

            if (PciBridgeDevice(topology, pdev.Info.Pci!.Bus) is not { } parent)
            {
                return true;
            }

            pdev = parent;
        }

        return false;
    }

    /// <summary>The device of the bridge above a bus (<c>bus-&gt;self</c>); null on a root bus or if it is not a device.</summary>
    private Device? PciBridgeDevice(PciTopology topology, byte bus) =>
        topology.BridgeAbove(bus) is { } b ? PciDeviceAt(topology, b.Rid) : null;

    private Device? PciDeviceAt(PciTopology topology, uint rid) =>
        Devices.FirstOrDefault(d => d.Info.PciHostTopology == topology && d.Info.Pci?.Rid == rid);

    /// <summary>Models iommu_group_get(): the device's group, with a reference taken.</summary>
    private static IommuGroup? PciGroupGet(Device dev)
    {
        if (dev.Group is { Freed: false } g)
        {
            g.Refs++;
            return g;
        }

        return null;
    }

    /// <summary>
    /// Models pci_device_group() (drivers/iommu/iommu.c): join the group of the first DMA alias that has one
    /// (pci_for_each_dma_alias() with get_pci_alias_or_group(): the function itself, then each aliasing bridge);
    /// from the last function the walk reached, go up through bridges until the path to the root bus has
    /// REQ_ACS_FLAGS, joining an upstream bridge's group; then groups of functions that alias it or it aliases
    /// (get_pci_alias_group()), then of the non-isolated functions of a multi-function device
    /// (get_pci_function_alias_group()); else a new group. Returns the group with a reference held.
    /// </summary>
    internal async KTask<IommuGroup> PciDeviceGroup(Device dev, IommuDriver driver)
    {
        ArgumentNullException.ThrowIfNull(dev);
        ArgumentNullException.ThrowIfNull(driver);
        var topology = dev.Info.PciHostTopology ?? new PciTopology([dev.Info.Pci!]);

        // What the walk may read: the groups and ACS state of every function behind the same host bridge.
        foreach (var d in Devices.Where(d => d == dev || (d.Info.PciHostTopology is not null && d.Info.PciHostTopology == topology)))
        {
            await Read(ObjectKind.DevGroup, d.Index);
        }

        // pci_for_each_dma_alias(pdev, get_pci_alias_or_group): the function's RID and dma_alias_mask, then each
        // bridge that adds an alias; the walk stops at the first device that already has a group.
        var pdev = dev;
        foreach (var (visited, why) in AliasDevices(dev, topology))
        {
            pdev = visited;
            if (PciGroupGet(visited) is { } g)
            {
                Log(EventLevel.Trace, dev, "pci_device_group", $"DMA alias {why}: {visited.Info.Pci!.Bdf} is in {g}");
                return g;
            }
        }

        for (var bus = pdev.Info.Pci!.Bus; PciBridgeDevice(topology, bus) is { } self; bus = self.Info.Pci!.Bus)
        {
            if (PciAcsPathEnabled(self, topology, ReqAcsFlags))
            {
                break;
            }

            pdev = self;
            if (PciGroupGet(self) is { } g)
            {
                Log(EventLevel.Trace, dev, "pci_device_group", $"no ACS isolation at {self.Info.Pci!.Bdf}: joining its {g}");
                return g;
            }

            if (bus == self.Info.Pci!.Bus)
            {
                break;
            }
        }

        var devfns = new HashSet<byte>();
        if (GetPciAliasGroup(pdev, topology, devfns) is { } ag)
        {
            Log(EventLevel.Trace, dev, "pci_device_group", $"{pdev.Info.Pci!.Bdf} aliases a function in {ag}");
            return ag;
        }

        if (GetPciFunctionAliasGroup(pdev, topology, devfns) is { } fg)
        {
            Log(EventLevel.Trace, dev, "pci_device_group", $"multi-function device without ACS: {pdev.Info.Pci!.Bdf} joins {fg}");
            return fg;
        }

        var group = NewGroup(driver, dev);
        Log(EventLevel.Trace, dev, "pci_device_group", $"isolated from {pdev.Info.Pci!.Bdf} up: new {group}");
        return group;
    }

    /// <summary>The devices pci_for_each_dma_alias() hands to its callback, in order, with the alias each stands for.</summary>
    private IEnumerable<(Device Device, string Why)> AliasDevices(Device dev, PciTopology topology)
    {
        var f = dev.Info.Pci!;
        yield return (dev, $"{f.Bdf} (own RID)");
        foreach (var devfn in f.AliasDevFns.Distinct().Order())
        {
            yield return (dev, $"{PciFunction.Format((uint)((f.Bus << 8) | devfn))} (dma_alias_mask of {f.Bdf})");
        }

        var seen = new HashSet<byte>();
        for (var bus = f.Bus; topology.BridgeAbove(bus) is { } bridge && seen.Add(bus); bus = bridge.Bus)
        {
            if (bridge.XlateRoot)
            {
                yield break;
            }

            if (bridge.Bridge is PciBridgeKind.PcieToPci or PciBridgeKind.PciToPcie or PciBridgeKind.PciBridge
                && PciDeviceAt(topology, bridge.Rid) is { } b)
            {
                yield return (b, $"through bridge {bridge.Bdf}");
            }
        }
    }

    /// <summary>
    /// Whether a virtio-iommu device manages endpoint <paramref name="id"/>: the ID that the last DMA alias of some PCI
    /// function maps to (the requester ID its DMA carries at the root complex; QEMU keys its address spaces the same way).
    /// </summary>
    internal bool VirtioManagesEndpoint(IommuInstance inst, uint id)
    {
        ArgumentNullException.ThrowIfNull(inst);
        foreach (var d in Platform.Devices.Where(d => d.Pci is not null && d.PciDmaAliases.Count > 0))
        {
            var emitted = d.PciDmaAliases[^1];
            if (d.Iommus.Refs.Any(r => r.Instance == inst.Index && r.PciAlias == emitted && r.Args.Length > 0 && r.Args[0] == id))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Models pci_devs_are_dma_aliases(): either function's dma_alias_mask holds the other's devfn.</summary>
    private static bool PciDevsAreDmaAliases(PciFunction a, PciFunction b) =>
        a.AliasDevFns.Contains(b.DevFn) || b.AliasDevFns.Contains(a.DevFn);

    /// <summary>The added functions on the same bus of the same host bridge, in bus order (for_each_pci_dev()).</summary>
    private IEnumerable<Device> SameBus(Device pdev, PciTopology topology) =>
        PciBus.Where(t => t != pdev && t.Info.PciHostTopology == topology && t.Info.Pci?.Bus == pdev.Info.Pci!.Bus);

    /// <summary>Models get_pci_alias_group(): the function's group, else that of a function it aliases or that aliases it.</summary>
    private IommuGroup? GetPciAliasGroup(Device pdev, PciTopology topology, HashSet<byte> devfns)
    {
        // The kernel's bitmap is indexed by devfn alone.
        if (!devfns.Add(pdev.Info.Pci!.DevFn))
        {
            return null;
        }

        if (PciGroupGet(pdev) is { } g)
        {
            return g;
        }

        foreach (var tmp in SameBus(pdev, topology).ToList())
        {
            if (!PciDevsAreDmaAliases(pdev.Info.Pci, tmp.Info.Pci!))
            {
                continue;
            }

            if (GetPciAliasGroup(tmp, topology, devfns) is { } ag)
            {
                return ag;
            }

            if (GetPciFunctionAliasGroup(tmp, topology, devfns) is { } fg)
            {
                return fg;
            }
        }

        return null;
    }

    /// <summary>Models get_pci_function_alias_group(): for a multi-function device without ACS, the groups of its other non-isolated functions.</summary>
    private IommuGroup? GetPciFunctionAliasGroup(Device pdev, PciTopology topology, HashSet<byte> devfns)
    {
        var f = pdev.Info.Pci!;
        if (!f.MultiFunction || PciAcsEnabled(pdev, topology, ReqAcsFlags))
        {
            return null;
        }

        foreach (var tmp in SameBus(pdev, topology).ToList())
        {
            if ((tmp.Info.Pci!.DevFn >> 3) != (f.DevFn >> 3) || PciAcsEnabled(tmp, topology, ReqAcsFlags))
            {
                continue;
            }

            if (GetPciAliasGroup(tmp, topology, devfns) is { } g)
            {
                return g;
            }
        }

        return null;
    }
}
