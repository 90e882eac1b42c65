using System.Text;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Model.Kernel;
using IommuLab.Tests.Support;

namespace IommuLab.Tests.Kernel;

/// <summary>PCI functions from DT child nodes are numbered as enumeration numbers them (DT reg's bus is a guess).</summary>
public sealed class PciEnumerationTests
{
    private static Platform Build(string body)
    {
        var dts = $$"""
            /dts-v1/;
            / {
                #address-cells = <2>;
                #size-cells = <2>;
                smmu: iommu@1000 { compatible = "arm,smmu-v3"; reg = <0 0x1000 0 0x1000>; #iommu-cells = <1>; };
                pcie@2000 {
                    compatible = "pci-host-ecam-generic";
                    device_type = "pci";
                    reg = <0 0x2000 0 0x1000>;
                    #address-cells = <3>;
                    #size-cells = <2>;
                    iommu-map = <0x0 &smmu 0x0 0x10000>;
            {{body}}
                };
            };
            """;
        var tree = DeviceTreeLoader.Load(Encoding.UTF8.GetBytes(dts), "pci.dts");
        var (platform, error) = DtPlatformBuilder.Build(tree, new PlatformKnobs(), []);
        return platform ?? throw new InvalidOperationException(error);
    }

    private static string[] Bdfs(Platform p) => [.. p.Devices.Where(d => d.Pci is not null).Select(d => d.Pci!.Bdf)];

    [Fact]
    public void A_root_port_whose_bus_range_repeats_the_hosts_gets_the_next_bus_as_enumeration_gives_it()
    {
        // rk3588 boards: the root port copies the host's bus-range <0x20 0x2f>; Linux puts its endpoint on bus 0x21.
        var p = Build("""
                    bus-range = <0x20 0x2f>;
                    pcie@0,0 { device_type = "pci"; reg = <0x200000 0 0 0 0>; bus-range = <0x20 0x2f>;
                        #address-cells = <3>; #size-cells = <2>;
                        wifi@0,0 { reg = <0x210000 0 0 0 0>; };
                    };
            """);
        Assert.Equal(["20:00.0", "21:00.0"], Bdfs(p));
    }

    [Fact]
    public void An_endpoints_own_children_are_not_pci_functions()
    {
        // ls1028a: ethernet functions carry MDIO buses and PHYs below them; they are not bridges.
        var p = Build("""
                    bus-range = <0 0>;
                    ethernet@0,0 { reg = <0x0 0 0 0 0>; };
                    mdio@0,3 { reg = <0x300 0 0 0 0>; #address-cells = <1>; #size-cells = <0>;
                        ethernet-phy@5 { reg = <5>; };
                    };
            """);
        Assert.Equal(["00:00.0", "00:00.3"], Bdfs(p));
    }

    [Fact]
    public void Bridges_are_numbered_depth_first_in_devfn_order_whatever_the_node_order()
    {
        var p = Build("""
                    pci@1,0 { device_type = "pci"; reg = <0x800 0 0 0 0>; #address-cells = <3>; #size-cells = <2>;
                        nvme@0,0 { reg = <0x20000 0 0 0 0>; };
                    };
                    pci@0,0 { device_type = "pci"; reg = <0x0 0 0 0 0>; #address-cells = <3>; #size-cells = <2>;
                        pci@0,0 { device_type = "pci"; reg = <0x10000 0 0 0 0>; #address-cells = <3>; #size-cells = <2>;
                            gpu@0,0 { reg = <0x20000 0 0 0 0>; };
                        };
                    };
            """);
        // 00:00.0 -> bus 1, its switch port 01:00.0 -> bus 2 (gpu 02:00.0), then 00:01.0 -> bus 3 (nvme 03:00.0).
        Assert.Equal(["00:00.0", "01:00.0", "02:00.0", "00:01.0", "03:00.0"], Bdfs(p));
    }

    [Trait("Category", "Corpus")]
    [Fact]
    public void Every_corpus_device_tree_gives_a_platform()
    {
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.ForEach(Corpus.AllDtbs, new ParallelOptions { MaxDegreeOfParallelism = 4 }, f =>
        {
            var (platform, error) = DtPlatformBuilder.Build(DeviceTreeLoader.LoadFile(f), new PlatformKnobs(), []);
            if (platform is null)
            {
                failures.Add($"{f}: {error}");
            }
        });
        Assert.True(failures.IsEmpty, string.Join('\n', failures.Order().Take(10)));
    }
}
