using System.Collections.Concurrent;
using System.Diagnostics;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.DeviceTree.Dts;
using IommuLab.Tests.Support;
using Xunit.Abstractions;

namespace IommuLab.Tests.Dts;

[Trait("Category", "Corpus")]
public sealed class DtsCorpusTests(ITestOutputHelper output)
{
    /// <summary>
    /// For every sid and Apple DTB: dtc decompiles it to source, we compile that source, and the
    /// result must be the original blob's tree (dtc's decompiled phandles, byte strings and string
    /// escapes all have to come back exactly).
    /// </summary>
    [Fact]
    public void Every_corpus_dtb_decompiled_by_dtc_compiles_back_to_the_same_tree()
    {
        var files = Corpus.SidDtbs.Concat(Corpus.AppleDtbs).ToArray();
        Assert.Equal(1649 + 97, files.Length);
        var failures = new ConcurrentBag<string>();
        long chars = 0;
        var lossy = 0;
        long parseTicks = 0;
        var wall = Stopwatch.StartNew();
        Parallel.ForEach(files, new ParallelOptions { MaxDegreeOfParallelism = 4 }, path =>
        {
            try
            {
                var source = System.Text.Encoding.UTF8.GetString(Tools.Dtc("-q", "-I", "dtb", "-O", "dts", path));
                var original = DtbReader.ReadFile(path);
                var started = Stopwatch.GetTimestamp();
                var compiled = DtsParser.Parse(source, path + ".dts");
                Interlocked.Add(ref parseTicks, Stopwatch.GetTimestamp() - started);
                Interlocked.Add(ref chars, source.Length);
                if (DeviceTreeComparer.FirstDifference(compiled, original, compareHeader: true) is not string diff)
                {
                    return;
                }

                // dtc 1.6.1 writes a NUL followed by a digit as "\0" + digit, which reads back as one
                // octal escape: its own source does not round-trip. There the reference is what dtc
                // compiles from the same text, and it must differ from the original as well.
                using var dir = new DtsTestSupport.TempDir();
                var dtsPath = dir.Write("decompiled.dts", source);
                var recompiled = DtbReader.Read(Tools.Dtc("-q", "-I", "dts", "-O", "dtb", dtsPath), dtsPath);
                // Header not compared here: dtc 1.6.1 guesses boot_cpuid_phys from the first /cpus child's reg
                // when compiling source; we keep 0, like the kernel-built originals.
                if (DeviceTreeComparer.FirstDifference(compiled, recompiled) is string dtcDiff)
                {
                    failures.Add($"{path}: differs from dtc's compile of its own decompiled source: {dtcDiff}");
                }
                else
                {
                    Interlocked.Increment(ref lossy);
                }
            }
            catch (Firmware.FirmwareFormatException e)
            {
                failures.Add($"{path}: {e.Message}");
            }
        });

        output.WriteLine($"{files.Length} DTBs checked ({files.Length - lossy - failures.Count} equal to the original blob, "
            + $"{lossy} equal to dtc's own recompile where dtc's decompiled source is lossy), {chars / 1_000_000.0:F1} M characters of source, "
            + $"parse time {Stopwatch.GetElapsedTime(0, parseTicks).TotalSeconds:F1} s (summed over workers), wall {wall.Elapsed.TotalSeconds:F1} s");
        Assert.True(failures.IsEmpty, $"{failures.Count} of {files.Length} differ:\n" + string.Join('\n', failures.Order().Take(5)));
    }
}
