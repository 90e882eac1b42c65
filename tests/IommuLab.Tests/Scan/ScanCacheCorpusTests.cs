using System.Text;
using IommuLab.Cli.Commands;
using IommuLab.Cli.Rendering;
using IommuLab.Model.Scan;
using IommuLab.Tests.Support;

namespace IommuLab.Tests.Scan;

/// <summary>
/// On real firmware, exploring each cluster on its restricted platform and reusing identical clusters' results
/// gives the bytes the whole-platform, uncached scan gives, with one job or two.
/// </summary>
public sealed class ScanCacheCorpusTests
{
    [Fact]
    [Trait("Category", "Corpus")]
    public void Corpus_files_scan_to_the_same_bytes_restricted_or_whole_cached_or_not_with_one_job_or_two()
    {
        // Boards sharing an SoC (cache hits), every 100th sid DTB, Apple two-DART trees, the QEMU trees (PCI behind
        // iommu-map, a PCIe expander, virtio-iommu) and laptop IORT tables.
        var sid = Corpus.SidDtbs;
        var files = sid.Where(p => Path.GetFileName(p).StartsWith("sc7180-", StringComparison.Ordinal)).Take(4)
            .Concat(sid.Where(p => Path.GetFileName(p).StartsWith("rk3399-", StringComparison.Ordinal)).Take(3))
            .Concat(sid.Where((_, i) => i % 100 == 0))
            .Concat(Corpus.AppleDtbs.Where(p => Path.GetFileName(p).StartsWith("t600", StringComparison.Ordinal)).Take(3))
            .Concat(Corpus.QemuDtbs)
            .Concat(Corpus.IortFiles("laptops").Take(3))
            .Distinct(StringComparer.Ordinal)
            .ToList();
        var options = new ScanOptions { ExhaustiveBudget = CorpusScan.Budget, SampleBudget = CorpusScan.Sample, Jobs = 2 };
        string Render(ScanOptions o, ScanCache? cache = null) => CorpusScan.Render(files, o, options, cache);

        var whole = Render(options with { BootWholePlatform = true, Memoize = false });
        var cache = new ScanCache();
        Assert.Equal(whole, Render(options, cache));
        Assert.True(cache.Hits > 0, "boards of one SoC share clusters");
        Assert.Equal(whole, Render(options with { Jobs = 1 }));
        Assert.Equal(whole, Render(options with { Memoize = false }));
        Assert.Contains("files with violations", whole, StringComparison.Ordinal);
    }
}
