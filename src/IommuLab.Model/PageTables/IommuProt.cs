namespace IommuLab.Model.PageTables;

/// <summary>
/// Protection flags a caller passes to <c>iommu_map()</c> (the <c>IOMMU_*</c> bits of include/linux/iommu.h,
/// same numeric values).
/// </summary>
[Flags]
public enum IommuProt
{
    None = 0,
    Read = 1 << 0,
    Write = 1 << 1,
    /// <summary>DMA is cache coherent.</summary>
    Cache = 1 << 2,
    NoExec = 1 << 3,
    /// <summary>Device memory such as an MSI doorbell.</summary>
    Mmio = 1 << 4,
    /// <summary>Privileged access only (stage 1 formats).</summary>
    Priv = 1 << 5,
}

/// <summary>The direction of one device access, as the IOMMU sees it.</summary>
public enum DmaAccess
{
    /// <summary>The device reads memory (DMA_TO_DEVICE).</summary>
    Read,
    /// <summary>The device writes memory (DMA_FROM_DEVICE).</summary>
    Write,
}

/// <summary>
/// The result of an io-pgtable operation that returns 0 or a negative errno. The numeric value is the kernel's
/// return value (<c>(int)IoPgtableStatus.Exists == -EEXIST</c>).
/// </summary>
public enum IoPgtableStatus
{
    Ok = 0,
    /// <summary>-ENOMEM: no page for a table, or (io-pgtable-dart v6.18) an IOVA above the last TTBR.</summary>
    NoMemory = -12,
    /// <summary>-EEXIST: the slot already holds a leaf; the kernel wants an unmap first (its WARN path).</summary>
    Exists = -17,
    /// <summary>-EINVAL: unsupported page size, unaligned address or size, or no read/write permission.</summary>
    Invalid = -22,
    /// <summary>-ERANGE: IOVA beyond the input size, or physical address beyond the output size.</summary>
    OutOfRange = -34,
}
