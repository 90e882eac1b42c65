using System.Collections.Immutable;
using System.Globalization;

namespace IommuLab.Model.Kernel;

/// <summary>What a PCI bridge is, as <c>pci_pcie_type()</c> and the bridge quirk flags tell pci_for_each_dma_alias().</summary>
public enum PciBridgeKind
{
    /// <summary>PCIe root port (PCI_EXP_TYPE_ROOT_PORT): adds no alias; its primary bus is the root bus.</summary>
    RootPort,

    /// <summary>PCIe switch upstream or downstream port: adds no alias, the walk goes on up.</summary>
    SwitchPort,

    /// <summary>PCIe-to-PCI/PCI-X bridge (PCI_EXP_TYPE_PCI_BRIDGE): aliases to (secondary bus, devfn 0).</summary>
    PcieToPci,

    /// <summary>PCI/PCI-X-to-PCIe bridge (PCI_EXP_TYPE_PCIE_BRIDGE): aliases to its own RID.</summary>
    PciToPcie,

    /// <summary>Conventional PCI-to-PCI bridge (no PCIe capability): aliases to its own RID.</summary>
    PciBridge,
}

/// <summary>What a non-bridge function is, as <c>pci_pcie_type()</c> (or the lack of a PCI Express capability) says.</summary>
public enum PciEndpointKind
{
    /// <summary>PCIe endpoint (PCI_EXP_TYPE_ENDPOINT).</summary>
    Endpoint,

    /// <summary>Legacy PCIe endpoint (PCI_EXP_TYPE_LEG_END).</summary>
    LegacyEndpoint,

    /// <summary>Root-complex integrated endpoint (PCI_EXP_TYPE_RC_END): a function on the root bus.</summary>
    RcIntegrated,

    /// <summary>Conventional PCI or PCI-X (no PCI Express capability): never ACS-isolated.</summary>
    Conventional,
}

/// <summary>
/// One PCI function: bus and devfn (RID = bus &lt;&lt; 8 | devfn), and, for a bridge, its kind and secondary bus.
/// <see cref="AliasDevFns"/> is the function's <c>dma_alias_mask</c> (devfns on its own bus that quirks add);
/// <see cref="XlateRoot"/> is PCI_DEV_FLAGS_BRIDGE_XLATE_ROOT (the bridge where the translation unit sits).
/// </summary>
public sealed record PciFunction(byte Bus, byte DevFn, PciBridgeKind? Bridge, byte? Secondary, ImmutableArray<byte> AliasDevFns, bool XlateRoot, string? Label = null)
{
    public uint Rid => (uint)((Bus << 8) | DevFn);

    /// <summary>The endpoint kind given explicitly (<c>--pci</c> word or harness); null: from the position (see <see cref="PciTopology.EndpointKindOf"/>).</summary>
    public PciEndpointKind? Endpoint { get; init; }

    /// <summary>The multi-function bit of the header type register (function 0; functions above 0 count as multi-function).</summary>
    public bool MultiFunctionBit { get; init; }

    /// <summary>The vendor ID, for the ACS quirks (<c>pci_dev_specific_acs_enabled()</c>); null when not known.</summary>
    public ushort? Vendor { get; init; }

    /// <summary>The ACS extended capability's capability register; null when the function has no ACS capability.</summary>
    public ushort? AcsCap { get; init; }

    /// <summary>The ACS control register as firmware left it (QEMU: 0).</summary>
    public ushort AcsCtrl { get; init; }

    /// <summary>A bridge with a Standard Hot-Plug Controller capability: the built-in shpchp driver binds it.</summary>
    public bool Shpc { get; init; }

    /// <summary><c>pdev-&gt;multifunction</c>: the header bit, or any function above 0 (pci_scan_slot() sets it).</summary>
    public bool MultiFunction => MultiFunctionBit || (DevFn & 7) != 0;

    public string Bdf => Format(Rid);

    /// <summary>"bb:dd.f" of a RID.</summary>
    public static string Format(uint rid) => $"{(rid >> 8) & 0xff:x2}:{(rid >> 3) & 0x1f:x2}.{rid & 7}";

    public static string KindName(PciBridgeKind kind) => kind switch
    {
        PciBridgeKind.RootPort => "root-port",
        PciBridgeKind.SwitchPort => "switch-port",
        PciBridgeKind.PcieToPci => "pcie-to-pci",
        PciBridgeKind.PciToPcie => "pci-to-pcie",
        _ => "pci-bridge",
    };

