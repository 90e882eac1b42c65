using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Model.Exploration;
using IommuLab.Model.Kernel;
using IommuLab.Tests.Support;

namespace IommuLab.Benchmarks;

/// <summary>
/// The explorer: complete optimal-DPOR explorations of the S1 shape (one consumer, two DARTs) coarse and fine, of the
/// largest Apple DTB of the corpus (every cluster, coarse), and of 1, 2, 4 and 8 independent two-DART consumers (cost
/// must grow linearly), under K68 (foreign registrations run in every cluster) and K616 (they do not). Executions,
/// traces and the explored/traces ratio per case come from `iommulab check --format json` on the same inputs.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 3)]
public class ExplorerBenchmarks
{
    private const string S1 = """
        /dts-v1/;
        / { #address-cells = <2>; #size-cells = <2>;
            soc { compatible = "simple-bus"; #address-cells = <2>; #size-cells = <2>; ranges;
                a: iommu@1000 { compatible = "apple,t8103-dart"; reg = <0x0 0x1000 0x0 0x1000>; #iommu-cells = <1>; };
                b: iommu@2000 { compatible = "apple,t8103-dart"; reg = <0x0 0x2000 0x0 0x1000>; #iommu-cells = <1>; };
                d: usb@3000 { compatible = "apple,t8103-dwc3"; reg = <0x0 0x3000 0x0 0x1000>; iommus = <&a 0>, <&b 1>; };
            };
        };
        """;

    private Platform _s1 = null!;
    private Platform _apple = null!;
    private readonly Dictionary<int, Platform> _independent = [];

    [GlobalSetup]
    public void Setup()
    {
        _s1 = Build(DeviceTreeLoader.Load(System.Text.Encoding.UTF8.GetBytes(S1), "s1.dts"));
        var largest = Corpus.AppleDtbs.OrderByDescending(p => new FileInfo(p).Length).First();
        _apple = Build(DeviceTreeLoader.LoadFile(largest));
        foreach (var n in new[] { 1, 2, 4, 8 })
        {
            _independent[n] = Build(DeviceTreeLoader.Load(System.Text.Encoding.UTF8.GetBytes(Independent(n)), $"independent-{n}.dts"));
        }

        // Executions, traces and explored/traces per case: `iommulab check --format json` (bench/RESULTS.md); this
        // setup runs in every benchmark process, so it only builds the platforms.
    }

    [Benchmark]
    public int S1Coarse() => Explore(_s1, Granularity.Coarse).Executions;

    [Benchmark]
    public int S1Fine() => Explore(_s1, Granularity.Fine, Profiles.K616).Executions;

    [Benchmark]
    public int S1CoarseK616() => Explore(_s1, Granularity.Coarse, Profiles.K616).Executions;

    [Benchmark]
    public int LargestAppleDtbCoarse() => Explore(_apple, Granularity.Coarse).Executions;

    [Benchmark]
    public int LargestAppleDtbCoarseK616() => Explore(_apple, Granularity.Coarse, Profiles.K616).Executions;

    [Benchmark]
    [Arguments(1)]
    [Arguments(2)]
    [Arguments(4)]
    [Arguments(8)]
    public int IndependentConsumers(int consumers) => Explore(_independent[consumers], Granularity.Coarse).Executions;

    [Benchmark]
    [Arguments(1)]
    [Arguments(2)]
    [Arguments(4)]
    [Arguments(8)]
    public int IndependentConsumersK616(int consumers) => Explore(_independent[consumers], Granularity.Coarse, Profiles.K616).Executions;

    // Fine S1 under K616 has more traces than a benchmark should run: it is measured on its first 2000 executions.
    internal static ProfileResult Explore(Platform p, Granularity g, Profile? profile = null) =>
        Explorer.Check(p, profile ?? Profiles.K68, new ExplorationOptions { Granularity = g, Minimize = false, Budget = g == Granularity.Fine ? 2000 : 100_000 });

    private static Platform Build(DeviceTree tree) =>
        DtPlatformBuilder.Build(tree, new PlatformKnobs(), []).Platform ?? throw new InvalidOperationException("platform");

    private static string Independent(int n) =>
        "/dts-v1/;\n/ { #address-cells = <2>; #size-cells = <2>;\n soc { compatible = \"simple-bus\"; #address-cells = <2>; #size-cells = <2>; ranges;\n"
        + string.Concat(Enumerable.Range(0, n).Select(i =>
            $"  a{i}: iommu@{i}1000 {{ compatible = \"apple,t8103-dart\"; reg = <0x0 0x{i}1000 0x0 0x1000>; #iommu-cells = <1>; }};\n"
            + $"  b{i}: iommu@{i}2000 {{ compatible = \"apple,t8103-dart\"; reg = <0x0 0x{i}2000 0x0 0x1000>; #iommu-cells = <1>; }};\n"
            + $"  d{i}: usb@{i}3000 {{ compatible = \"apple,t8103-dwc3\"; reg = <0x0 0x{i}3000 0x0 0x1000>; iommus = <&a{i} 0>, <&b{i} 1>; }};\n"))
        + " };\n};\n";
}
