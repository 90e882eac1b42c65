using System.Globalization;

namespace IommuLab.Model.Kernel;

/// <summary>Where <c>__iommu_probe_device()</c> takes the driver ops from (spec §4.3).</summary>
public enum ProbeOpsSource
{
    /// <summary><c>dev->bus->iommu_ops</c>, set for every bus by the first registered driver (K66/K67).</summary>
    BusOps,

    /// <summary><c>fwspec->ops</c>, else <c>iommu_ops_from_fwnode(NULL)</c> (K68).</summary>
    FwspecOps,

    /// <summary>The caller's or the device's fwspec ops, else the bus ops (JGG2 patch 07).</summary>
    FwspecOpsElseBusOps,

    /// <summary><c>iommu_fwspec_ops()</c>: look up <c>fwspec->iommu_fwnode</c> in the instance list (K611+).</summary>
    FwnodeLookup,
}

/// <summary>What <c>of_iommu_configure()</c> does when the device already has a fwspec (spec §2.2).</summary>
public enum ExistingFwspecPolicy
{
    /// <summary>Return at once if it has ops; free it and re-parse if it is an ops==NULL placeholder (K66-K68).</summary>
    TrustIfOps,

    /// <summary>Return 0 at once for any fwspec (K611+).</summary>
    TrustAny,

    /// <summary>Always re-parse into a fresh on-stack fwspec (JGG2 patch 08).</summary>
    Reparse,
}

/// <summary>What <c>of_iommu_configure()</c> frees when the parse fails (spec §2.2, §4.6).</summary>
public enum ConfigureCleanup
{
    /// <summary>Nothing: fwspec and priv linger (K66-K68).</summary>
    None,

    /// <summary><c>iommu_fwspec_free()</c>: the fwspec only (K611).</summary>
    FreeFwspec,

    /// <summary><c>dev_iommu_free()</c> if this call allocated <c>dev->iommu</c>, else the fwspec only (K615+).</summary>
    FreeDevIommuIfAllocated,
}

/// <summary>When <c>of_iommu_configure()</c> replays <c>iommu_probe_device()</c> after a successful parse.</summary>
public enum ReplayPolicy
{
    Always,

    /// <summary>Only if <c>dev->iommu</c> was absent on entry, i.e. not inside <c>iommu_init_device()</c> (K615+).</summary>
    OnlyIfDevIommuAbsentOnEntry,
}

/// <summary>Whether <c>iommu_init_device()</c> runs the bus <c>dma_configure</c> itself (spec §2.1, §4.3).</summary>
public enum InitDeviceParse
{
    Never,

    /// <summary>When no driver is bound (v6.15.0).</summary>
    WhenNoDriver,

    /// <summary>When no driver is bound and no fwspec exists; re-validate after relocking (K616).</summary>
    WhenNoDriverAndNoFwspec,
}

/// <summary>The <c>ready</c>-flag check in <c>iommu_fwspec_init()</c> (spec §2.6).</summary>
public enum ReadyCheck
{
    None,

    /// <summary>-EPROBE_DEFER if <c>!dev->iommu &amp;&amp; !ready</c> (K616).</summary>
    WhenNoDevIommu,

    /// <summary>-EPROBE_DEFER whenever <c>!ready</c> (Tudor Ambarus's proposal, spec S-TA).</summary>
    Always,
}

/// <summary>Where the DMA-ops mode of a device is decided (spec §4.8).</summary>
public enum DmaOpsDecision
{
    /// <summary>In <c>of_dma_configure</c>, if configure returned ops and the group's domain is DMA-API (K66/K67).</summary>
    AtConfigureIfOpsAndDmaDomain,

    /// <summary>In <c>of_dma_configure</c>, if <c>device_iommu_mapped()</c> and the domain is DMA-API (K68).</summary>
    AtConfigureIfMapped,

    /// <summary>The IOMMU core sets it whenever a default domain is set up or the device joins one (≥ v6.13).</summary>
    IommuCore,
}

/// <summary>How per-device default-domain preferences of a group combine (spec §4.5).</summary>
public enum DefaultTypeCombine
{
    /// <summary>First non-zero wins; a conflict falls back to the global default (v6.6/v6.7).</summary>
    FirstWins,

