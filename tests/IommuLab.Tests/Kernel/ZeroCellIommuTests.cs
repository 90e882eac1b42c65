using IommuLab.Model.Kernel;
using IommuLab.Tests.Exploration;

namespace IommuLab.Tests.Kernel;

/// <summary>
/// IOMMUs with `#iommu-cells = &lt;0&gt;` (rockchip, exynos-sysmmu): of_xlate succeeds without an ID and keeps its data
/// in dev->iommu->priv; probe_device refuses a device whose of_xlate never ran (rk_iommu_probe_device, 6.12).
/// </summary>
public sealed class ZeroCellIommuTests
{
    public static TheoryData<string> ProfileNames() => [.. Profiles.All.Select(p => p.Name)];

    [Theory]
    [MemberData(nameof(ProfileNames))]
    public void A_zero_cell_reference_translates_after_the_iommu_registers(string profile)
    {
        var r = KernelRun.Run("rockchip-zero-cell.dts", profile, "REG(vpu_mmu) BIND(vpu_mmu) PROBE(/video-codec@ff650000)");
        Assert.Equal("T/iommu-dma", r.ClassAndDma("/video-codec@ff650000"));
        Assert.Equal(string.Empty, r.Violated());
    }

    [Theory]
    [MemberData(nameof(ProfileNames))]
    public void A_placeholder_fwspec_is_refused_by_the_walk_and_every_probe_order_ends_the_same(string profile)
    {
        // The consumer defers first (placeholder fwspec, no of_xlate); the registration walk must not probe it with
        // no streams: rk_iommu_probe_device returns -ENODEV and the retry parses again.
        var r = KernelRun.Run("rockchip-zero-cell.dts", profile, "PROBE(/video-codec@ff650000) REG(vpu_mmu) BIND(vpu_mmu) WORK");
        Assert.Equal("T/iommu-dma", r.ClassAndDma("/video-codec@ff650000"));
        var (result, _) = ExplorationHarness.Check("rockchip-zero-cell.dts", profile);
        Assert.True(result.Complete);
        Assert.Empty(result.Violations);
    }
}
