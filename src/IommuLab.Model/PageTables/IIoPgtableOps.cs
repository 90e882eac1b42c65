namespace IommuLab.Model.PageTables;

/// <summary>
/// One page-table format's operations (<c>struct io_pgtable_ops</c>, include/linux/io-pgtable.h). Sizes and counts
/// are in bytes and pages as in the kernel; errors are returned, never thrown.
/// </summary>
public interface IIoPgtableOps
{
    /// <summary>
    /// Maps up to <paramref name="pgcount"/> pages of <paramref name="pgsize"/> bytes; may stop early at a table
    /// boundary, reporting progress in <paramref name="mapped"/> (bytes), which the caller adds up and continues.
    /// </summary>
    IoPgtableStatus MapPages(ulong iova, ulong paddr, ulong pgsize, ulong pgcount, IommuProt prot, out ulong mapped);

    /// <summary>Unmaps up to <paramref name="pgcount"/> pages of <paramref name="pgsize"/>; returns the bytes unmapped (0 on error).</summary>
    ulong UnmapPages(ulong iova, ulong pgsize, ulong pgcount);

    /// <summary>The physical address <paramref name="iova"/> maps to, or 0 when it is not mapped.</summary>
    ulong IovaToPhys(ulong iova);

    /// <summary>Frees every table page (the format's <c>free</c> hook); the object must not be used afterwards.</summary>
    void Free();
}
