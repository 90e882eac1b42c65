namespace IommuLab.Model.Kernel;

/// <summary>A named preset of switches standing for a kernel version (or a patch series on a base).</summary>
public sealed record Profile(string Name, string Kernel, IReadOnlyList<string> Commits, string Summary, KernelSwitches Switches)
{
    /// <summary>The same profile with one switch overridden by name ("Switch=value").</summary>
    public (Profile? Profile, string? Error) With(string assignment)
    {
        var (switches, error) = SwitchCatalog.Apply(Switches, assignment);
        return switches is null ? (null, error) : (this with { Switches = switches, Name = Name.EndsWith('*') ? Name : Name + "*" }, null);
    }
}

/// <summary>The profiles of spec §0.1 and §5.3.</summary>
public static class Profiles
{
    private static readonly KernelSwitches K66Switches = new()
    {
        ProbeOps = ProbeOpsSource.BusOps,
        ConfigureTakesProbeLock = false,
        SingleIommuDriver = true,
        FwspecHasOps = true,
        FwspecInitDefersFirst = false,
        ReadyCheck = ReadyCheck.None,
        ConfigureReturnsOps = true,
        ExistingFwspec = ExistingFwspecPolicy.TrustIfOps,
        ConfigureCleanup = ConfigureCleanup.None,
        Replay = ReplayPolicy.Always,
        InitDeviceParse = InitDeviceParse.Never,
        UseDefaultDomainDefers = false,
        DmaOps = DmaOpsDecision.AtConfigureIfOpsAndDmaDomain,
        LateProbeWarning = false,
        DefaultTypeCombine = DefaultTypeCombine.FirstWins,
        DefaultDomain = GlobalDomainType.Dma,
        DartMaxDarts = 2,
        DartBypass = DartBypassRule.RequireEqual,
        DartReleaseClearsPriv = true,
        AcpiReplay = true,
        FwspecDriverChecksOps = true,
    };

    public static Profile K66 { get; } = new("K66", "v6.6.0 - v6.6.4",
        ["01657bc14a39 iommu: Avoid races around device probe"],
        "Function-static probe lock only inside __iommu_probe_device(); bus ops; single IOMMU driver; fwspec with ops (NULL placeholder); NO_IOMMU.",
        K66Switches);

    public static Profile K67 { get; } = new("K67", "v6.6.5+ (stable) and v6.7.x",
        ["a2e7e59a9426 iommu: Avoid more races around device probe"],
        "K66 with the global probe lock held by of_iommu_configure() across fwspec lookup, creation and of_xlate.",
        K66Switches with { ConfigureTakesProbeLock = true });

    private static readonly KernelSwitches K68Switches = K66Switches with
    {
        ConfigureTakesProbeLock = true,
        ProbeOps = ProbeOpsSource.FwspecOps,
        SingleIommuDriver = false,
        ConfigureReturnsOps = false,
        DmaOps = DmaOpsDecision.AtConfigureIfMapped,
        DefaultTypeCombine = DefaultTypeCombine.IdentityWins,
        DartReleaseClearsPriv = false,
        FwspecDriverChecksOps = false,
    };

    public static Profile K68 { get; } = new("K68", "v6.8 (v6.9/v6.10 assumed identical)",
        ["Robin Murphy: Retire bus ops", "Jason Gunthorpe: IOMMU related FW parsing cleanup v2 (7 patches)"],
        "Ops from fwspec->ops; no single-driver restriction; of_iommu_configure() returns int; -ENODEV replaces NO_IOMMU.",
        K68Switches);

    private static readonly KernelSwitches K611Switches = K68Switches with
    {
        ProbeOps = ProbeOpsSource.FwnodeLookup,
        FwspecHasOps = false,
        FwspecInitDefersFirst = true,
        ExistingFwspec = ExistingFwspecPolicy.TrustAny,
        ConfigureCleanup = ConfigureCleanup.FreeFwspec,
        DmaOps = DmaOpsDecision.IommuCore,
        OfPciChecksAts = true,
    };

    public static Profile K611 { get; } = new("K611", "v6.11 - v6.14 (read in v6.13.7)",
        ["3f7c32091628 iommu: Resolve fwspec ops automatically", "5f937bc48a6a OF: Simplify of_iommu_configure()", "3e36c15fc1cc iommu: Remove iommu_fwspec ops"],
        "fwspec->ops removed; iommu_fwspec_init() defers before comparing (bug #1 fixed); the fwspec is freed on parse errors; DMA ops set by the IOMMU core.",
        K611Switches);