    public static PciBridgeKind? ParseKind(string name) => name switch
    {
        "root-port" => PciBridgeKind.RootPort,
        "switch-port" or "upstream-port" or "downstream-port" => PciBridgeKind.SwitchPort,
        "pcie-to-pci" or "pcie-to-pcix" => PciBridgeKind.PcieToPci,
        "pci-to-pcie" or "pcix-to-pcie" => PciBridgeKind.PciToPcie,
        "pci-bridge" or "pci" => PciBridgeKind.PciBridge,
        _ => null,
    };
}

/// <summary>One DMA alias as pci_for_each_dma_alias() hands it to its callback, and why it is an alias.</summary>
public readonly record struct PciDmaAlias(uint Rid, string Source)
{
    public override string ToString() => $"{PciFunction.Format(Rid)} ({Source})";
}

/// <summary>The PCI functions behind one host bridge: the bus hierarchy pci_for_each_dma_alias() walks.</summary>
public sealed class PciTopology
{
    public PciTopology(IReadOnlyList<PciFunction> functions)
    {
        ArgumentNullException.ThrowIfNull(functions);
        Functions = functions;
    }

    public IReadOnlyList<PciFunction> Functions { get; }

    /// <summary>The bridge whose secondary bus is <paramref name="bus"/> (<c>bus-&gt;self</c>); null on a root bus.</summary>
    public PciFunction? BridgeAbove(byte bus) => Functions.FirstOrDefault(f => f.Bridge is not null && f.Secondary == bus);

    /// <summary>
    /// What a non-bridge function is when not given: on a root bus a root-complex integrated endpoint; below a
    /// PCIe-to-PCI or conventional bridge a conventional PCI function; else a PCIe endpoint. Null for a bridge.
    /// </summary>
    public PciEndpointKind? EndpointKindOf(PciFunction f)
    {
        ArgumentNullException.ThrowIfNull(f);
        if (f.Bridge is not null)
        {
            return null;
        }

        if (f.Endpoint is { } given)
        {
            return given;
        }

        return BridgeAbove(f.Bus) switch
        {
            null => PciEndpointKind.RcIntegrated,
            { Bridge: PciBridgeKind.PcieToPci or PciBridgeKind.PciBridge } => PciEndpointKind.Conventional,
            _ => PciEndpointKind.Endpoint,
        };
    }

    /// <summary>The function at bus/devfn, if listed.</summary>
    public PciFunction? At(byte bus, byte devfn) => Functions.FirstOrDefault(f => f.Bus == bus && f.DevFn == devfn);

    /// <summary>
    /// Models pci_for_each_dma_alias() (drivers/pci/search.c): the function's own RID; then each devfn of its
    /// <c>dma_alias_mask</c> in ascending order on its own bus; then, walking up through the bridges until the root
    /// bus, what each bridge adds (root and switch ports nothing, a PCIe-to-PCI bridge its secondary bus with devfn 0,
    /// a PCI-to-PCIe or conventional bridge its own RID), stopping before a bridge flagged XLATE_ROOT. The caller stops
    /// at the first non-zero callback result.
    /// </summary>
    public IReadOnlyList<PciDmaAlias> DmaAliases(PciFunction f)
    {
        ArgumentNullException.ThrowIfNull(f);
        var aliases = new List<PciDmaAlias> { new(f.Rid, "own RID") };
        foreach (var devfn in f.AliasDevFns.Distinct().Order())
        {
            aliases.Add(new PciDmaAlias((uint)((f.Bus << 8) | devfn), "dma_alias_mask"));
        }

        var seen = new HashSet<byte>();
        for (var bus = f.Bus; BridgeAbove(bus) is { } bridge && seen.Add(bus); bus = bridge.Bus)
        {
            if (bridge.XlateRoot)
            {
                break;
            }

            switch (bridge.Bridge)
            {
                case PciBridgeKind.PcieToPci:
                    aliases.Add(new PciDmaAlias((uint)(bridge.Secondary!.Value << 8), $"PCIe-to-PCI bridge {bridge.Bdf}: secondary bus, devfn 0"));
                    break;
                case PciBridgeKind.PciToPcie:
                    aliases.Add(new PciDmaAlias(bridge.Rid, $"PCI-to-PCIe bridge {bridge.Bdf}"));
                    break;
                case PciBridgeKind.PciBridge:
                    aliases.Add(new PciDmaAlias(bridge.Rid, $"PCI bridge {bridge.Bdf}"));
                    break;
            }
        }

        return aliases;
    }

