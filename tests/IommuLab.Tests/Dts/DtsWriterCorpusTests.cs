using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.DeviceTree.Dts;
using IommuLab.Tests.Support;
using Xunit.Abstractions;

namespace IommuLab.Tests.Dts;

[Trait("Category", "Corpus")]
public sealed class DtsWriterCorpusTests(ITestOutputHelper output)
{
    /// <summary>
    /// Every corpus DTB decompiles to exactly dtc's text, and that text compiled back by dtc is the same tree,
    /// except where dtc's own text is ambiguous (see <see cref="DtsWriterOctalQuirkTests"/>): there the recompiled
    /// tree must be exactly the one that quirk predicts.
    /// </summary>
    [Fact]
    public void Every_corpus_dtb_decompiles_byte_for_byte_as_dtc_does_and_compiles_back_to_the_same_tree()
    {
        var files = Corpus.AllDtbs;
        Assert.Equal(1649 + 97 + 3, files.Count);
        var textDiffs = new ConcurrentBag<(string Path, string Diff)>();
        var treeDiffs = new ConcurrentBag<(string Path, string Diff)>();
        int identical = 0, sameTree = 0, octalQuirk = 0;
        var wall = Stopwatch.StartNew();
        Parallel.ForEach(files, new ParallelOptions { MaxDegreeOfParallelism = 4 }, path =>
        {
            var tree = DtbReader.Read(File.ReadAllBytes(path), path);
            var ours = Encoding.UTF8.GetBytes(DtsWriter.Write(tree));
            var dtc = Tools.Dtc("-q", "-I", "dtb", "-O", "dts", path);
            if (ours.AsSpan().SequenceEqual(dtc))
            {
                Interlocked.Increment(ref identical);
            }
            else
            {
                textDiffs.Add((path, FirstDifferingLine(dtc, ours)));
            }

            // The header's boot CPU is not DTS content: without -b dtc guesses it from the first cpu's reg.
            var bootCpu = tree.BootCpuId.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var back = Tools.Run("dtc", ["-q", "-I", "dts", "-O", "dtb", "-b", bootCpu, "-"], ours);
            if (back.ExitCode != 0)
            {
                treeDiffs.Add((path, $"dtc rejects our text: {back.Stderr.Trim()}"));
                return;
            }

            var recompiled = DtbReader.Read(back.Stdout, "recompiled");
            if (DeviceTreeComparer.FirstDifference(tree, recompiled, compareHeader: true) is null)
            {
                Interlocked.Increment(ref sameTree);
                return;
            }

            // The known loss, and only it: dtc reads its own "\0" followed by an octal digit as one escape.
            var expected = DtbReader.Read(File.ReadAllBytes(path), path);
            foreach (var property in expected.AllNodes().SelectMany(n => n.Properties))
            {
                if (DtsWriter.GuessKind(property.Value.Span) == DtsWriter.ValueKind.Strings)
                {
                    property.Value = DtsWriterOctalQuirkTests.AsDtcReadsItBack(property.Value.Span);
                }
            }

            if (DeviceTreeComparer.FirstDifference(expected, recompiled, compareHeader: true) is string unexplained)
            {
                treeDiffs.Add((path, unexplained));
            }
            else
            {
                Interlocked.Increment(ref octalQuirk);
            }
        });
        wall.Stop();

        output.WriteLine($"{files.Count} DTBs compared with dtc -I dtb -O dts: {identical} identical; "
            + $"recompiled by dtc, {sameTree} give the same tree and {octalQuirk} the tree dtc's octal-escape quirk predicts "
            + $"({wall.Elapsed.TotalSeconds:F1} s with dtc)");
        Assert.True(textDiffs.IsEmpty, $"{textDiffs.Count} differ from dtc:\n"
            + string.Join('\n', textDiffs.OrderBy(d => d.Path, StringComparer.Ordinal).Take(10).Select(d => $"{d.Path}: {d.Diff}")));
        Assert.True(treeDiffs.IsEmpty, $"{treeDiffs.Count} recompile to an unexplained tree:\n"
            + string.Join('\n', treeDiffs.OrderBy(d => d.Path, StringComparer.Ordinal).Take(10).Select(d => $"{d.Path}: {d.Diff}")));
        Assert.Equal(files.Count, identical);
        Assert.Equal(files.Count, sameTree + octalQuirk);
    }

    private static string FirstDifferingLine(byte[] expected, byte[] actual)
    {
        var e = Encoding.UTF8.GetString(expected).Split('\n');
        var a = Encoding.UTF8.GetString(actual).Split('\n');
        for (var i = 0; i < Math.Max(e.Length, a.Length); i++)
        {
            var el = i < e.Length ? e[i] : "<end>";
            var al = i < a.Length ? a[i] : "<end>";
            if (el != al)
            {
                return $"line {i + 1}: dtc '{el}' vs ours '{al}'";
            }
        }

        return "same lines";
    }
}
