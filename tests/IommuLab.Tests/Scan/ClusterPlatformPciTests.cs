using System.Text;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Model.Exploration;
using IommuLab.Model.Kernel;
using IommuLab.Model.Scan;

namespace IommuLab.Tests.Scan;

/// <summary>
/// A PCI cluster whose restricted platform keeps the tree's device numbers (its host bridge's dma-ranges reach
/// the DMA buffers, so compacting them could move a buffer: arm/juno-r*.dtb has this shape). The explorer's
/// PCI scan, ADD and PROBE bookkeeping works on positions there, and the scan's verdicts equal the whole tree's.
/// </summary>
public sealed class ClusterPlatformPciTests
{
    private const string JunoLike = """
        /dts-v1/;
        / {
            #address-cells = <2>;
            #size-cells = <2>;
            smmu_pcie: iommu@2b500000 { compatible = "arm,smmu-v3"; reg = <0x0 0x2b500000 0x0 0x10000>; #iommu-cells = <1>; };
            smmu_etr: iommu@2b600000 { compatible = "arm,smmu-v3"; reg = <0x0 0x2b600000 0x0 0x10000>; #iommu-cells = <1>; };
            etr@20070000 { compatible = "arm,coresight-tmc"; reg = <0x0 0x20070000 0x0 0x1000>; iommus = <&smmu_etr 0>; };
            pcie@40000000 {
                compatible = "arm,juno-r1-pcie", "pci-host-ecam-generic";
                device_type = "pci";
                reg = <0x0 0x40000000 0x0 0x10000000>;
                #address-cells = <3>;
                #size-cells = <2>;
                bus-range = <0 255>;
                dma-ranges = <0x2000000 0x0 0x80000000 0x0 0x80000000 0x0 0x80000000
                              0x43000000 0x8 0x0 0x8 0x0 0x2 0x0>;
                iommu-map-mask = <0x0>;
                iommu-map = <0x0 &smmu_pcie 0x0 0x1>;
            };
        };
        """;

    private static Platform Build() =>
        DtPlatformBuilder.Build(DeviceTreeLoader.Load(Encoding.UTF8.GetBytes(JunoLike), "juno-like.dts"), new PlatformKnobs(), []).Platform
            ?? throw new InvalidOperationException("platform");

    [Fact]
    public void The_pci_cluster_keeps_the_tree_numbers_and_its_host_bridge()
    {
        var platform = Build();
        var cluster = Assert.Single(Clusters.Of(platform), c => c.Consumers.Any(x => platform.Devices[x].IsPci));
        var view = ClusterPlatform.Of(platform, cluster);
        Assert.False(view.Renumbered);
        Assert.Contains(view.Platform.Devices, d => d.Path == "/pcie@40000000");
        Assert.Contains(view.Platform.Devices.Select((d, i) => d.Index != i), differs => differs);
        var scan = Assert.Single(DeviceAddOrder.Scans(view.Platform, view.Cluster));
        Assert.Equal("/pcie@40000000", view.Platform.Devices[scan.Bridge].Path);
        Assert.All(scan.Steps.SelectMany(s => s), f => Assert.True(view.Platform.Devices[f].IsPci));
    }

    // A hang guard, not a timing check: the bug this pins spawned a new PROBE process at every step.
    [Fact(Timeout = 300_000)]
    public async Task Restricted_and_whole_tree_give_the_same_verdicts_under_every_profile()
    {
        var platform = Build();
        await Task.Run(() =>
        {
            foreach (var profile in Profiles.All)
            {
                foreach (var cluster in Clusters.Of(platform))
                {
                    var view = ClusterPlatform.Of(platform, cluster);
                    var options = new ScanOptions { ExhaustiveBudget = 10_000 };
                    var restricted = ScanRunner.Verdicts(new KernelSystem(view.Platform, profile, Granularity.Coarse, view.Cluster), options);
                    var whole = ScanRunner.Verdicts(new KernelSystem(platform, profile, Granularity.Coarse, cluster), options);
                    Assert.True(restricted.Complete, $"{profile.Name} {cluster.Name}");
                    Assert.Equal((whole.Executions, whole.Complete), (restricted.Executions, restricted.Complete));
                    Assert.Equal(whole.Violations, restricted.Violations);
                }
            }
        });
    }
}
