using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.DeviceTree.Dts;

namespace IommuLab.Benchmarks;

/// <summary>
/// DTB -> DTS for the whole Debian sid corpus (1649 DTBs, ~114 MB) in one process, against the peer figure of
/// ~7.4 s wall for one <c>dtc -I dtb -O dts</c> per file on 2 cores. The MB/s column is DTB megabytes per second.
/// </summary>
/// <remarks>Not sealed: BenchmarkDotNet derives its generated runner from the benchmark class.</remarks>
[MemoryDiagnoser]
[Config(typeof(ThroughputConfig))]
public class DecompileBenchmarks
{
    private byte[][] _blobs = [];
    private DeviceTree[] _trees = [];
    private ArrayBufferWriter<byte> _buffer = new();

    [GlobalSetup]
    public void Setup()
    {
        _blobs = SidCorpus.Files().Select(File.ReadAllBytes).ToArray();
        _trees = _blobs.Select((b, i) => DtbReader.Read(b, i.ToString(CultureInfo.InvariantCulture))).ToArray();
        _buffer = new ArrayBufferWriter<byte>(4 << 20);
    }

    [Benchmark(Baseline = true, Description = "sid corpus: DtbReader.Read + DtsWriter.Write (UTF-8 buffer)")]
    public long ReadAndDecompile()
    {
        long total = 0;
        for (var i = 0; i < _blobs.Length; i++)
        {
            _buffer.ResetWrittenCount();
            DtsWriter.Write(DtbReader.Read(_blobs[i], "bench"), _buffer);
            total += _buffer.WrittenCount;
        }

        return total;
    }

    [Benchmark(Description = "sid corpus: DtsWriter.Write of parsed trees (UTF-8 buffer)")]
    public long Decompile()
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

    [Benchmark(Description = "sid corpus: DtsWriter.Write of parsed trees to string")]
    public long DecompileToString()
    {
        long total = 0;
        foreach (var tree in _trees)
        {
            total += DtsWriter.Write(tree).Length;
        }

        return total;
    }

    /// <summary>Adds the DTB-megabytes-per-second column.</summary>
    private sealed class ThroughputConfig : ManualConfig
    {
        public ThroughputConfig() => AddColumn(new ThroughputColumn());
    }

    /// <summary>Corpus DTB bytes divided by the mean time: comparable across machines and corpus versions.</summary>
    private sealed class ThroughputColumn : IColumn
    {
        private readonly Lazy<long> _corpusBytes = new(() => SidCorpus.Files().Sum(f => new FileInfo(f).Length));

        public string Id => nameof(ThroughputColumn);

        public string ColumnName => "DTB MB/s";

        public bool AlwaysShow => true;

        public ColumnCategory Category => ColumnCategory.Custom;

        public int PriorityInCategory => 0;

        public bool IsNumeric => true;

        public UnitType UnitType => UnitType.Dimensionless;

        public string Legend => "Megabytes (10^6) of corpus DTB decompiled per second";

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) =>
            GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var mean = summary[benchmarkCase]?.ResultStatistics?.Mean;
            return mean is double ns && ns > 0
                ? (_corpusBytes.Value / 1e6 / (ns / 1e9)).ToString("F0", CultureInfo.InvariantCulture)
                : "-";
        }

        public bool IsAvailable(Summary summary) => true;

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    }

    /// <summary>
    /// The sid DTBs, unpacked once into the same cache the tests use (temp/iommulab-corpus/&lt;hash&gt;); the
    /// corpus is found at $IOMMULAB_CORPUS or a "shared/corpus" folder above the benchmark binary.
    /// </summary>
    private static class SidCorpus
    {
        private const string Tarball = "debian-sid-7.2.13-arm64.tar.xz";

        public static string[] Files()
        {
            var tarball = Path.Combine(Root(), "dtb", Tarball);
            string hash;
            using (var s = File.OpenRead(tarball))
            {
                hash = Convert.ToHexString(SHA256.HashData(s))[..16];
            }

            var dest = Path.Combine(Path.GetTempPath(), "iommulab-corpus", hash);
            if (!File.Exists(Path.Combine(dest, ".complete")))
            {
                Directory.CreateDirectory(dest);
                using var tar = Process.Start(new ProcessStartInfo("tar", ["-xJf", tarball, "-C", dest]))
                    ?? throw new InvalidOperationException("cannot start tar");
                tar.WaitForExit();
                if (tar.ExitCode != 0)
                {
                    throw new InvalidOperationException($"tar -xJf {tarball} failed");
                }

                File.WriteAllText(Path.Combine(dest, ".complete"), tarball);
            }

            return Directory.GetFiles(dest, "*.dtb", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();
        }

        private static string Root()
        {
            var env = Environment.GetEnvironmentVariable("IOMMULAB_CORPUS");
            if (!string.IsNullOrEmpty(env))
            {
                return env;
            }

            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "shared", "corpus");
                if (Directory.Exists(candidate))
                {
                    return candidate;
                }
            }

            throw new DirectoryNotFoundException("corpus not found: set IOMMULAB_CORPUS or place it at ../shared/corpus");
        }
    }
}
