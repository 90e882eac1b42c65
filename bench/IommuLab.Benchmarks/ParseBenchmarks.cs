using BenchmarkDotNet.Attributes;
using IommuLab.Firmware.DeviceTree;

namespace IommuLab.Benchmarks;

/// <summary>Full-tree DTB parse of the whole Debian sid corpus (1649 files) in one process.</summary>
[Config(typeof(SidThroughputConfig))]
[MemoryDiagnoser]
public class ParseBenchmarks
{
    private CorpusSet _corpus = null!;

    [GlobalSetup]
    public void Setup() => _corpus = CorpusSet.Sid();

    /// <summary>
    /// Every blob validated and read into a DeviceTree: all nodes, names, phandle index; each
    /// node's property list is built over the blob on first use.
    /// </summary>
    [Benchmark(Baseline = true)]
    public int ParseWholeSidCorpus()
    {
        var nodes = 0;
        foreach (var blob in _corpus.Blobs)
        {
            nodes += DtbReader.Read(blob, "bench").Root.Children.Count;
        }

        return nodes;
    }

    /// <summary>Parse, then build every node's property list (what a full walk of every value costs).</summary>
    [Benchmark]
    public long ParseAndMaterializeEveryProperty()
    {
        long props = 0;
        foreach (var blob in _corpus.Blobs)
        {
            foreach (var node in DtbReader.Read(blob, "bench").AllNodes())
            {
                props += node.Properties.Count;
            }
        }

        return props;
    }

    /// <summary>Parse, then write back in dtc's layout.</summary>
    [Benchmark]
    public long ParseAndWriteWholeSidCorpus()
    {
        long bytes = 0;
        foreach (var blob in _corpus.Blobs)
        {
            bytes += DtbWriter.Write(DtbReader.Read(blob, "bench")).Length;
        }

        return bytes;
    }
}