    /// <summary>IDENTITY wins a conflict, otherwise the first stays (v6.8+).</summary>
    IdentityWins,
}

/// <summary>apple-dart's rule for ganged DARTs with different bypass support (spec §6.2).</summary>
public enum DartBypassRule
{
    /// <summary><c>of_xlate</c> returns -EINVAL on a mismatch (≤ v6.14).</summary>
    RequireEqual,

    /// <summary><c>cfg->supports_bypass</c> is the AND over all DARTs (v6.15+).</summary>
    AllowMismatch,
}

/// <summary>The global <c>iommu_def_domain_type</c>.</summary>
public enum GlobalDomainType
{
    /// <summary>Translated, strict (DMA).</summary>
    Dma,

    /// <summary><c>iommu.passthrough=1</c>.</summary>
    Identity,
}

/// <summary>
/// The named behaviour switches the kernel model reads. A profile is a preset of these; the model never reads a
/// profile name, so any combination can be run. Every switch is documented in <see cref="SwitchCatalog"/>.
/// </summary>
/// <remarks>
/// A copy made by <see cref="Tracking"/> records which switches the model reads (<see cref="SwitchReads"/>): an
/// exploration that read only switches on which two profiles agree took the same path under both, so a scan can
/// reuse its result for the other profile. Equality compares the switch values only.
/// </remarks>
public sealed record KernelSwitches
{
    private ProbeOpsSource _probeOps;
    private bool _configureTakesProbeLock;
    private bool _singleIommuDriver;
    private bool _fwspecHasOps;
    private bool _fwspecInitDefersFirst;
    private ReadyCheck _readyCheck;
    private bool _configureReturnsOps;
    private ExistingFwspecPolicy _existingFwspec;
    private ConfigureCleanup _configureCleanup;
    private ReplayPolicy _replay;
    private bool _fwspecOnStack;
    private bool _assignIommuDefers;
    private bool _freeDevIommuOnDefer;
    private InitDeviceParse _initDeviceParse;
    private bool _useDefaultDomainDefers;
    private DmaOpsDecision _dmaOps;
    private bool _lateProbeWarning;
    private DefaultTypeCombine _defaultTypeCombine;
    private GlobalDomainType _defaultDomain;
    private int _dartMaxDarts = 2;
    private DartBypassRule _dartBypass;
    private bool _dartCheckIas;
    private bool _dartProbeChecksFwspec;
    private bool _dartLockedSupport;
    private bool _dartReleaseClearsPriv;
    private bool _ofPciChecksAts;
    private bool _acpiReplay;
    private bool _pciAcsAtDmaConfigure;
    private bool _smmuAliasedStreamNoDev;
    private bool _fwspecDriverChecksOps;
    private SwitchReads? _reads;

    public ProbeOpsSource ProbeOps
    {
        get
        {
            Read(0);
            return _probeOps;
        }

        init => _probeOps = value;
    }

    public bool ConfigureTakesProbeLock
    {
        get
        {
            Read(1);
            return _configureTakesProbeLock;
        }

        init => _configureTakesProbeLock = value;
    }

    public bool SingleIommuDriver
    {
        get
        {
            Read(2);
            return _singleIommuDriver;
        }

        init => _singleIommuDriver = value;
    }

    public bool FwspecHasOps
    {
        get
        {
            Read(3);
            return _fwspecHasOps;
        }

        init => _fwspecHasOps = value;
    }

    public bool FwspecInitDefersFirst
    {
        get
        {
            Read(4);
            return _fwspecInitDefersFirst;
        }

        init => _fwspecInitDefersFirst = value;
    }

    public ReadyCheck ReadyCheck
    {
        get
        {
            Read(5);
            return _readyCheck;
        }

        init => _readyCheck = value;
    }

    public bool ConfigureReturnsOps
    {
        get
        {
            Read(6);
            return _configureReturnsOps;
        }

        init => _configureReturnsOps = value;
    }

    public ExistingFwspecPolicy ExistingFwspec
    {
        get
        {
            Read(7);
            return _existingFwspec;
        }

        init => _existingFwspec = value;
    }

