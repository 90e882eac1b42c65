using IommuLab.Model.Dma;
using IommuLab.Model.Hardware;
using IommuLab.Model.Kernel;
using IommuLab.Model.PageTables;
using IommuLab.Tests.Kernel;

namespace IommuLab.Tests.Dma;

/// <summary>End-to-end DMA after quiescence (issue 5): what the display (or USB) really does through its IOMMUs.</summary>
public sealed class DmaEndToEndTests
{
    private const string S1 = "REG(dwc3_0_dart_0) PROBE(usb_drd0) REG(dwc3_0_dart_1)";

    private static DmaPathResult Path(RunResult r, string device, string iommu) =>
        r.Execution.Kernel.Dma.EndToEnd().Single(p => p.Device == device && p.Iommu == iommu);

    /// <summary>K66-K68: bound with direct DMA (bug #1), later translated by DART A only; DART B never enabled.</summary>
    [Theory]
    [InlineData("K66")]
    [InlineData("K67")]
    [InlineData("K68")]
    public void S1_direct_dma_faults_on_the_translating_first_dart_and_the_second_dart_is_disabled(string profile)
    {
        var r = KernelRun.Run("usb-two-darts.dts", profile, S1);
        var a = Path(r, "usb_drd0", "dwc3_0_dart_0");
        Assert.Equal(DmaMode.Direct, a.Mode);
        Assert.Equal(DmaOutcomeKind.Fault, a.Kind);
        Assert.Equal(WalkFaultKind.Translation, a.Fault);
        Assert.Equal(DmaSystem.BufferOf(r.Execution.Kernel.Devices.Single(d => d.Name == "usb_drd0")), a.BusAddress);
        Assert.Contains("the device issues physical addresses (direct DMA) but the stream translates", a.Detail, StringComparison.Ordinal);

        var b = Path(r, "usb_drd0", "dwc3_0_dart_1");
        Assert.Equal(DmaOutcomeKind.Fault, b.Kind);
        Assert.Equal(WalkFaultKind.StreamDisabled, b.Fault);
        Assert.Equal("usb_drd0: DMA through dwc3_0_dart_1 sid 1 faults: stream disabled (translation never enabled)", b.Describe());
        Assert.True(r.DmaViolated("usb_drd0"));
    }

    /// <summary>JGG2+F1 (bug #2): iommu-dma through DART A reaches the buffer; DART B's stream was never enabled.</summary>
    [Fact]
    public void S1_with_fix1_reaches_the_buffer_through_the_first_dart_and_faults_on_the_second()
    {
        var r = KernelRun.Run("usb-two-darts.dts", "JGG2+F1", S1);
        var a = Path(r, "usb_drd0", "dwc3_0_dart_0");
        Assert.Equal(DmaOutcomeKind.Reached, a.Kind);
        Assert.Equal(DmaMode.IommuDma, a.Mode);
        Assert.Equal(a.BufferAddress, a.PhysicalAddress);
        Assert.NotEqual(a.BufferAddress, a.BusAddress);
        var b = Path(r, "usb_drd0", "dwc3_0_dart_1");
        Assert.Equal(WalkFaultKind.StreamDisabled, b.Fault);
        Assert.Equal(b.BusAddress, a.BusAddress);
        var v = r.Violations.Single(x => x.Invariant == "IDMA");
        Assert.Equal([b.Describe()], v.Facts);
    }

    /// <summary>K611+ and the Asahi fix: the device waits for both DARTs and one IOVA reaches the buffer through both.</summary>
    [Theory]
    [InlineData("K611")]
    [InlineData("K615")]
    [InlineData("K616")]
    [InlineData("JGG2+F1+AD")]
    public void S1_from_k611_reaches_the_buffer_through_both_darts_with_one_iova(string profile)
    {
        var r = KernelRun.Run("usb-two-darts.dts", profile, S1);
        var a = Path(r, "usb_drd0", "dwc3_0_dart_0");
        var b = Path(r, "usb_drd0", "dwc3_0_dart_1");
        Assert.Equal(DmaOutcomeKind.Reached, a.Kind);
        Assert.Equal(DmaOutcomeKind.Reached, b.Kind);
        Assert.Equal(a.BusAddress, b.BusAddress);
        Assert.True(a.BusAddress < 1UL << 32, "the DART aperture is [0, 2^ias - 1] with ias 32");
        Assert.False(r.DmaViolated("usb_drd0"));
    }