    /// <summary>
    /// Parses the <c>--pci</c> device list (docs/pci.md): entries separated by ';' or new lines, each
    /// "bb:dd.f [bridge] [KIND -&gt; SECONDARY] [endpoint|legacy-endpoint|rciep|conventional] [mf] [vendor VVVV]
    /// [acs CAP[/CTRL]] [shpc] [alias dd.f[,dd.f...]] [xlate-root] [label NAME]", '#' to end of line a comment.
    /// </summary>
    public static (PciTopology? Topology, string? Error) Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var functions = new List<PciFunction>();
        var lines = text.Split('\n').Select(l => l.Split('#')[0]);
        foreach (var entry in lines.SelectMany(l => l.Split(';')).Select(e => e.Trim()).Where(e => e.Length > 0))
        {
            var (f, error) = ParseEntry(entry);
            if (f is null)
            {
                return (null, $"--pci '{entry}': {error}");
            }

            if (functions.Any(o => o.Rid == f.Rid))
            {
                return (null, $"--pci: {f.Bdf} is listed twice");
            }

            functions.Add(f);
        }

        if (functions.Count == 0)
        {
            return (null, "--pci: no functions listed");
        }

        // A bare "bridge" is a root port on a root bus (no bridge above it), else a switch port: the DT default.
        var secondaries = functions.Where(f => f.Secondary is not null).Select(f => f.Secondary!.Value).ToHashSet();
        functions = [.. functions.Select(f => f.Secondary is not null && f.Bridge is null
            ? f with { Bridge = secondaries.Contains(f.Bus) ? PciBridgeKind.SwitchPort : PciBridgeKind.RootPort }
            : f)];
        return Validate(functions);
    }

    /// <summary>Checks the bus hierarchy: one bridge per secondary bus, no bridge below itself.</summary>
    public static (PciTopology? Topology, string? Error) Validate(IReadOnlyList<PciFunction> functions)
    {
        ArgumentNullException.ThrowIfNull(functions);
        foreach (var dup in functions.Where(f => f.Secondary is not null).GroupBy(f => f.Secondary).Where(g => g.Count() > 1))
        {
            return (null, $"bus {dup.Key:x2} is the secondary bus of more than one bridge ({string.Join(", ", dup.Select(f => f.Bdf))})");
        }

        var topology = new PciTopology(functions);
        foreach (var f in functions)
        {
            var seen = new HashSet<byte>();
            for (var bus = f.Bus; topology.BridgeAbove(bus) is { } b; bus = b.Bus)
            {
                if (!seen.Add(bus))
                {
                    return (null, $"bridges form a loop above {f.Bdf}");
                }
            }
        }

        return (topology, null);
    }

    private static (PciFunction? Function, string? Error) ParseEntry(string entry)
    {
        var words = entry.Replace("->", " -> ", StringComparison.Ordinal).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (!TryBdf(words[0], out var bus, out var devfn))
        {
            return (null, $"'{words[0]}' is not bb:dd.f (hex bus, device 00-1f, function 0-7)");
        }

        PciBridgeKind? kind = null;
        var bare = false;
        byte? secondary = null;
        var aliases = ImmutableArray.CreateBuilder<byte>();
        var xlateRoot = false;
        string? label = null;
        PciEndpointKind? endpoint = null;
        var multiFunction = false;
        var shpc = false;
        ushort? vendor = null;
        ushort? acsCap = null;
        ushort acsCtrl = 0;
        for (var i = 1; i < words.Length; i++)
        {
            var w = words[i];
            switch (w)
            {
                case "bridge":
                    bare = true;
                    break;
                case "->":
                    if (i + 1 >= words.Length || !byte.TryParse(words[i + 1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var sec))
                    {
                        return (null, "'->' needs a secondary bus number (hex)");
                    }

                    secondary = sec;
                    i++;
                    break;
                case "alias":
                    if (i + 1 >= words.Length)
                    {
                        return (null, "'alias' needs dd.f[,dd.f...]");
                    }

                    foreach (var a in words[++i].Split(','))
                    {
                        if (!TryDevFn(a, out var d))
                        {
                            return (null, $"alias '{a}' is not dd.f (device 00-1f, function 0-7) on the function's own bus");
                        }

                        aliases.Add(d);
                    }

                    break;
                case "xlate-root":
                    xlateRoot = true;
                    break;
                case "endpoint" or "legacy-endpoint" or "rciep" or "conventional":
                    endpoint = w switch
                    {
                        "endpoint" => PciEndpointKind.Endpoint,
                        "legacy-endpoint" => PciEndpointKind.LegacyEndpoint,
                        "rciep" => PciEndpointKind.RcIntegrated,
                        _ => PciEndpointKind.Conventional,
                    };
                    break;
                case "mf":
                    multiFunction = true;
                    break;
                case "shpc":
                    shpc = true;
                    break;
                case "vendor":
                    if (i + 1 >= words.Length || !ushort.TryParse(words[i + 1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var vid))
                    {
                        return (null, "'vendor' needs a hex vendor ID (e.g. 8086)");
                    }

                    vendor = vid;
                    i++;
                    break;
                case "acs":
                    if (i + 1 >= words.Length || !TryAcs(words[i + 1], out var cap, out var ctrl))
                    {
                        return (null, "'acs' needs CAP or CAP/CTRL (hex ACS capability and control registers)");
                    }

                    acsCap = cap;
                    acsCtrl = ctrl;
                    i++;
                    break;
                case "label":
                    if (i + 1 >= words.Length)
                    {
                        return (null, "'label' needs a name");
                    }

                    label = words[++i];
                    break;
                default:
                    if (PciFunction.ParseKind(w) is not { } k)
                    {
                        return (null, $"unknown word '{w}' (bridge kinds: root-port, switch-port, pcie-to-pci, pci-to-pcie, pci-bridge; endpoint kinds: endpoint, legacy-endpoint, rciep, conventional; alias, xlate-root, mf, shpc, vendor, acs, label)");
                    }

                    kind = k;
                    break;
            }
        }

        if ((kind is not null || bare) && secondary is null)
        {
            return (null, "a bridge needs '-> SECONDARY' (its secondary bus number)");
        }

        if (secondary is not null && kind is null && !bare)
        {
            return (null, "'->' is only for bridges: name the kind (root-port, switch-port, pcie-to-pci, pci-to-pcie, pci-bridge)");
        }

        if (secondary == bus)
        {
            return (null, "a bridge's secondary bus must differ from its own bus");
        }

        if (xlateRoot && secondary is null)
        {
            return (null, "xlate-root is a bridge flag");
        }

        if (endpoint is not null && secondary is not null)
        {
            return (null, "endpoint, legacy-endpoint, rciep and conventional are for functions that are not bridges");
        }

        if (shpc && secondary is null)
        {
            return (null, "shpc is a bridge capability");
        }

        return (new PciFunction(bus, devfn, kind, secondary, aliases.ToImmutable(), xlateRoot, label)
        {
            Endpoint = endpoint,
            MultiFunctionBit = multiFunction,
            Shpc = shpc,
            Vendor = vendor,
            AcsCap = acsCap,
            AcsCtrl = acsCtrl,
        }, null);
    }

    private static bool TryAcs(string s, out ushort cap, out ushort ctrl)
    {
        cap = 0;
        ctrl = 0;
        var parts = s.Split('/');
        return parts.Length <= 2
            && ushort.TryParse(StripHex(parts[0]), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out cap)
            && (parts.Length == 1 || ushort.TryParse(StripHex(parts[1]), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ctrl));
    }

    private static string StripHex(string s) => s.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? s[2..] : s;

    private static bool TryBdf(string s, out byte bus, out byte devfn)
    {
        bus = 0;
        devfn = 0;
        var colon = s.IndexOf(':', StringComparison.Ordinal);
        return colon > 0
            && byte.TryParse(s[..colon], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out bus)
            && TryDevFn(s[(colon + 1)..], out devfn);
    }

    private static bool TryDevFn(string s, out byte devfn)
    {
        devfn = 0;
        var dot = s.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0
            || !byte.TryParse(s[..dot], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var dev)
            || !byte.TryParse(s[(dot + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var fn)
            || dev > 0x1f || fn > 7)
        {
            return false;
        }

        devfn = (byte)((dev << 3) | fn);
        return true;
    }
}