    public ConfigureCleanup ConfigureCleanup
    {
        get
        {
            Read(8);
            return _configureCleanup;
        }

        init => _configureCleanup = value;
    }

    public ReplayPolicy Replay
    {
        get
        {
            Read(9);
            return _replay;
        }

        init => _replay = value;
    }

    public bool FwspecOnStack
    {
        get
        {
            Read(10);
            return _fwspecOnStack;
        }

        init => _fwspecOnStack = value;
    }

    public bool AssignIommuDefers
    {
        get
        {
            Read(11);
            return _assignIommuDefers;
        }

        init => _assignIommuDefers = value;
    }

    public bool FreeDevIommuOnDefer
    {
        get
        {
            Read(12);
            return _freeDevIommuOnDefer;
        }

        init => _freeDevIommuOnDefer = value;
    }

    public InitDeviceParse InitDeviceParse
    {
        get
        {
            Read(13);
            return _initDeviceParse;
        }

        init => _initDeviceParse = value;
    }

    public bool UseDefaultDomainDefers
    {
        get
        {
            Read(14);
            return _useDefaultDomainDefers;
        }

        init => _useDefaultDomainDefers = value;
    }

    public DmaOpsDecision DmaOps
    {
        get
        {
            Read(15);
            return _dmaOps;
        }

        init => _dmaOps = value;
    }

    public bool LateProbeWarning
    {
        get
        {
            Read(16);
            return _lateProbeWarning;
        }

        init => _lateProbeWarning = value;
    }

    public DefaultTypeCombine DefaultTypeCombine
    {
        get
        {
            Read(17);
            return _defaultTypeCombine;
        }

        init => _defaultTypeCombine = value;
    }

    public GlobalDomainType DefaultDomain
    {
        get
        {
            Read(18);
            return _defaultDomain;
        }

        init => _defaultDomain = value;
    }

    public int DartMaxDarts
    {
        get
        {
            Read(19);
            return _dartMaxDarts;
        }

        init => _dartMaxDarts = value;
    }

    public DartBypassRule DartBypass
    {
        get
        {
            Read(20);
            return _dartBypass;
        }

        init => _dartBypass = value;
    }

    public bool DartCheckIas
    {
        get
        {
            Read(21);
            return _dartCheckIas;
        }

        init => _dartCheckIas = value;
    }

    public bool DartProbeChecksFwspec
    {
        get
        {
            Read(22);
            return _dartProbeChecksFwspec;
        }

        init => _dartProbeChecksFwspec = value;
    }

    public bool DartLockedSupport
    {
        get
        {
            Read(23);
            return _dartLockedSupport;
        }

        init => _dartLockedSupport = value;
    }

    public bool DartReleaseClearsPriv
    {
        get
        {
            Read(24);
            return _dartReleaseClearsPriv;
        }

        init => _dartReleaseClearsPriv = value;
    }

    public bool OfPciChecksAts
    {
        get
        {
            Read(25);
            return _ofPciChecksAts;
        }

        init => _ofPciChecksAts = value;
    }

    public bool AcpiReplay
    {
        get
        {
            Read(26);
            return _acpiReplay;
        }

        init => _acpiReplay = value;
    }

    /// <summary>pci_dma_configure() calls pci_enable_acs() after of_dma_configure() (c41e2fb67e26, after v6.18).</summary>
    public bool PciAcsAtDmaConfigure
    {
        get
        {
            Read(27);
            return _pciAcsAtDmaConfigure;
        }

        init => _pciAcsAtDmaConfigure = value;
    }

    /// <summary>arm_smmu_insert_master() fails a StreamID another master owns with -ENODEV, not -EINVAL (2d00c34d665b, v6.15).</summary>
    public bool SmmuAliasedStreamNoDev
    {
        get
        {
            Read(28);
            return _smmuAliasedStreamNoDev;
        }

        init => _smmuAliasedStreamNoDev = value;
    }

