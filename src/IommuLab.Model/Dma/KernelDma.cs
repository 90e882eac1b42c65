using IommuLab.Model.Dma;

namespace IommuLab.Model.Kernel;

/// <summary>The execution's simulated memory, IOMMU registers and DMA state (see <see cref="DmaSystem"/>).</summary>
public sealed partial class Kernel
{
    private DmaSystem? _dma;

    /// <summary>Created on first use: executions that never program a stream or map a buffer stay cheap.</summary>
    public DmaSystem Dma => _dma ??= new DmaSystem(this);
}
