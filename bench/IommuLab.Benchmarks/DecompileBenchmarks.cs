using System.Buffers;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.DeviceTree.Dts;

namespace IommuLab.Benchmarks;

/// <summary>
/// DTB -> DTS (dtc 1.6.1's text, byte for byte) for the whole Debian sid corpus (1649 DTBs, ~114 MB) in one
/// process, against the peer figure of ~7.4 s wall for one <c>dtc -I dtb -O dts</c> per file on 2 cores.
/// MB/s is DTB megabytes per second.
/// </summary>
/// <remarks>Not sealed: BenchmarkDotNet derives its generated runner from the benchmark class.</remarks>
[Config(typeof(SidThroughputConfig))]
[MemoryDiagnoser]
public class DecompileBenchmarks
{
    private CorpusSet _corpus = null!;
    private DeviceTree[] _trees = [];
    private ArrayBufferWriter<byte> _buffer = new();

    [GlobalSetup]
    public void Setup()
    {
        _corpus = CorpusSet.Sid();
        _trees = _corpus.Blobs.Select((b, i) => DtbReader.Read(b, i.ToString(CultureInfo.InvariantCulture))).ToArray();
        foreach (var node in _trees.SelectMany(t => t.AllNodes()))
        {
            _ = node.Properties.Count;
        }

        _buffer = new ArrayBufferWriter<byte>(4 << 20);
    }

    /// <summary>The whole job from blobs in memory: read each DTB, write its DTS as UTF-8 into one reused buffer.</summary>
    [Benchmark(Baseline = true)]
    public long ReadAndDecompileWholeSidCorpus()
    {
        long total = 0;
        foreach (var blob in _corpus.Blobs)
        {
            _buffer.ResetWrittenCount();
            DtsWriter.Write(DtbReader.Read(blob, "bench"), _buffer);
            total += _buffer.WrittenCount;
        }

        return total;
    }

    /// <summary>The writer alone, over trees read in setup (their property lists already built).</summary>
    [Benchmark]
    public long DecompileParsedTrees()
    {
        long total = 0;
        foreach (var tree in _trees)
        {
            _buffer.ResetWrittenCount();
            DtsWriter.Write(tree, _buffer);
            total += _buffer.WrittenCount;
        }

        return total;
    }

    /// <summary>The convenience API: one string per tree (UTF-8 buffer, then a UTF-16 copy).</summary>
    [Benchmark]
    public long DecompileParsedTreesToStrings()
    {
        long total = 0;
        foreach (var tree in _trees)
        {
            total += DtsWriter.Write(tree).Length;
        }

        return total;
    }
}