    /// <summary>
    /// arm-smmu, arm-smmu-v3 and virtio-iommu probe_device return -ENODEV unless <c>fwspec->ops</c> is their own ops
    /// (v6.6/v6.7; removed in v6.8 by e7080665c977).
    /// </summary>
    public bool FwspecDriverChecksOps
    {
        get
        {
            Read(29);
            return _fwspecDriverChecksOps;
        }

        init => _fwspecDriverChecksOps = value;
    }

    /// <summary>ConfigureTakesProbeLock without recording a read (for <see cref="Kernel.ConfigureTakesProbeLock"/> only).</summary>
    internal bool ConfigureTakesProbeLockUnrecorded => _configureTakesProbeLock;

    /// <summary>How many switches there are (bit positions in <see cref="SwitchReads.Mask"/>).</summary>
    internal const int Count = 30;

    /// <summary>A copy whose reads are recorded in <paramref name="reads"/> (copies made from it with <c>with</c> record there too).</summary>
    public KernelSwitches Tracking(SwitchReads reads)
    {
        ArgumentNullException.ThrowIfNull(reads);
        var copy = this with { };
        copy._reads = reads;
        return copy;
    }

    /// <summary>Whether this and <paramref name="other"/> have equal values for every switch in <paramref name="mask"/>.</summary>
    public bool AgreesWith(KernelSwitches other, ulong mask)
    {
        ArgumentNullException.ThrowIfNull(other);
        for (var bit = 0; bit < Count; bit++)
        {
            if ((mask & (1UL << bit)) != 0 && ValueAt(bit) != other.ValueAt(bit))
            {
                return false;
            }
        }

        return true;
    }

    public bool Equals(KernelSwitches? other) => other is not null && AgreesWith(other, ulong.MaxValue);

    public override int GetHashCode()
    {
        var h = new HashCode();
        for (var bit = 0; bit < Count; bit++)
        {
            h.Add(ValueAt(bit));
        }

        return h.ToHashCode();
    }

    private void Read(int bit)
    {
        if (_reads is { } r)
        {
            r.Mask |= 1UL << bit;
        }
    }

    /// <summary>Switch number <paramref name="bit"/> as a number, without recording a read.</summary>
    private long ValueAt(int bit) => bit switch
    {
        0 => (long)_probeOps,
        1 => _configureTakesProbeLock ? 1 : 0,
        2 => _singleIommuDriver ? 1 : 0,
        3 => _fwspecHasOps ? 1 : 0,
        4 => _fwspecInitDefersFirst ? 1 : 0,
        5 => (long)_readyCheck,
        6 => _configureReturnsOps ? 1 : 0,
        7 => (long)_existingFwspec,
        8 => (long)_configureCleanup,
        9 => (long)_replay,
        10 => _fwspecOnStack ? 1 : 0,
        11 => _assignIommuDefers ? 1 : 0,
        12 => _freeDevIommuOnDefer ? 1 : 0,
        13 => (long)_initDeviceParse,
        14 => _useDefaultDomainDefers ? 1 : 0,
        15 => (long)_dmaOps,
        16 => _lateProbeWarning ? 1 : 0,
        17 => (long)_defaultTypeCombine,
        18 => (long)_defaultDomain,
        19 => _dartMaxDarts,
        20 => (long)_dartBypass,
        21 => _dartCheckIas ? 1 : 0,
        22 => _dartProbeChecksFwspec ? 1 : 0,
        23 => _dartLockedSupport ? 1 : 0,
        24 => _dartReleaseClearsPriv ? 1 : 0,
        25 => _ofPciChecksAts ? 1 : 0,
        26 => _acpiReplay ? 1 : 0,
        27 => _pciAcsAtDmaConfigure ? 1 : 0,
        28 => _smmuAliasedStreamNoDev ? 1 : 0,
        29 => _fwspecDriverChecksOps ? 1 : 0,
        _ => throw new ArgumentOutOfRangeException(nameof(bit)),
    };
}

/// <summary>The switches an exploration read (a bit per switch, in declaration order); one object per exploration.</summary>
public sealed class SwitchReads
{
    public ulong Mask { get; internal set; }
}

/// <summary>One switch: its name, documentation, allowed values and accessors.</summary>
public sealed record SwitchInfo(
    string Name,
    string Spec,
    string Doc,
    IReadOnlyList<string> Values,
    Func<KernelSwitches, string> Get,
    Func<KernelSwitches, string, KernelSwitches?> Set);

