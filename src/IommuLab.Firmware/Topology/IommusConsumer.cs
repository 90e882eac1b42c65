namespace IommuLab.Firmware.Topology;

/// <summary>One <c>iommus</c> entry the kernel's parse returns (index <see cref="Index"/> succeeds).</summary>
/// <remarks>
/// <para><c>CellOffset</c>: Cell index of the phandle within the property.</para>
/// <para><c>Args</c>: The args the kernel hands to of_xlate: at most 16 (MAX_PHANDLE_ARGS).</para>
/// <para><c>DeclaredArgCount</c>: The target's <c>#iommu-cells</c>; larger than <c>Args.Count</c> when truncated.</para>
/// </remarks>
public sealed record IommuReference(
    int Index,
    int CellOffset,
    uint Phandle,
    string TargetPath,
    IReadOnlyList<string> TargetLabels,
    bool TargetAvailable,
    IReadOnlyList<uint> Args,
    uint DeclaredArgCount)
{
    public bool ArgsTruncated => DeclaredArgCount > (uint)Args.Count;
}

/// <summary>Why the kernel's <c>while (!of_parse_phandle_with_args(..., idx, ...)) idx++</c> loop stopped.</summary>
public enum IommusEndReason
{
    /// <summary>All cells were consumed: the natural end (-ENOENT, nothing logged).</summary>
    EndOfList,

    /// <summary>A phandle of 0 is an empty entry: asking for its index returns -ENOENT.</summary>
    EmptyEntry,

    /// <summary>No node has the phandle (-EINVAL, "could not find phandle").</summary>
    PhandleNotFound,

    /// <summary>The target has no readable <c>#iommu-cells</c> (-EINVAL, "could not get #iommu-cells").</summary>
    TargetNotProvider,

    /// <summary>The target's args do not fit in the remaining cells (-EINVAL, "#iommu-cells = N found M").</summary>
    ArgsOverrun,
}

/// <summary>Where and why the list ends.</summary>
/// <remarks>
/// <para><c>Index</c>: The index whose parse fails (= number of references the kernel sees).</para>
/// <para><c>CellOffset</c>: Cell index where the failing entry's phandle sits (the property's cell count at the natural end).</para>
/// <para><c>KernelLog</c>: The line the kernel prints (pr_err), or null when it prints nothing.</para>
/// </remarks>
public sealed record IommusEnd(IommusEndReason Reason, int Index, int CellOffset, Errno Errno, uint? Phandle, string? TargetPath, string? KernelLog)
{
    /// <summary>True when cells were left unparsed because of an empty entry or an error.</summary>
    public bool IsEarly => Reason != IommusEndReason.EndOfList;
}

/// <summary>A node with an <c>iommus</c> property, decoded as the kernel's parse loop walks it.</summary>
/// <remarks>
/// <para><c>Cells</c>: The property's whole cells (trailing bytes beyond a multiple of 4 are dropped, as the kernel does).</para>
/// <para><c>References</c>: The references the kernel sees, in order.</para>
/// <para><c>IgnoredCells</c>: Cells from the failing entry on, which the kernel never turns into references.</para>
/// <para><c>IgnoredReferences</c>: References that the iterator could still frame past an empty entry; the kernel ignores them.</para>
/// <para><c>TrailingBytes</c>: Bytes beyond the last whole cell (a length not a multiple of 4).</para>
/// </remarks>
public sealed record IommusConsumer(
    string Path,
    IReadOnlyList<string> Labels,
    IReadOnlyList<string> Compatible,
    NodeStatus Status,
    IReadOnlyList<uint> Cells,
    int TrailingBytes,
    IReadOnlyList<IommuReference> References,
    IommusEnd End,
    IReadOnlyList<uint> IgnoredCells,
    IReadOnlyList<IommuReference> IgnoredReferences)
{
    /// <summary>Distinct target paths among <see cref="References"/>, in first-use order.</summary>
    public IReadOnlyList<string> DistinctTargets => References.Select(r => r.TargetPath).Distinct(StringComparer.Ordinal).ToArray();
}