    /// <summary>Both DARTs point at the same tables: their TTBR registers hold the domain table's encoded address.</summary>
    [Fact]
    public void A_ganged_paging_domain_writes_the_same_encoded_ttbr_into_every_dart_stream()
    {
        var r = KernelRun.Run("usb-two-darts.dts", "K616", S1);
        var k = r.Execution.Kernel;
        var dev = k.Devices.Single(d => d.Name == "usb_drd0");
        var table = k.Dma.DomainOf(dev.Group!.Domain)!.Table;
        var a = (DartRegisters)k.Dma.HardwareOf(k.Instances.Single(i => i.Name == "dwc3_0_dart_0"));
        var b = (DartRegisters)k.Dma.HardwareOf(k.Instances.Single(i => i.Name == "dwc3_0_dart_1"));
        var expected = DartTtbrEncoding.T8020.Encode(table.Ttbrs[0]);
        Assert.Equal(expected, a.Ttbr(0, 0));
        Assert.Equal(expected, b.Ttbr(1, 0));
        Assert.Equal(0u, b.Ttbr(1, 1));
        Assert.Equal(1U << 7, a.Tcr(0));
        Assert.Equal(0u, b.Tcr(0));
    }

    /// <summary>The check maps and unmaps: it leaves no mapping, no IOVA and no buffer bytes behind, and repeats identically.</summary>
    [Fact]
    public void The_check_restores_mappings_and_memory_and_gives_the_same_answer_twice()
    {
        var r = KernelRun.Run("usb-two-darts.dts", "K616", S1);
        var k = r.Execution.Kernel;
        var first = DmaCheck.Run(k);
        var dev = k.Devices.Single(d => d.Name == "usb_drd0");
        var dd = k.Dma.DomainOf(dev.Group!.Domain)!;
        Assert.Equal(0UL, dd.Table.IovaToPhys(first[0].BusAddress));
        Span<byte> bytes = stackalloc byte[DmaCheck.PatternLength];
        Assert.True(k.Dma.Memory.TryRead(first[0].BufferAddress, bytes));
        Assert.True(bytes.IndexOfAnyExcept((byte)0) < 0);
        Assert.Equal(first.Select(p => p.Describe()), DmaCheck.Run(k).Select(p => p.Describe()));
    }

    /// <summary>Mainline with a locked disp0_dart: probe fails, the display binds with direct DMA and the bootloader's tables fault it.</summary>
    [Theory]
    [InlineData("K68")]
    [InlineData("K616")]
    public void Locked_display_dart_on_mainline_faults_the_display_through_the_bootloader_tables(string profile)
    {
        var r = KernelRun.Run("display-locked-dart.dts", profile, "REG(disp0_dart) REG(dispext0_dart) PROBE(display) TIMEOUT");
        var disp0 = Path(r, "display", "disp0_dart");
        Assert.Equal(DmaMode.Direct, disp0.Mode);
        Assert.Equal(WalkFaultKind.Translation, disp0.Fault);
        Assert.StartsWith("bootloader tables", disp0.Detail, StringComparison.Ordinal);
        var ext = Path(r, "display", "dispext0_dart");
        Assert.Equal("display: DMA through dispext0_dart sid 0 faults: stream disabled (translation never enabled)", ext.Describe());
        Assert.True(r.DmaViolated("display"));
    }

