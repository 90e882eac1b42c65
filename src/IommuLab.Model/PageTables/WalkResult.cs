namespace IommuLab.Model.PageTables;

/// <summary>Why a device access did not translate.</summary>
public enum WalkFaultKind
{
    None = 0,
    /// <summary>An entry on the walk is not valid (DART "NO PTE/PMD/PGD FOR IOVA"; SMMU F_TRANSLATION).</summary>
    Translation,
    /// <summary>The leaf forbids this access (DART "READ FAULT"/"WRITE FAULT"; SMMU F_PERMISSION).</summary>
    Permission,
    /// <summary>The leaf's access flag is clear (SMMU F_ACCESS); the kernel always sets it.</summary>
    AccessFlag,
    /// <summary>A table or output address needs more bits than the output size allows (SMMU F_ADDR_SIZE).</summary>
    AddressSize,
    /// <summary>No valid TTBR covers the IOVA, or walks are disabled (DART "NO TTBR FOR IOVA").</summary>
    BadTtbr,
    /// <summary>The walker's own read of a table entry fell outside memory (SMMU F_WALK_EABT).</summary>
    WalkExternalAbort,
    /// <summary>Translation succeeded but the target lies outside memory: the access itself aborts.</summary>
    OutputOutsideMemory,
    /// <summary>
    /// The stream does not translate at all (TCR disabled, STE invalid). Never returned by the walker: the DART or
    /// SMMU model reports it before walking.
    /// </summary>
    StreamDisabled,
}

/// <summary>
/// The outcome of one hardware translation: a physical address, or a fault with the level it happened at (the
/// architectural level for LPAE; for DART the kernel's numbering, leaf table = 1, TTBR = the level count).
/// </summary>
public readonly record struct WalkResult(ulong PhysicalAddress, WalkFaultKind Fault, int Level, IoPgtableFormat Format)
{
    public bool Translated => Fault == WalkFaultKind.None;

    public static WalkResult Success(ulong physicalAddress, int level, IoPgtableFormat format) =>
        new(physicalAddress, WalkFaultKind.None, level, format);

    public static WalkResult Faulted(WalkFaultKind fault, int level, IoPgtableFormat format) => new(0, fault, level, format);

    /// <summary>
    /// The name apple-dart's interrupt handler prints for this fault (e.g. "NO PTE FOR IOVA"), given the stream's
    /// level count; null for LPAE formats or faults DART hardware does not report that way.
    /// </summary>
    public string? DartErrorName(int levels) => Format == IoPgtableFormat.ArmLpaeS1 ? null : Fault switch
    {
        WalkFaultKind.BadTtbr => "NO TTBR FOR IOVA",
        WalkFaultKind.Permission => null,
        WalkFaultKind.Translation when Level == 1 => "NO PTE FOR IOVA",
        WalkFaultKind.Translation when Level == 2 => "NO PMD FOR IOVA",
        WalkFaultKind.Translation when Level == 3 && levels == 4 => "NO PGD FOR IOVA",
        _ => null,
    };

    public override string ToString() => Translated
        ? $"-> 0x{PhysicalAddress:x} (leaf at level {Level})"
        : $"{Fault switch
        {
            WalkFaultKind.Translation => "translation fault",
            WalkFaultKind.Permission => "permission fault",
            WalkFaultKind.AccessFlag => "access flag fault",
            WalkFaultKind.AddressSize => "address size fault",
            WalkFaultKind.BadTtbr => "no valid TTBR",
            WalkFaultKind.WalkExternalAbort => "table walk outside memory",
            WalkFaultKind.OutputOutsideMemory => "access outside memory",
            WalkFaultKind.StreamDisabled => "stream disabled",
            _ => Fault.ToString(),
        }} at level {Level}";
}
