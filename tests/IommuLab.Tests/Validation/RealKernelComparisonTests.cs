using System.Text.Json;
using IommuLab.Cli;
using IommuLab.Tests.Support;

namespace IommuLab.Tests.Validation;

/// <summary>
/// Compares what Debian's real arm64 kernels did under QEMU (tools/validate/results/CONFIG.KERNEL.json, recorded by
/// tools/validate/boot.sh) with the model on the same firmware, PCI list and load order (the `iommulab run`
/// arguments model.sh recorded in CONFIG.KERNEL.model.json). The firmware is the corpus copy of QEMU's virt SMMUv3
/// DTB (or of its virtio-iommu DTB), whose IOMMU and host-bridge nodes are those of the DTBs QEMU dumped. The model
/// must give the same group partition, the same bound functions and the same functions bound by the timeout.
/// </summary>
[Trait("Category", "Corpus")]
public sealed class RealKernelComparisonTests
{
    /// <summary>
    /// Every configuration and kernel recorded in tools/validate/results. A configuration the model disagrees with
    /// would be listed here with its reason; there is none (docs/validation.md).
    /// </summary>
    public static TheoryData<string, string> Recorded() => new()
    {
        { "smmuv3-root", "k612" },
        { "smmuv3-root", "k7" },
        { "smmuv3-nodriver", "k612" },
        { "smmuv3-nodriver", "k7" },
        { "smmuv3-mf-port", "k612" },
        { "smmuv3-mf-port", "k7" },
        { "smmuv3-bridge", "k612" },
        { "smmuv3-bridge", "k7" },
        { "viommu-early", "k612" },
        { "viommu-early", "k7" },
        { "viommu-late", "k612" },
        { "viommu-late", "k7" },
        { "viommu-bridge-early", "k612" },
        { "viommu-bridge-early", "k7" },
        { "viommu-bridge-late", "k612" },
        { "viommu-bridge-late", "k7" },
    };

    [Theory]
    [MemberData(nameof(Recorded))]
    public void The_model_agrees_with_the_real_kernel_on_groups_iommus_bindings_and_the_timeout(string config, string kernel)
    {
        var results = ResultsFolder();
        using var real = JsonDocument.Parse(File.ReadAllText(Path.Combine(results, $"{config}.{kernel}.json")));
        using var recorded = JsonDocument.Parse(File.ReadAllText(Path.Combine(results, $"{config}.{kernel}.model.json")));
        var arguments = recorded.RootElement.GetProperty("arguments").EnumerateArray().Select(a => a.GetString()!).ToList();
        var firmware = real.RootElement.GetProperty("iommu").GetString() == "virtio" ? "virt-viommu.min.dtb" : "virt-smmuv3.min.dtb";
        var dtb = Corpus.QemuDtbs.Single(p => Path.GetFileName(p) == firmware);

        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = CliApp.Run(["run", dtb, .. arguments, "--format", "json"], stdout, stderr);
        Assert.True(code is 0 or 1, stderr.ToString());
        using var model = JsonDocument.Parse(stdout.ToString());

        var modelFunctions = model.RootElement.GetProperty("devices").EnumerateArray()
            .Where(d => IsPciFunction(d.GetProperty("name").GetString()!)).ToList();
        var modelGroups = Partition(modelFunctions.Select(d => (Bdf(d.GetProperty("name").GetString()!), Group(d.GetProperty("group")))));
        var recordedGroups = Partition(recorded.RootElement.GetProperty("functions").EnumerateArray()
            .Select(f => (f.GetProperty("bdf").GetString()!, Group(f.GetProperty("group")))));
        var realFunctions = real.RootElement.GetProperty("real").GetProperty("functions").EnumerateArray().ToList();
        var realGroups = Partition(realFunctions.Select(f => (Bdf(f.GetProperty("bdf").GetString()!), Group(f.GetProperty("iommuGroup")))));

        // The recorded model result (docs/validation.md's table) is still what the model says.
        Assert.Equal(recordedGroups, modelGroups);
        Assert.Equal(realGroups, modelGroups);

        var realBound = Set(realFunctions.Where(f => f.GetProperty("driver").ValueKind != JsonValueKind.Null).Select(f => Bdf(f.GetProperty("bdf").GetString()!)));
        var modelBound = Set(modelFunctions.Where(d => d.GetProperty("driverState").GetString() == "Bound").Select(d => Bdf(d.GetProperty("name").GetString()!)));
        Assert.Equal(realBound, modelBound);

        const string timeout = "deferred probe timeout, ignoring dependency";
        var realTimeout = Set(real.RootElement.GetProperty("real").GetProperty("dmesg").EnumerateArray()
            .Select(l => l.GetString()!).Where(l => l.Contains(timeout, StringComparison.Ordinal))
            .Select(l => Bdf(l[..l.IndexOf(": deferred", StringComparison.Ordinal)])));
        var modelTimeout = Set(model.RootElement.GetProperty("steps").EnumerateArray()
            .SelectMany(st => st.GetProperty("log").EnumerateArray())
            .Where(l => l.GetProperty("message").GetString()!.Contains(timeout, StringComparison.Ordinal) && l.TryGetProperty("device", out var d) && d.ValueKind == JsonValueKind.String && IsPciFunction(d.GetString()!))
            .Select(l => Bdf(l.GetProperty("device").GetString()!)));
        Assert.Equal(realTimeout, modelTimeout);
    }

    private static string Set(IEnumerable<string> items) => string.Join(", ", items.Distinct().Order(StringComparer.Ordinal));

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
}
