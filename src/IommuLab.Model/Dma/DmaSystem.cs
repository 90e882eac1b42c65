using System.Collections.Immutable;
using System.Runtime.InteropServices;
using IommuLab.Model.Drivers;
using IommuLab.Model.Hardware;
using IommuLab.Model.Kernel;
using IommuLab.Model.PageTables;

namespace IommuLab.Model.Dma;

/// <summary>A paging domain's DMA side: its io-pgtable and, once iommu-dma maps through it, the IOVA cookie.</summary>
public sealed class DomainDma(IoPageTable table, string? note)
{
    public IoPageTable Table { get; } = table;

    /// <summary>How the table came to be (e.g. built on a locked DART's bootloader TTBR).</summary>
    public string? Note { get; } = note;

    /// <summary><c>domain-&gt;iova_cookie</c>, set up by iommu_dma_init_domain() on first use.</summary>
    public DmaIovaDomain? Cookie { get; internal set; }
}

/// <summary>
/// The DMA and hardware half of one execution's kernel state (DESIGN.md "Kernel state: simulated memory"):
/// physical memory, the page-table allocator, each IOMMU instance's registers, each paging domain's page table
/// and IOVA cookie, each device's IOVA client state, and the end-to-end DMA results at quiescence. Everything is
/// created on first use, so an execution that never builds a paging domain pays only for this object.
/// </summary>
/// <remarks>
/// Memory map (RAM from 0, sparse): bootloader-owned memory [<see cref="BootloaderBase"/>, +16 MiB) holds a locked
/// DART's tables and framebuffer; page tables and stream tables come from [<see cref="TableBase"/>,
/// <see cref="TableEnd"/>); device buffers sit at <see cref="BufferBase"/> + 1 MiB per device index.
/// </remarks>
public sealed class DmaSystem
{
    public const ulong MemorySize = 1UL << 36;
    public const ulong BootloaderBase = 0x8_0000_0000;
    public const ulong BootloaderEnd = 0x8_0100_0000;
    public const ulong TableBase = 0x8_1000_0000;
    public const ulong TableEnd = 0x8_2000_0000;
    public const ulong BufferBase = 0x9_0000_0000;
    public const ulong BufferStride = 0x10_0000;

    /// <summary>The swiotlb pool (low RAM, as the kernel places it): one 4 KiB bounce slot per device index.</summary>
    public const ulong SwiotlbBase = 0x8_0400_0000;
    public const ulong SwiotlbSlotSize = 0x1000;
    public const int SwiotlbSlots = 256;

    /// <summary>Where a locked DART's bootloader maps its framebuffer (low, clear of the top-down IOVA allocator).</summary>
    public const ulong BootFramebufferIova = 0x0100_0000;
    public const ulong BootFramebufferPhys = 0x8_00F0_0000;
    public const ulong BootFramebufferSize = 0x1_0000;

    private readonly Kernel.Kernel _kernel;
    private readonly Dictionary<int, IommuHardware> _hardware = [];
    private readonly Dictionary<int, DomainDma> _domains = [];
    private readonly Dictionary<int, DmaIovaClient> _clients = [];
    private PhysicalMemory? _memory;
    private TablePageAllocator? _tables;
    private TablePageAllocator? _bootloader;
    private (int EventIndex, IReadOnlyList<DmaPathResult> Results)? _endToEnd;

    internal DmaSystem(Kernel.Kernel kernel) => _kernel = kernel;

    public PhysicalMemory Memory => _memory ??= new PhysicalMemory(MemorySize);

    /// <summary>The kernel's page allocator for io-pgtables, CD tables and stream tables.</summary>
    public TablePageAllocator Tables => _tables ??= new TablePageAllocator(Memory, TableBase, TableEnd);

    private TablePageAllocator BootloaderTables => _bootloader ??= new TablePageAllocator(Memory, BootloaderBase, BootFramebufferPhys);

    /// <summary>The paging domain's page table and cookie, or null (identity/blocked, or never finalized).</summary>
    public DomainDma? DomainOf(IommuDomain? domain) => domain is not null && _domains.TryGetValue(domain.Id, out var d) ? d : null;

    /// <summary>
    /// The register model of an instance, created at its reset state on first use: DARTs all disabled except a
    /// locked DART's bootloader streams; SMMUv3 every STE invalid; arm-smmu every S2CR faulting.
    /// </summary>
    public IommuHardware HardwareOf(IommuInstance inst)
    {
        ArgumentNullException.ThrowIfNull(inst);
        if (_hardware.TryGetValue(inst.Index, out var hw))
        {
            return hw;
        }

        hw = inst.Info.Driver switch
        {
            IommuDriverKind.AppleDart => BootDart(inst),
            IommuDriverKind.ArmSmmuV3 => new SmmuV3Hardware(Tables, inst.Info.NumStreams),
            IommuDriverKind.ArmSmmu => new ArmSmmuHardware(),
            _ => new EndpointTableHardware(),
        };
        _hardware.Add(inst.Index, hw);
        return hw;
    }

