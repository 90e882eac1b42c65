using System.Text.Json;
using IommuLab.Cli;
using IommuLab.Tests.Support;

namespace IommuLab.Tests.Validation;

/// <summary>
/// Compares what Debian's real arm64 kernels did under QEMU (tools/validate/results/CONFIG.KERNEL.json, recorded by
/// tools/validate/boot.sh) with the model on the same firmware, PCI list and load order (the `iommulab run`
/// arguments model.sh recorded in CONFIG.KERNEL.model.json). The firmware is the corpus copy of QEMU's virt SMMUv3
/// DTB, whose SMMUv3 and host-bridge nodes are those of the DTBs QEMU dumped. Every configuration has an expected
/// verdict: where the model differs, the reason is written here and in docs/validation.md.
/// </summary>
[Trait("Category", "Corpus")]
public sealed class RealKernelComparisonTests
{
    public enum Verdict
    {
        /// <summary>Same group partition (so also the same functions with an IOMMU).</summary>
        Agree,

        /// <summary>The same functions have an IOMMU, grouped differently.</summary>
        SameIommuOtherGroups,

        /// <summary>Different functions have an IOMMU.</summary>
        Differ,
    }

    /// <summary>Expected verdict per configuration and kernel, with the reason for each difference.</summary>
    public static TheoryData<string, string, Verdict, string> Expected() => new()
    {
        { "smmuv3-root", "k612", Verdict.Agree, "" },
        { "smmuv3-root", "k7", Verdict.Agree, "" },
        { "smmuv3-nodriver", "k612", Verdict.Agree, "" },
        { "smmuv3-nodriver", "k7", Verdict.Agree, "" },
        { "smmuv3-mf-port", "k612", Verdict.SameIommuOtherGroups, "pci_device_group() not modelled: no ACS on 6.12's root port, multifunction endpoint" },
        { "smmuv3-mf-port", "k7", Verdict.SameIommuOtherGroups, "pci_device_group() not modelled: multifunction endpoint without ACS" },
        { "smmuv3-bridge", "k612", Verdict.Differ, "pci_device_group() not modelled; the PCIe-to-PCI bridge binds shpchp, the model leaves it driverless" },
        { "smmuv3-bridge", "k7", Verdict.Differ, "K616 model fails SMMUv3 registration on the aliased StreamID 0x300; 7.2 only warns" },
    };

    [Theory]
    [MemberData(nameof(Expected))]
    public void Model_matches_the_real_kernel_as_documented(string config, string kernel, Verdict expected, string reason)
    {
        var results = ResultsFolder();
        using var real = JsonDocument.Parse(File.ReadAllText(Path.Combine(results, $"{config}.{kernel}.json")));
        using var recorded = JsonDocument.Parse(File.ReadAllText(Path.Combine(results, $"{config}.{kernel}.model.json")));
        var arguments = recorded.RootElement.GetProperty("arguments").EnumerateArray().Select(a => a.GetString()!).ToList();
        var dtb = Corpus.QemuDtbs.Single(p => Path.GetFileName(p) == "virt-smmuv3.min.dtb");

        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = CliApp.Run(["run", dtb, .. arguments, "--format", "json"], stdout, stderr);
        Assert.True(code is 0 or 1, stderr.ToString());
        using var model = JsonDocument.Parse(stdout.ToString());

        var modelGroups = Partition(model.RootElement.GetProperty("devices").EnumerateArray()
            .Where(d => IsPciFunction(d.GetProperty("name").GetString()!))
            .Select(d => (Bdf(d.GetProperty("name").GetString()!), Group(d.GetProperty("group")))));
        var recordedGroups = Partition(recorded.RootElement.GetProperty("functions").EnumerateArray()
            .Select(f => (f.GetProperty("bdf").GetString()!, Group(f.GetProperty("group")))));
        var realGroups = Partition(real.RootElement.GetProperty("real").GetProperty("functions").EnumerateArray()
            .Select(f => (Bdf(f.GetProperty("bdf").GetString()!), Group(f.GetProperty("iommuGroup")))));

        // The recorded model result (docs/validation.md's table) is still what the model says.
        Assert.Equal(recordedGroups, modelGroups);

        var verdict = modelGroups == realGroups ? Verdict.Agree
            : Members(modelGroups) == Members(realGroups) ? Verdict.SameIommuOtherGroups
            : Verdict.Differ;
        Assert.True(verdict == expected, $"{config} on {kernel}: real {realGroups}, model {modelGroups}: {verdict}, expected {expected} ({reason})");
    }

    private static string ResultsFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tools", "validate", "results");
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException("tools/validate/results not found above the test binaries");
    }

    private static bool IsPciFunction(string name) =>
        name.Length > 8 && name[^2] == '.' && name[^5] == ':' && name[^8] == ':';

    /// <summary>"0000:03:01.0" or "pcie@10000000:03:01.0" -> "03:01.0".</summary>
    private static string Bdf(string name) => name[^7..];

    private static string? Group(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Null => null,
        JsonValueKind.Number => e.GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture),
        _ => e.GetString(),
    };

    /// <summary>Groups as "{a, b} {c}", members sorted, groups sorted: comparable across numberings.</summary>
    private static string Partition(IEnumerable<(string Bdf, string? Group)> functions) =>
        string.Join(" ", functions.Where(f => f.Group is not null)
            .GroupBy(f => f.Group)
            .Select(g => "{" + string.Join(", ", g.Select(f => f.Bdf).Order(StringComparer.Ordinal)) + "}")
            .Order(StringComparer.Ordinal));

    private static string Members(string partition) =>
        string.Join(", ", partition.Split([' ', '{', '}', ','], StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));
}