    /// <summary>Asahi downstream: the domain is built on the TTBR read back from the locked DART; the second DART gets the same tables.</summary>
    [Fact]
    public void Locked_display_dart_downstream_builds_the_domain_on_the_bootloader_tables_and_both_darts_reach_the_buffer()
    {
        var r = KernelRun.Run("display-locked-dart.dts", "K616", "REG(disp0_dart) REG(dispext0_dart) PROBE(display)", sets: ["DartLockedSupport=true"]);
        var k = r.Execution.Kernel;
        Assert.Equal(DmaOutcomeKind.Reached, Path(r, "display", "disp0_dart").Kind);
        Assert.Equal(DmaOutcomeKind.Reached, Path(r, "display", "dispext0_dart").Kind);
        var dev = k.Devices.Single(d => d.Name == "display");
        var dd = k.Dma.DomainOf(dev.Group!.Domain)!;
        Assert.InRange(dd.Table.Ttbrs[0], DmaSystem.BootloaderBase, DmaSystem.BootloaderEnd - 1);
        Assert.Equal(DmaSystem.BootFramebufferPhys, dd.Table.IovaToPhys(DmaSystem.BootFramebufferIova));
        var ext = (DartRegisters)k.Dma.HardwareOf(k.Instances.Single(i => i.Name == "dispext0_dart"));
        var locked = (DartRegisters)k.Dma.HardwareOf(k.Instances.Single(i => i.Name == "disp0_dart"));
        Assert.Equal(locked.Ttbr(0, 0), ext.Ttbr(0, 0));
        Assert.False(r.DmaViolated("display"));
    }

    /// <summary>SMMUv3: STE (S1 translate) -> CD -> TTB0 of the domain's LPAE table; a master sharing a SID faults through it.</summary>
    [Fact]
    public void Smmu_v3_translates_through_ste_and_cd_and_the_clashing_master_faults_through_the_owners_stream()
    {
        var r = KernelRun.Run("smmu-v3.dts", "K611", "REG(smmu) PROBE(dma0) PROBE(dup) PROBE(clash)");
        var k = r.Execution.Kernel;
        var paths = k.Dma.EndToEnd().Where(p => p.Device == "dma0").ToList();
        Assert.Equal([16u, 17u], paths.Select(p => p.Stream!.Value));
        Assert.All(paths, p => Assert.Equal(DmaOutcomeKind.Reached, p.Kind));
        Assert.True(paths[0].BusAddress > 1UL << 32, "a platform device's IOVA comes from the top of the 48-bit aperture");

        var smmu = (SmmuV3Hardware)k.Dma.HardwareOf(k.Instances.Single(i => i.Name == "smmu"));
        var ste = smmu.SteWord0(16);
        Assert.Equal(1UL, ste & 1);
        Assert.Equal(0b101UL, (ste >> 1) & 7);
        var cd = ste & 0x000F_FFFF_FFFF_FFC0UL;
        var table = k.Dma.DomainOf(k.Devices.Single(d => d.Name == "dma0").Group!.Domain)!.Table;
        Assert.Equal(table.LpaeRegisters!.Ttbr, k.Dma.Memory.ReadU64(cd + 8));
        Assert.Equal(1UL, (k.Dma.Memory.ReadU64(cd) >> 31) & 1);

        var clash = k.Dma.EndToEnd().Single(p => p.Device == "clash");
        Assert.Equal(DmaMode.Direct, clash.Mode);
        Assert.Equal(WalkFaultKind.Translation, clash.Fault);
        Assert.True(r.DmaViolated("clash"));
        Assert.False(r.DmaViolated("dma0"));
    }

    /// <summary>A 16K-page DART under a 4K kernel can only bypass (identity domain): bypass TCR, the physical address gets through.</summary>
    [Fact]
    public void Identity_domain_writes_the_bypass_tcr_and_direct_dma_bypasses_translation()
    {
        var r = KernelRun.Run("usb-two-darts.dts", "K616", S1, platformKnobs: new PlatformKnobs { PageSize = 4096 });
        var k = r.Execution.Kernel;
        var a = Path(r, "usb_drd0", "dwc3_0_dart_0");
        Assert.Equal(DmaOutcomeKind.Bypassed, a.Kind);
        Assert.Equal(DmaMode.Direct, a.Mode);
        Assert.Equal(a.BufferAddress, a.BusAddress);
        Assert.Equal(DmaOutcomeKind.Bypassed, Path(r, "usb_drd0", "dwc3_0_dart_1").Kind);
        var regs = (DartRegisters)k.Dma.HardwareOf(k.Instances.Single(i => i.Name == "dwc3_0_dart_0"));
        Assert.Equal((1U << 8) | (1U << 12), regs.Tcr(0));
        Assert.False(r.DmaViolated("usb_drd0"));
    }