    /// <summary>A DART as the bootloader leaves it: a locked DART translates its locked streams through the bootloader's tables.</summary>
    private DartRegisters BootDart(IommuInstance inst)
    {
        var info = inst.Info.Dart!;
        var regs = new DartRegisters(inst.Name, info);
        if (!info.Locked)
        {
            return regs;
        }

        var table = IoPageTable.Allocate(regs.Layout.PgtableConfig(info), BootloaderTables, out var why)
            ?? throw new InvalidOperationException($"model bug: bootloader table for {inst.Name}: {why}");
        if (table.Map(BootFramebufferIova, BootFramebufferPhys, BootFramebufferSize, IommuProt.Read | IommuProt.Write) != IoPgtableStatus.Ok)
        {
            throw new InvalidOperationException($"model bug: bootloader framebuffer mapping on {inst.Name}");
        }

        foreach (var sid in info.LockedSids.Where(s => s < info.NumStreams))
        {
            regs.BootloaderTranslation(sid, table);
        }

        return regs;
    }

    /// <summary>
    /// The io-pgtable of an apple-dart paging domain, from slot 0's DART parameters; on a locked DART the top-level
    /// tables are read back from its TTBRs (downstream IO_PGTABLE_QUIRK_APPLE_LOCKED). Models the page-table part of
    /// apple_dart_finalize_domain() (drivers/iommu/apple-dart.c): -ENOMEM when alloc_io_pgtable_ops() fails.
    /// </summary>
    public Errno FinalizeDartDomain(IommuDomain domain)
    {
        ArgumentNullException.ThrowIfNull(domain);
        if (_domains.ContainsKey(domain.Id) || domain.DriverData is not DartDomain { Maps: { } maps } dd || maps[0].Dart is not { } first)
        {
            return Errno.Ok;
        }

        var hw = first.Info.Dart!;
        var config = DartRegisterLayout.For(hw).PgtableConfig(hw);
        string? note = null;
        if (dd.ReadsBackLockedTtbr
            && maps.FirstOrDefault(s => s.Dart?.DriverData is DartState { Locked: true }) is { } locked
            && HardwareOf(locked.Dart!) is DartRegisters regs)
        {
            var sid = locked.Sids.First();
            var ttbrs = Enumerable.Range(0, regs.Hw.TtbrsPerStream).Select(i => regs.Ttbr(sid, i)).TakeWhile(regs.Layout.Ttbr.IsValid).Select(regs.Layout.Ttbr.Decode);
            config = config with { DartLockedTables = [.. ttbrs] };
            note = $"tables read back from locked {locked.Dart!.Name} sid {sid}";
        }

        var table = IoPageTable.Allocate(config, Tables, out var why);
        if (table is null)
        {
            _kernel.Log(EventLevel.Error, null, "alloc_io_pgtable_ops", $"{domain}: {why}");
            return Errno.ENOMEM;
        }

        _domains.Add(domain.Id, new DomainDma(table, note));
        return Errno.Ok;
    }

    /// <summary>
    /// Writes the registers of DART streams for a domain attach: translate (TTBRs of the domain's table, then the
    /// TCR), bypass, or disabled. Models apple_dart_setup_translation(), apple_dart_hw_enable_bypass() and
    /// apple_dart_hw_disable_dma() (drivers/iommu/apple-dart.c).
    /// </summary>
    public void ProgramDart(IommuInstance dart, IEnumerable<int> sids, StreamMode mode, IommuDomain? domain)
    {
        ArgumentNullException.ThrowIfNull(dart);
        ArgumentNullException.ThrowIfNull(sids);
        var regs = (DartRegisters)HardwareOf(dart);
        var table = DomainOf(domain)?.Table;
        foreach (var sid in sids.Where(s => s < regs.Hw.NumStreams))
        {
            switch (mode)
            {
                case StreamMode.Bypass:
                    regs.EnableBypass(sid);
                    break;
                case StreamMode.Translate when table is not null && table.Ttbrs.Length <= regs.Hw.TtbrsPerStream:
                    regs.EnableTranslation(sid, table);
                    break;
                default:
                    regs.DisableDma(sid);
                    break;
            }
        }
    }