    private static readonly KernelSwitches K615Switches = K611Switches with
    {
        ConfigureCleanup = ConfigureCleanup.FreeDevIommuIfAllocated,
        Replay = ReplayPolicy.OnlyIfDevIommuAbsentOnEntry,
        InitDeviceParse = InitDeviceParse.WhenNoDriver,
        UseDefaultDomainDefers = true,
        LateProbeWarning = true,
        DartMaxDarts = 3,
        DartBypass = DartBypassRule.AllowMismatch,
        AcpiReplay = false,
        SmmuAliasedStreamNoDev = true,
    };

    public static Profile K615 { get; } = new("K615", "v6.15.0",
        ["b46064a18810 iommu: Handle race with default domain setup", "fd598f71b669 iommu: Resolve ops in iommu_init_device()", "3832862eb9c4 iommu: Keep dev->iommu state consistent", "bcb81ac6ae3c iommu: Get DT/ACPI parsing into the proper probe path", "apple-dart: MAX_DARTS_PER_DEVICE 3, mismatched bypass"],
        "Firmware parsing from iommu_init_device(); dev->iommu freed on parse errors; replay only outside iommu_init_device(); use_default_domain defers; apple-dart 3 DARTs, mismatched bypass.",
        K615Switches);

    public static Profile K616 { get; } = new("K616", "v6.16+ and v6.15.1 stable (read in v6.18.2)",
        ["0c8e9c148e29 iommu: Avoid introducing more races", "da33e87bd2bf iommu: Handle yet another race around registration"],
        "K615 plus the ready flag checked in iommu_fwspec_init() when dev->iommu is absent, and no dma_configure window when a fwspec exists.",
        K615Switches with { InitDeviceParse = InitDeviceParse.WhenNoDriverAndNoFwspec, ReadyCheck = ReadyCheck.WhenNoDevIommu, DartCheckIas = true });

    private static readonly KernelSwitches Jgg2Switches = K66Switches with
    {
        ConfigureTakesProbeLock = true,
        ProbeOps = ProbeOpsSource.FwspecOpsElseBusOps,
        ConfigureReturnsOps = false,
        ExistingFwspec = ExistingFwspecPolicy.Reparse,
        FwspecOnStack = true,
        DmaOps = DmaOpsDecision.AtConfigureIfMapped,

        // Its v6.7-rc1 base still has the drivers' ops checks; whether the series keeps them is not settled, and an
        // on-stack fwspec never leaves an ops-less fwspec in dev->iommu, so the model leaves them off (no effect).
        FwspecDriverChecksOps = false,
    };

    public static Profile Jgg2 { get; } = new("JGG2", "never merged; base v6.7-rc1 (b85ea95d0864)",
        ["0-v2-36a0088ecaa7+22c6e-iommu_fwspec_jgg@nvidia.com [PATCH v2 00/17] Solve iommu probe races around iommu_fwspec"],
        "fwspec built on the stack and installed by iommu_probe_device_fwspec(); of_xlate still runs against dev->iommu, allocated by dev_iommu_get().",
        Jgg2Switches);

    public static Profile Jgg2F1 { get; } = new("JGG2+F1", "JGG2 plus Hector's fix #1",
        ["20a7ef6d-a8ca-4bd8-ad7e-11856db617a2@marcan.st"],
        "assign_iommu defers (driver_deferred_probe_check_state) when a later IOMMU has no ops.",
        Jgg2Switches with { AssignIommuDefers = true });

    public static Profile Jgg2F1Hf2 { get; } = new("JGG2+F1+HF2", "JGG2 plus fixes #1 and #2",
        ["20a7ef6d-a8ca-4bd8-ad7e-11856db617a2@marcan.st", "1eb12c35-e64e-4c32-af99-8743dc2ec266@marcan.st"],
        "Also dev_iommu_free() when assign_iommu deferred (leaks the apple cfg).",
        Jgg2Switches with { AssignIommuDefers = true, FreeDevIommuOnDefer = true });

    public static Profile Jgg2F1Ad { get; } = new("JGG2+F1+AD", "JGG2 plus fix #1 and Jason's apple-dart check (carried in Asahi)",
        ["20a7ef6d-a8ca-4bd8-ad7e-11856db617a2@marcan.st", "20231121160058.GG6083@nvidia.com", "ab23469f-19ce-4681-afc9-65518730b51b@marcan.st"],
        "apple_dart_probe_device() returns -ENODEV without a fwspec.",
        Jgg2Switches with { AssignIommuDefers = true, DartProbeChecksFwspec = true });

    public static IReadOnlyList<Profile> All { get; } = [K66, K67, K68, K611, K615, K616, Jgg2, Jgg2F1, Jgg2F1Hf2, Jgg2F1Ad];

    public static Profile? Find(string name) =>
        All.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase));
}