    /// <summary>iommu.passthrough=1 on an SMMUv3: bypass STEs.</summary>
    [Fact]
    public void Identity_default_domain_on_smmu_v3_writes_bypass_stes()
    {
        var r = KernelRun.Run("smmu-v3.dts", "K611", "REG(smmu) PROBE(dma0)", sets: ["DefaultDomain=Identity"]);
        var k = r.Execution.Kernel;
        var smmu = (SmmuV3Hardware)k.Dma.HardwareOf(k.Instances.Single(i => i.Name == "smmu"));
        Assert.Equal(0b100UL, (smmu.SteWord0(16) >> 1) & 7);
        Assert.All(k.Dma.EndToEnd().Where(p => p.Device == "dma0"), p => Assert.Equal(DmaOutcomeKind.Bypassed, p.Kind));
    }

    /// <summary>No IOMMU reference in F(D): dma-direct through dma-ranges, bounced through swiotlb when the window misses the buffer.</summary>
    [Fact]
    public void Devices_without_an_iommu_reference_do_direct_dma_through_dma_ranges()
    {
        var r = KernelRun.Run("dma-ranges.dts", "K616", "REG(gpu_dart) PROBE(gpu) PROBE(cam) PROBE(audio) PROBE(engine)");
        var k = r.Execution.Kernel;
        var cam = k.Dma.EndToEnd().Single(p => p.Device == "cam");
        Assert.Null(cam.Iommu);
        Assert.Equal(DmaOutcomeKind.Reached, cam.Kind);
        Assert.Equal(cam.BufferAddress - 0x9_0000_0000, cam.BusAddress);
        var audio = k.Dma.EndToEnd().Single(p => p.Device == "audio");
        Assert.Equal(DmaOutcomeKind.Reached, audio.Kind);
        Assert.Equal(DmaSystem.SwiotlbSlotOf(k.Devices.Single(d => d.Name == "audio")), audio.BufferAddress);
        Assert.Equal(audio.BufferAddress - 0x8_0000_0000 + 0x4000_0000, audio.BusAddress);
        Assert.Equal(DmaOutcomeKind.Reached, k.Dma.EndToEnd().Single(p => p.Device == "gpu").Kind);

        var engine = DmaCheck.RunDevice(k, k.Devices.Single(d => d.Name == "engine")).Single();
        Assert.Equal(DmaOutcomeKind.Reached, engine.Kind);
        Assert.Equal("", r.Violated());
        Assert.DoesNotContain(r.Violations, v => v.Invariant == "IDMA");
    }

    /// <summary>of_dma_get_range(): the windows, and the interconnect mapping bus addresses back to CPU addresses.</summary>
    [Fact]
    public void Dma_ranges_windows_are_read_from_the_nearest_ancestor_with_non_empty_dma_ranges()
    {
        var platform = KernelRun.Platform("dma-ranges.dts");
        Assert.Equal([new DmaWindow(0x9_0000_0000, 0, 1UL << 32)], platform.Dma.WindowsOf(platform.Resolve("cam")!).ToArray());
        Assert.Equal([new DmaWindow(0x8_0000_0000, 0x4000_0000, 0x4000_0000)], platform.Dma.WindowsOf(platform.Resolve("audio")!).ToArray());
        Assert.Empty(KernelRun.Platform("usb-two-darts.dts").Dma.WindowsOf(KernelRun.Platform("usb-two-darts.dts").Resolve("usb_drd0")!));
        Assert.Equal(0x9_0000_1000UL, DmaFirmware.DmaToPhys([new DmaWindow(0x9_0000_0000, 0, 0x10000)], 0x1000));
        Assert.Null(DmaFirmware.DmaToPhys([new DmaWindow(0x9_0000_0000, 0, 0x10000)], 0x10000));
    }

    [Fact]
    public void Idma_is_registered_with_the_invariants_the_explorer_runs()
    {
        Assert.Contains(IommuLab.Model.Exploration.Invariants.All, i => i.Id == "IDMA");
        var r = KernelRun.Run("usb-two-darts.dts", "K68", S1);
        var v = r.Violations.Single(x => x.Invariant == "IDMA");
        Assert.Equal("/soc/usb@382280000", v.Device);
        Assert.Equal(2, v.Facts.Count);
    }
}