/// <summary>The catalog of every switch, in a stable order (CLI, docs, traces).</summary>
public static class SwitchCatalog
{
    public static IReadOnlyList<SwitchInfo> All { get; } =
    [
        Enum<ProbeOpsSource>(nameof(KernelSwitches.ProbeOps), "§4.3", "Where __iommu_probe_device() takes the driver ops from.", s => s.ProbeOps, (s, v) => s with { ProbeOps = v }),
        Bool(nameof(KernelSwitches.ConfigureTakesProbeLock), "§1.8, §2.2", "of_iommu_configure() holds iommu_probe_device_lock across fwspec lookup/creation and of_xlate (a2e7e59a9426); otherwise the lock is taken only inside __iommu_probe_device().", s => s.ConfigureTakesProbeLock, (s, v) => s with { ConfigureTakesProbeLock = v }),
        Bool(nameof(KernelSwitches.SingleIommuDriver), "§1.3", "iommu_device_register() fails with -EBUSY if the bus already has different iommu_ops (bus ops era).", s => s.SingleIommuDriver, (s, v) => s with { SingleIommuDriver = v }),
        Bool(nameof(KernelSwitches.FwspecHasOps), "§1.1, §2.6", "The fwspec carries an ops pointer (NULL = placeholder for an unregistered IOMMU); iommu_fwspec_init() compares ops pointers.", s => s.FwspecHasOps, (s, v) => s with { FwspecHasOps = v }),
        Bool(nameof(KernelSwitches.FwspecInitDefersFirst), "§2.6", "iommu_fwspec_init() resolves the ops itself and returns -EPROBE_DEFER before comparing with an existing fwspec (3f7c32091628; fixes bug #1).", s => s.FwspecInitDefersFirst, (s, v) => s with { FwspecInitDefersFirst = v }),
        Enum<ReadyCheck>(nameof(KernelSwitches.ReadyCheck), "§2.6, S-TA", "The readiness check in iommu_fwspec_init() (da33e87bd2bf; Always = Tudor Ambarus's 2026 proposal).", s => s.ReadyCheck, (s, v) => s with { ReadyCheck = v }),
        Bool(nameof(KernelSwitches.ConfigureReturnsOps), "§2.2, §2.9", "of_iommu_configure() returns an ops pointer and uses NO_IOMMU (=1) internally; errors are logged at debug level.", s => s.ConfigureReturnsOps, (s, v) => s with { ConfigureReturnsOps = v }),
        Enum<ExistingFwspecPolicy>(nameof(KernelSwitches.ExistingFwspec), "§2.2", "What of_iommu_configure() does with a fwspec that already exists.", s => s.ExistingFwspec, (s, v) => s with { ExistingFwspec = v }),
        Enum<ConfigureCleanup>(nameof(KernelSwitches.ConfigureCleanup), "§2.2, §4.6", "What of_iommu_configure() frees when the parse fails.", s => s.ConfigureCleanup, (s, v) => s with { ConfigureCleanup = v }),
        Enum<ReplayPolicy>(nameof(KernelSwitches.Replay), "§2.2", "When of_iommu_configure() replays iommu_probe_device() after a successful parse.", s => s.Replay, (s, v) => s with { Replay = v }),
        Bool(nameof(KernelSwitches.FwspecOnStack), "§5.3", "JGG2: of_iommu_configure() builds the fwspec on the stack (iommu_fwspec_alloc), of_xlate runs through iommu_fwspec_of_xlate(), probe through iommu_probe_device_fwspec().", s => s.FwspecOnStack, (s, v) => s with { FwspecOnStack = v }),
        Bool(nameof(KernelSwitches.AssignIommuDefers), "§5.4 (F1)", "Hector's fix #1: iommu_fwspec_assign_iommu() returns driver_deferred_probe_check_state() when a 2nd..Nth IOMMU has no ops yet.", s => s.AssignIommuDefers, (s, v) => s with { AssignIommuDefers = v }),
        Bool(nameof(KernelSwitches.FreeDevIommuOnDefer), "§5.4 (HF2)", "Hector's fix #2: iommu_fwspec_of_xlate() calls dev_iommu_free() when assign_iommu deferred.", s => s.FreeDevIommuOnDefer, (s, v) => s with { FreeDevIommuOnDefer = v }),
        Enum<InitDeviceParse>(nameof(KernelSwitches.InitDeviceParse), "§2.1, §4.3", "Whether iommu_init_device() runs the bus dma_configure (the firmware parse) itself (bcb81ac6ae3c; K616 adds the fwspec condition and re-validation).", s => s.InitDeviceParse, (s, v) => s with { InitDeviceParse = v }),
        Bool(nameof(KernelSwitches.UseDefaultDomainDefers), "§2.9", "iommu_device_use_default_domain() returns -EPROBE_DEFER while the group has no default domain (b46064a18810).", s => s.UseDefaultDomainDefers, (s, v) => s with { UseDefaultDomainDefers = v }),
        Enum<DmaOpsDecision>(nameof(KernelSwitches.DmaOps), "§4.8", "Where a device's DMA ops (direct / iommu-dma) are decided.", s => s.DmaOps, (s, v) => s with { DmaOps = v }),
        Bool(nameof(KernelSwitches.LateProbeWarning), "§4.3, I17", "__iommu_probe_device() WARNs \"late IOMMU probe at driver bind\" when the device already has a driver.", s => s.LateProbeWarning, (s, v) => s with { LateProbeWarning = v }),
        Enum<DefaultTypeCombine>(nameof(KernelSwitches.DefaultTypeCombine), "§4.5", "How iommu_get_default_domain_type() combines per-device preferences.", s => s.DefaultTypeCombine, (s, v) => s with { DefaultTypeCombine = v }),
        Enum<GlobalDomainType>(nameof(KernelSwitches.DefaultDomain), "§1.6", "iommu_def_domain_type (Identity = iommu.passthrough=1).", s => s.DefaultDomain, (s, v) => s with { DefaultDomain = v }),
        Int(nameof(KernelSwitches.DartMaxDarts), "§6.2", "apple-dart MAX_DARTS_PER_DEVICE.", s => s.DartMaxDarts, (s, v) => v is >= 1 and <= 8 ? s with { DartMaxDarts = v } : null),
        Enum<DartBypassRule>(nameof(KernelSwitches.DartBypass), "§6.2", "apple-dart of_xlate rule for DARTs with different bypass support.", s => s.DartBypass, (s, v) => s with { DartBypass = v }),
        Bool(nameof(KernelSwitches.DartCheckIas), "§6.2", "apple-dart of_xlate also requires equal ias across a gang (v6.18.2).", s => s.DartCheckIas, (s, v) => s with { DartCheckIas = v }),
        Bool(nameof(KernelSwitches.DartProbeChecksFwspec), "§5.4 (AD)", "Jason's apple-dart fix: probe_device returns -ENODEV without a fwspec, not only without a cfg.", s => s.DartProbeChecksFwspec, (s, v) => s with { DartProbeChecksFwspec = v }),
        Bool(nameof(KernelSwitches.DartLockedSupport), "§6.6", "Asahi downstream: a locked DART probes (skips reset) and its domain reads the bootloader's TTBR back; mainline fails the probe with -EINVAL.", s => s.DartLockedSupport, (s, v) => s with { DartLockedSupport = v }),
        Bool(nameof(KernelSwitches.DartReleaseClearsPriv), "§6.3", "apple-dart release_device also clears dev->iommu->priv (v6.6/v6.7).", s => s.DartReleaseClearsPriv, (s, v) => s with { DartReleaseClearsPriv = v }),
        Bool(nameof(KernelSwitches.OfPciChecksAts), "§2.2 (K611)", "of_iommu_configure() calls of_pci_check_device_ats() after the PCI alias walk: ats-supported on the host bridge sets IOMMU_FWSPEC_PCI_RC_ATS (Jean-Philippe Brucker, 20240429113938.192706-4-jean-philippe@linaro.org).", s => s.OfPciChecksAts, (s, v) => s with { OfPciChecksAts = v }),
        Bool(nameof(KernelSwitches.PciAcsAtDmaConfigure), "§4.4", "pci_dma_configure() enables ACS (pci_enable_acs()) after of_dma_configure(), so pci_request_acs() from of_iommu_configure() takes effect on DT platforms (c41e2fb67e26, after v6.18); otherwise ACS is enabled only at enumeration, before any of_iommu_configure() requested it.", s => s.PciAcsAtDmaConfigure, (s, v) => s with { PciAcsAtDmaConfigure = v }),
        Bool(nameof(KernelSwitches.SmmuAliasedStreamNoDev), "§6.10", "arm_smmu_insert_master() warns \"Aliasing StreamID ... unsupported\" and returns -ENODEV for a StreamID another master owns, which bus_iommu_probe() skips (2d00c34d665b, v6.15); before, \"stream N already in tree\" and -EINVAL.", s => s.SmmuAliasedStreamNoDev, (s, v) => s with { SmmuAliasedStreamNoDev = v }),
        Bool(nameof(KernelSwitches.FwspecDriverChecksOps), "§6.10", "arm_smmu_probe_device() (arm-smmu and arm-smmu-v3) and viommu_probe_device() return -ENODEV unless fwspec->ops is their own ops, so the placeholder fwspec (ops NULL) a deferral leaves is never probed by a registration walk (v6.6/v6.7); e7080665c977 \"iommu: Clean up open-coded ownership checks\" (v6.8) removed the checks.", s => s.FwspecDriverChecksOps, (s, v) => s with { FwspecDriverChecksOps = v }),
        Bool(nameof(KernelSwitches.AcpiReplay), "§3.1", "acpi_iommu_configure_id() replays iommu_probe_device() after a successful parse; bcb81ac6ae3c (v6.15) removed it, the parse then runs from iommu_init_device().", s => s.AcpiReplay, (s, v) => s with { AcpiReplay = v }),
    ];