    /// <summary>
    /// Writes the stream state of a fwspec driver's master for a domain attach: SMMUv3 STEs (and the CD),
    /// arm-smmu SMR/S2CR (and the context bank), or virtio/generic endpoint attach. A paging domain's stage-1
    /// table is allocated on its first attach, as arm_smmu_domain_finalise() does. Models the attach_dev stream
    /// writes of drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c, arm/arm-smmu/arm-smmu.c and virtio-iommu.c.
    /// </summary>
    public Errno AttachFwspecStreams(IommuInstance inst, IReadOnlyList<uint> ids, IommuDomain domain)
    {
        ArgumentNullException.ThrowIfNull(inst);
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(domain);
        IoPageTable? table = null;
        if (domain.Type is DomainType.Dma or DomainType.Unmanaged)
        {
            table = DomainOf(domain)?.Table;
            if (table is null)
            {
                var config = IoPgtableConfig.ArmLpaeS1(SmmuPageSizes, 48, 48) with { CpuPageSize = (ulong)_kernel.Platform.Knobs.PageSize };
                table = IoPageTable.Allocate(config, Tables, out var why);
                if (table is null)
                {
                    _kernel.Log(EventLevel.Error, null, "alloc_io_pgtable_ops", $"{domain}: {why}");
                    return Errno.ENOMEM;
                }

                _domains.Add(domain.Id, new DomainDma(table, null));
            }
        }

        var hw = HardwareOf(inst);
        foreach (var id in ids)
        {
            // arm-smmu fwids carry the SMR mask above bit 16; SMMUv3 StreamIDs are 32 bits.
            var sid = hw is ArmSmmuHardware ? id & 0xffff : id;
            switch (hw)
            {
                case SmmuV3Hardware v3 when sid < (uint)v3.NumStreams:
                    if (table is not null)
                    {
                        v3.WriteTranslateSte(sid, table, (ushort)(domain.Id + 1));
                    }
                    else if (domain.Type == DomainType.Identity)
                    {
                        v3.WriteBypassSte(sid);
                    }
                    else
                    {
                        v3.WriteAbortSte(sid);
                    }

                    break;
                case ArmSmmuHardware smmu:
                    var ok = table is not null ? smmu.AttachTranslate(id, domain.Id, table)
                        : domain.Type == DomainType.Identity ? smmu.AttachBypass(id) : smmu.AttachFault(id);
                    if (!ok)
                    {
                        return NoSpace;
                    }

                    break;
                case EndpointTableHardware ep:
                    if (table is not null)
                    {
                        ep.AttachTranslate(sid, table);
                    }
                    else if (domain.Type == DomainType.Identity)
                    {
                        ep.AttachBypass(sid);
                    }
                    else
                    {
                        ep.Detach(sid);
                    }

                    break;
            }
        }

        return Errno.Ok;
    }

    /// <summary>
    /// The page sizes the model's SMMUs advertise (IDR5 GRAN4K, GRAN16K, GRAN64K with their block sizes);
    /// io-pgtable-arm keeps the granule nearest PAGE_SIZE.
    /// </summary>
    public const ulong SmmuPageSizes = 0x1000UL | 0x20_0000UL | 0x4000_0000UL | 0x4000UL | 0x200_0000UL | 0x1_0000UL | 0x2000_0000UL;

    /// <summary>-ENOSPC: arm-smmu has no free SMR or context bank.</summary>
    private static readonly Errno NoSpace = new(-28);

    /// <summary>The device's IOVA allocation state (<c>dev-&gt;iommu-&gt;pci_32bit_workaround</c>, bus limit).</summary>
    internal DmaIovaClient ClientOf(Device dev, ulong busDmaLimit)
    {
        if (!_clients.TryGetValue(dev.Index, out var c))
        {
            c = DmaIovaClient.Create(dev.Info.IsPci, busDmaLimit: busDmaLimit);
            _clients.Add(dev.Index, c);
        }

        return c;
    }

    /// <summary>The device's DMA buffer: a fixed, page-aligned 1 MiB slot per device index, 64 bytes in (so offsets matter).</summary>
    public static ulong BufferOf(Device dev)
    {
        ArgumentNullException.ThrowIfNull(dev);
        return checked(BufferBase + (ulong)dev.Index * BufferStride + 0x40);
    }

    /// <summary>The device's swiotlb bounce slot.</summary>
    public static ulong SwiotlbSlotOf(Device dev)
    {
        ArgumentNullException.ThrowIfNull(dev);
        return checked(SwiotlbBase + (ulong)(dev.Index % SwiotlbSlots) * SwiotlbSlotSize);
    }

    /// <summary>
    /// The end-to-end DMA results of every bound consumer (<see cref="DmaCheck"/>), computed once per quiescent
    /// state and reused while no kernel event happens.
    /// </summary>
    public IReadOnlyList<DmaPathResult> EndToEnd()
    {
        if (_endToEnd is { } cached && cached.EventIndex == _kernel.EventIndex)
        {
            return cached.Results;
        }

        var results = DmaCheck.Run(_kernel);
        _endToEnd = (_kernel.EventIndex, results);
        return results;
    }

    /// <summary>The instances whose registers have been touched (for register dumps).</summary>
    public IEnumerable<(IommuInstance Instance, IommuHardware Hardware)> Touched =>
        _hardware.OrderBy(h => h.Key).Select(h => (_kernel.Instances[h.Key], h.Value));

    internal static ImmutableArray<byte> Pattern(Device dev, int length)
    {
        var bytes = new byte[length];
        for (var i = 0; i < length; i++)
        {
            bytes[i] = (byte)((dev.Index * 37 + i * 11 + 0x5a) & 0xff);
        }

        return ImmutableCollectionsMarshal.AsImmutableArray(bytes);
    }
}
