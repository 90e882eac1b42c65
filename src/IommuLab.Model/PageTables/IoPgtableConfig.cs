using System.Collections.Immutable;

namespace IommuLab.Model.PageTables;

/// <summary>The io-pgtable formats the model implements (<c>enum io_pgtable_fmt</c>, include/linux/io-pgtable.h).</summary>
public enum IoPgtableFormat
{
    /// <summary><c>ARM_64_LPAE_S1</c>: VMSAv8-64 stage 1, used by arm-smmu and arm-smmu-v3.</summary>
    ArmLpaeS1,
    /// <summary><c>APPLE_DART</c>: DART1 (t8020).</summary>
    AppleDart,
    /// <summary><c>APPLE_DART2</c>: DART2 (t6000, t8110).</summary>
    AppleDart2,
}

/// <summary>
/// What a driver passes to <c>alloc_io_pgtable_ops()</c> (<c>struct io_pgtable_cfg</c>, the inputs only). Behaviour
/// that changed between kernel versions is a named switch, never a version check.
/// </summary>
public sealed record IoPgtableConfig
{
    public required IoPgtableFormat Format { get; init; }

    /// <summary>Page and block sizes the IOMMU supports; the format may narrow it (see <see cref="IoPageTable.PgsizeBitmap"/>).</summary>
    public required ulong PgsizeBitmap { get; init; }

    /// <summary>Input (IOVA) address size in bits.</summary>
    public required int Ias { get; init; }

    /// <summary>Output (physical) address size in bits.</summary>
    public required int Oas { get; init; }

    /// <summary>The walker snoops CPU caches; io-pgtable-dart refuses to work without it.</summary>
    public bool CoherentWalk { get; init; } = true;

    /// <summary>
    /// The CPU page size: io-pgtable-arm picks its granule from <see cref="PgsizeBitmap"/> to match it
    /// (<c>arm_lpae_restrict_pgsizes()</c>).
    /// </summary>
    public ulong CpuPageSize { get; init; } = 4096;

    /// <summary>
    /// io-pgtable-dart computes its level count from ias (v6.18: up to three table levels, one TTBR for 16K pages,
    /// an IOVA above the last TTBR is refused). Off: the older fixed two levels below up to four TTBRs, and the TTBR
    /// index is masked, so an IOVA above the input range aliases a lower one.
    /// </summary>
    public bool DartVariableLevels { get; init; } = true;

    /// <summary>v6.15+: SP_DIS (bit 1) is written only in DART1 PTEs; before, DART2 PTEs got it too, where bit 1 means NO_CACHE.</summary>
    public bool DartSubpageDisableOnlyDart1 { get; init; } = true;

    /// <summary>
    /// Asahi downstream <c>IO_PGTABLE_QUIRK_APPLE_LOCKED</c>: top-level tables already in memory (read back from a
    /// locked DART's TTBRs) are used instead of new ones, and are left alone when the page table is freed.
    /// Default (empty): allocate.
    /// </summary>
    public ImmutableArray<ulong> DartLockedTables { get; init; }

    /// <summary>An APPLE_DART config as apple-dart builds it (one page size, ias and oas of the slot-0 DART).</summary>
    public static IoPgtableConfig AppleDart(ulong pageSize, int ias, int oas = 36) =>
        new() { Format = IoPgtableFormat.AppleDart, PgsizeBitmap = pageSize, Ias = ias, Oas = oas };

    /// <summary>An APPLE_DART2 config (t6000: oas 42; t8110: ias/oas from PARAMS3).</summary>
    public static IoPgtableConfig AppleDart2(ulong pageSize, int ias, int oas = 42) =>
        new() { Format = IoPgtableFormat.AppleDart2, PgsizeBitmap = pageSize, Ias = ias, Oas = oas };

    /// <summary>An ARM_64_LPAE_S1 config; <paramref name="pgsizeBitmap"/> is what the SMMU advertises.</summary>
    public static IoPgtableConfig ArmLpaeS1(ulong pgsizeBitmap, int ias, int oas) =>
        new() { Format = IoPgtableFormat.ArmLpaeS1, PgsizeBitmap = pgsizeBitmap, Ias = ias, Oas = oas };
}

/// <summary>
/// The TCR fields io-pgtable-arm computes for a stage-1 table (<c>cfg-&gt;arm_lpae_s1_cfg</c>): what an SMMU model
/// writes into a context descriptor or context bank.
/// </summary>
/// <param name="Ttbr">Physical address of the level-start table.</param>
/// <param name="Tsz">T0SZ = 64 - ias.</param>
/// <param name="Tg">TG0 encoding: 0 = 4K, 1 = 64K, 2 = 16K.</param>
/// <param name="Ips">Output size encoding: 0 = 32, 1 = 36, 2 = 40, 3 = 42, 4 = 44, 5 = 48 bits.</param>
/// <param name="Sh">Shareability of walks (3 inner, 2 outer).</param>
/// <param name="Irgn">Inner cacheability of walks (1 write-back write-allocate, 0 non-cacheable).</param>
/// <param name="Orgn">Outer cacheability of walks.</param>
/// <param name="Mair">Memory attribute indirection register value.</param>
public sealed record ArmLpaeS1Registers(ulong Ttbr, int Tsz, int Tg, int Ips, int Sh, int Irgn, int Orgn, ulong Mair);