    public static SwitchInfo? Find(string name) =>
        All.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>Applies "Name=value"; returns the new switches or an error message.</summary>
    public static (KernelSwitches? Switches, string? Error) Apply(KernelSwitches switches, string assignment)
    {
        ArgumentNullException.ThrowIfNull(switches);
        ArgumentNullException.ThrowIfNull(assignment);
        var eq = assignment.IndexOf('=', StringComparison.Ordinal);
        if (eq <= 0)
        {
            return (null, $"expected Switch=value, got '{assignment}'");
        }

        var name = assignment[..eq].Trim();
        var value = assignment[(eq + 1)..].Trim();
        var info = Find(name);
        if (info is null)
        {
            return (null, $"unknown switch '{name}' (see `iommulab profiles`)");
        }

        var result = info.Set(switches, value);
        return result is null
            ? (null, $"bad value '{value}' for {info.Name}; expected one of: {string.Join(", ", info.Values)}")
            : (result, null);
    }

    private static SwitchInfo Enum<T>(string name, string spec, string doc, Func<KernelSwitches, T> get, Func<KernelSwitches, T, KernelSwitches> set)
        where T : struct, System.Enum =>
        new(name, spec, doc, System.Enum.GetNames<T>(), s => get(s).ToString(), (s, v) =>
            System.Enum.TryParse<T>(v, ignoreCase: true, out var e) && System.Enum.IsDefined(e) && !int.TryParse(v, out _) ? set(s, e) : null);

    private static SwitchInfo Bool(string name, string spec, string doc, Func<KernelSwitches, bool> get, Func<KernelSwitches, bool, KernelSwitches> set) =>
        new(name, spec, doc, ["true", "false"], s => get(s) ? "true" : "false", (s, v) => v.ToLowerInvariant() switch
        {
            "true" or "1" or "on" or "yes" => set(s, true),
            "false" or "0" or "off" or "no" => set(s, false),
            _ => null,
        });

    private static SwitchInfo Int(string name, string spec, string doc, Func<KernelSwitches, int> get, Func<KernelSwitches, int, KernelSwitches?> set) =>
        new(name, spec, doc, ["an integer"], s => get(s).ToString(CultureInfo.InvariantCulture), (s, v) =>
            int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) ? set(s, i) : null);
}
