using IommuLab.Model.Kernel;

namespace IommuLab.Tests.Kernel;

/// <summary>REMOVE(x): device_del() → iommu_release_device() (spec §4.7), and iommu_device_unregister() from an IOMMU's remove (§1.3).</summary>
public sealed class DeviceRemoveTests
{
    private const string S3 = "REG(dwc3_0_dart_0) REG(dwc3_0_dart_1) PROBE(usb_drd0)";

    [Theory]
    [InlineData("K68")]
    [InlineData("K611")]
    [InlineData("K616")]
    public void Removing_a_translated_consumer_releases_its_group_dev_iommu_and_cfg(string profile)
    {
        var before = KernelRun.Run("usb-two-darts.dts", profile, S3);
        var after = KernelRun.Run("usb-two-darts.dts", profile, S3 + " REMOVE(usb_drd0)");
        var d = after.Device("usb_drd0");
        Assert.Equal(DeviceClass.T, before.Device("usb_drd0").Class);
        Assert.Null(d.Group);
        Assert.Equal("NULL", d.DevIommu);
        Assert.Equal("Unbound", d.DriverState);
        Assert.True(after.Logged("iommu_release_device", "removed from group 0"));
        Assert.True(after.Logged("__device_release_driver", "unbound from apple,t8103-dwc3"));

        // release_device() frees the cfg: removal adds no leak to what the probe path already leaked.
        Assert.Equal(before.CfgLeaks(), after.CfgLeaks());
        Assert.DoesNotContain(after.Leaks, l => l.Kind == AllocKind.DevIommu);
    }

    [Fact]
    public void Unregistering_the_second_dart_of_a_gang_does_not_release_the_device()
    {
        var r = KernelRun.Run("usb-two-darts.dts", "K616", S3 + " REMOVE(dwc3_0_dart_1)");
        var d = r.Device("usb_drd0");
        Assert.True(r.Logged("__device_release_driver", "iommu_device_unregister(dwc3_0_dart_1)"));
        Assert.False(r.Logged("iommu_release_device", "removed from group"));
        Assert.Equal(DeviceClass.T, d.Class);
        Assert.Equal("dwc3_0_dart_0", d.PrimaryIommu);
        Assert.Equal(2, d.GroupCoverage.Count);
    }

    [Fact]
    public void Unregistering_the_primary_dart_pulls_the_group_from_under_a_bound_iommu_dma_driver()
    {
        var r = KernelRun.Run("usb-two-darts.dts", "K616", S3 + " REMOVE(dwc3_0_dart_0)");
        var d = r.Device("usb_drd0");
        Assert.True(r.Logged("iommu_release_device", "removed from group 0"));
        Assert.Null(d.Group);
        Assert.Equal("Bound", d.DriverState);
        Assert.Equal("iommu-dma", d.Dma);
        Assert.Contains("I4", r.Violated().Split(','));
    }

    [Fact]
    public void Removing_a_deferred_consumer_takes_it_off_the_deferred_list()
    {
        var r = KernelRun.Run("usb-two-darts.dts", "K616", "REG(dwc3_0_dart_0) PROBE(usb_drd0) REMOVE(usb_drd0) REG(dwc3_0_dart_1)");
        Assert.DoesNotContain(r.Execution.Kernel.Pending, dev => dev.Name == "usb_drd0");
        Assert.Equal("Unbound", r.Device("usb_drd0").DriverState);
        Assert.Equal(0, r.Execution.Kernel.Devices.Single(x => x.Name == "usb_drd0").ProbeAttempts - 1);
    }
}
