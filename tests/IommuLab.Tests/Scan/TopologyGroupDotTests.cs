using System.Text.RegularExpressions;
using IommuLab.Cli;
using IommuLab.Tests.Acpi;
using IommuLab.Tests.Kernel;
using IommuLab.Tests.Support;

namespace IommuLab.Tests.Scan;

/// <summary>
/// <c>topology --format dot</c> draws IOMMU groups as clusters, from one canonical boot under a profile. Pictures are
/// compared byte for byte with Fixtures/dot snapshots (regenerate with the command in the failure message and review
/// the diff); cluster membership is also asserted directly, so a snapshot taken from a wrong picture still fails.
/// </summary>
public sealed partial class TopologyGroupDotTests
{
    private static string DotFixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "dot", name);

    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = CliApp.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    private static string Dot(string input, string shownAs, params string[] extra)
    {
        var (code, dot, err) = Cli(["topology", input, "--format", "dot", .. extra]);
        Assert.True(code == 0, err);
        Assert.Equal("", err);
        return dot.Replace(input, shownAs, StringComparison.Ordinal);
    }

    private static void Matches(string snapshot, string actual)
    {
        var expected = File.ReadAllText(DotFixture(snapshot));
        if (expected != actual)
        {
            var written = Path.Combine(Path.GetTempPath(), "iommulab-" + snapshot + ".actual");
            File.WriteAllText(written, actual);
            Assert.Fail($"{snapshot} changed; review and copy {written} over Fixtures/dot/{snapshot}. The new text is:\n{actual}");
        }
    }

    [GeneratedRegex(@"^  subgraph cluster_group_(\d+) \{\n    label=""([^""]*)"";\n    style=rounded;\n((?:    ""[^""]+"" \[.*\];\n)+)  \}$", RegexOptions.Multiline)]
    private static partial Regex ClusterPattern();

    [GeneratedRegex(@"^    ""([^""]+)"" \[", RegexOptions.Multiline)]
    private static partial Regex ClusterNodePattern();

    [GeneratedRegex(@"^  ""([^""]+)"" \[label=", RegexOptions.Multiline)]
    private static partial Regex TopLevelNodePattern();

    /// <summary>Cluster label → member node ids as DOT writes them (escaped), in picture order.</summary>
    private static Dictionary<string, List<string>> Clusters(string dot) =>
        ClusterPattern().Matches(dot).ToDictionary(
            m => m.Groups[2].Value,
            m => ClusterNodePattern().Matches(m.Groups[3].Value).Select(n => n.Groups[1].Value).ToList());

    private static List<string> Unclustered(string dot) => [.. TopLevelNodePattern().Matches(dot).Select(m => m.Groups[1].Value)];

    [Fact]
    public void Two_masters_sharing_an_smmu_stream_are_drawn_in_one_group_cluster_and_disabled_or_ungrouped_devices_stay_outside()
    {
        var dot = Dot(DotFixture("smmu-shared-stream.dts"), "smmu-shared-stream.dts");
        Matches("topology-smmu-shared-stream.dot", dot);
        var clusters = Clusters(dot);
        Assert.Equal(["/camera@3000", "/isp@4000"], clusters["group 0 (arm-smmu): DMA domain 0"]);
        Assert.Equal(["/gpu@5000"], clusters["group 1 (arm-smmu): DMA domain 1"]);
        Assert.Equal(2, clusters.Count);
        Assert.Equal(["/iommu@1000", "/iommu@2000", "/dsp@6000", "/video@7000"], Unclustered(dot));
        Assert.Contains("\"/camera@3000\" -> \"/iommu@1000\" [label=\"[0] <0x20>\"];", dot, StringComparison.Ordinal);
        Assert.Contains("\"/dsp@6000\" [label=\"/dsp@6000\\niommus consumer [disabled]\", style=\"filled,dashed\"", dot, StringComparison.Ordinal);
    }

    [Fact]
    public void The_label_names_the_profile_the_groups_come_from_and_an_unknown_profile_is_refused()
    {
        var input = DotFixture("smmu-shared-stream.dts");
        Assert.Contains("\\ngroups: one boot under K616 (", Dot(input, "x"), StringComparison.Ordinal);
        var k68 = Dot(input, "x", "--profile", "K68");
        Assert.Contains("\\ngroups: one boot under K68 (v6.8", k68, StringComparison.Ordinal);
        Assert.Equal(["/camera@3000", "/isp@4000"], Clusters(k68)["group 0 (arm-smmu): DMA domain 0"]);

        var (code, output, err) = Cli("topology", input, "--format", "dot", "--profile", "K99");
        Assert.Equal((2, ""), (code, output));
        Assert.StartsWith("iommulab topology: --profile: unknown profile 'K99' (one of K66, ", err, StringComparison.Ordinal);
    }

    [Fact]
    public void Pci_functions_behind_an_smmu_iommu_map_are_drawn_and_a_root_port_without_acs_shares_its_functions_group()
    {
        var input = KernelRun.FixturePath("pcie-smmu-bare.dts");
        var dot = Dot(input, "pcie-smmu-bare.dts", "--pci", "pcie=00:00.0 root-port -> 01; 01:00.0 mf; 01:00.1");
        Matches("topology-pcie-smmu-bare.dot", dot);

        // pci_device_group(): no ACS on the root port or the multi-function device, so one group for all three.
        Assert.Equal(["/soc/pcie@40000000/pci@00:00.0", "/soc/pcie@40000000/pci@01:00.0", "/soc/pcie@40000000/pci@01:00.1"],
            Clusters(dot)["group 0 (arm-smmu-v3): DMA domain 0"]);
        Assert.Contains("\"/soc/pcie@40000000/pci@01:00.1\" -> \"/soc/iommu@2b400000\" [label=\"[0] 01:00.1 -> <0x101>\"];", dot, StringComparison.Ordinal);
        Assert.Contains("\"/soc/pcie@40000000\" -> \"/soc/pcie@40000000/pci@01:00.0\" [style=dotted, arrowhead=none];", dot, StringComparison.Ordinal);

        // of_map_id() -EFAULT on the second bridge: the function exists but has no reference and no group.
        Assert.Contains("/soc/pcie@50000000/pci@00:00.1", Unclustered(dot));
    }

    [Fact]
    public void With_acs_on_the_root_port_each_function_of_a_multi_function_device_without_acs_still_shares_one_group()
    {
        var input = KernelRun.FixturePath("pcie-smmu-bare.dts");
        var dot = Dot(input, "pcie-smmu-bare.dts", "--pci", "pcie=00:00.0 root-port -> 01 acs 0x1f/0x1f; 01:00.0 mf; 01:00.1");
        var clusters = Clusters(dot);
        Assert.Equal(["/soc/pcie@40000000/pci@00:00.0"], clusters["group 0 (arm-smmu-v3): DMA domain 0"]);
        Assert.Equal(["/soc/pcie@40000000/pci@01:00.0", "/soc/pcie@40000000/pci@01:00.1"], clusters["group 1 (arm-smmu-v3): DMA domain 1"]);
    }

    /// <summary>An IORT: ITS, SMMUv3, a named component on stream 0x40 and a root complex mapping every RID to 0x1000 + RID.</summary>
    private static byte[] Iort()
    {
        var b = new IortBuilder();
        var its = b.Add(0, 0, IortBuilder.Its(0));
        var smmu = b.Add(4, 5, IortBuilder.SmmuV3(0x900_0000), new Map(0, 0xffff, 0, its));
        b.Add(1, 0, IortBuilder.NamedComponent(@"\_SB.DMA0"), Map.Single(0x40, smmu));
        b.Add(2, 1, IortBuilder.RootComplex(0), new Map(0, 0xffff, 0x1000, smmu));
        return b.Build();
    }

    [Fact]
    public void An_iort_table_is_drawn_with_its_smmu_named_component_and_pci_functions_in_their_groups()
    {
        var file = Path.Combine(Path.GetTempPath(), $"iommulab-topology-iort-{Guid.NewGuid():N}.dat");
        File.WriteAllBytes(file, Iort());
        try
        {
            var dot = Dot(file, "built.iort", "--pci", "00:00.0 root-port -> 01; 01:00.0; 01:00.1 label nic1");
            Matches("topology-iort.dot", dot);
            var clusters = Clusters(dot);
            Assert.Equal([@"\\_SB.DMA0"], clusters["group 0 (arm-smmu-v3): DMA domain 0"]);
            Assert.Equal(["PCI/0000:00:00.0", "PCI/0000:01:00.0", "PCI/0000:01:00.1"], clusters["group 1 (arm-smmu-v3): DMA domain 1"]);
            Assert.Contains("\"\\\\_SB.DMA0\" -> \"IORT/smmuv3@9000000\" [label=\"[0] <0x40>\"];", dot, StringComparison.Ordinal);
            Assert.Contains("\"PCI/0000:01:00.1\" -> \"IORT/smmuv3@9000000\" [label=\"[0] 01:00.1 -> <0x1101>\"];", dot, StringComparison.Ordinal);
            Assert.Contains("IOMMU topology of built.iort (IORT)\\ngroups: one boot under K616", dot, StringComparison.Ordinal);

            // JSON stays a device-tree format.
            var (code, _, err) = Cli("topology", file, "--format", "json");
            Assert.Equal(2, code);
            Assert.Contains("--format: expected text, dot or svg for an IORT/VIOT table", err, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void The_same_input_and_profile_give_the_same_picture_twice()
    {
        var input = KernelRun.FixturePath("pcie-iommu-map.dts");
        Assert.Equal(Dot(input, "x"), Dot(input, "x"));
    }

    [Fact]
    public void Topology_svg_of_an_iort_draws_the_group_clusters_through_graphviz()
    {
        var file = Path.Combine(Path.GetTempPath(), $"iommulab-topology-iort-{Guid.NewGuid():N}.dat");
        File.WriteAllBytes(file, Iort());
        try
        {
            var (code, svg, err) = Cli("topology", file, "--format", "svg");
            Assert.True(code == 0, $"dot failed: {err} (CI must install graphviz)");
            Assert.Contains("<title>cluster_group_0</title>", svg, StringComparison.Ordinal);
            Assert.Contains("group 1 (arm&#45;smmu&#45;v3): DMA domain 1", svg, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    [Trait("Category", "Corpus")]
    public void Qemu_virt_smmuv3_dtb_puts_its_pci_function_in_an_smmuv3_group()
    {
        var input = Corpus.QemuDtbs.Single(p => Path.GetFileName(p) == "virt-smmuv3.min.dtb");
        var dot = Dot(input, "virt-smmuv3.min.dtb");
        Assert.Equal(["/pcie@10000000/pci@00:00.0"], Clusters(dot)["group 0 (arm-smmu-v3): DMA domain 0"]);
        Assert.Contains("\"/pcie@10000000/pci@00:00.0\" -> \"/smmuv3@9050000\" [label=\"[0] 00:00.0 -> <0>\"];", dot, StringComparison.Ordinal);
        Assert.Contains("\"/pcie@10000000\" -> \"/smmuv3@9050000\" [label=\"ids 0x0..0xffff -> <0>\"];", dot, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Category", "Corpus")]
    public void Qemu_iort_with_two_smmuv3_groups_each_pci_function_on_its_own_smmu_and_leaves_its_only_functions_outside()
    {
        var input = Corpus.IortFiles("qemu", "qemu10.2-IORT.smmuv3-dev.dat").Single();
        var dot = Dot(input, "qemu10.2-IORT.smmuv3-dev.dat");
        var clusters = Clusters(dot);
        Assert.Equal(["PCI/0000:00:00.0"], clusters["group 0 (arm-smmu-v3): DMA domain 0"]);
        Assert.Equal(["PCI/0000:10:00.0"], clusters["group 1 (arm-smmu-v3): DMA domain 1"]);
        Assert.Contains("PCI/0000:02:00.0", Unclustered(dot));
        Assert.Contains("\"PCI/0000:10:00.0\" -> \"IORT/smmuv3@c020000\" [label=\"[0] 10:00.0 -> <0x1000>\"];", dot, StringComparison.Ordinal);
    }
}
