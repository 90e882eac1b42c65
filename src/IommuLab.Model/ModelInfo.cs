namespace IommuLab.Model;

/// <summary>
/// The executable model of the Linux IOMMU binding path. Its folders follow drivers/iommu:
/// Kernel/ (driver core and IOMMU core), Drivers/ (apple-dart, arm-smmu-v3, ...),
/// PageTables/ (io-pgtable formats) and Exploration/ (scheduler, strategies, invariants, traces).
/// </summary>
public static class ModelInfo
{
    /// <summary>Spec document this model is built against (shared/spec/kernel-behaviour.md).</summary>
    public const string Specification = "kernel-behaviour.md";
}
