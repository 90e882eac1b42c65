using IommuLab.Firmware.DeviceTree;
using IommuLab.Tests.Support;
using Xunit.Abstractions;

namespace IommuLab.Tests.DeviceTree;

[Trait("Category", "Corpus")]
public sealed class DtbCorpusTests(ITestOutputHelper output)
{
    /// <summary>
    /// dtc-built blobs come back byte for byte. Blobs laid out by something else (the kernel's
    /// composite "-dtbs" boards are merged by fdtoverlay, whose libfdt appends strings in another
    /// order) come back exactly as `dtc -I dtb -O dtb` re-lays them out, with the same tree.
    /// </summary>
    [Fact]
    public void Every_corpus_dtb_parses_and_writes_back_in_dtc_layout()
    {
        var files = Corpus.AllDtbs;
        Assert.Equal(1649 + 97 + 3, files.Count);
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        long bytes = 0, nodes = 0, props = 0;
        int identical = 0, relaidOut = 0;
        Parallel.ForEach(files, new ParallelOptions { MaxDegreeOfParallelism = 4 }, path =>
        {
            var blob = File.ReadAllBytes(path);
            var tree = DtbReader.Read(blob, path);
            long n = 0, p = 0;
            foreach (var node in tree.AllNodes())
            {
                n++;
                p += node.Properties.Count;
            }

            Interlocked.Add(ref bytes, blob.Length);
            Interlocked.Add(ref nodes, n);
            Interlocked.Add(ref props, p);
            var back = DtbWriter.Write(tree);
            if (back.AsSpan().SequenceEqual(blob))
            {
                Interlocked.Increment(ref identical);
                return;
            }

            var dtcLayout = Tools.Dtc("-q", "-I", "dtb", "-O", "dtb", path);
            var diff = DeviceTreeComparer.FirstDifference(tree, DtbReader.Read(back, "rewritten"));
            if (back.AsSpan().SequenceEqual(dtcLayout) && diff is null)
            {
                Interlocked.Increment(ref relaidOut);
            }
            else
            {
                failures.Add($"{path}: rewritten blob is neither the input nor dtc's layout ({diff ?? "same tree"})");
            }
        });

        output.WriteLine($"{files.Count} DTBs, {bytes} bytes, {nodes} nodes, {props} properties: "
            + $"{identical} identical after write(read(x)), {relaidOut} equal to dtc's re-layout (not built by dtc)");
        Assert.True(failures.IsEmpty, string.Join('\n', failures.Order().Take(10)));
        Assert.Equal(files.Count, identical + relaidOut);
    }

    [Fact]
    public void Apple_t8103_j274_has_the_expected_shape()
    {
        var tree = DtbReader.ReadFile(Corpus.Apple("t8103-j274.dtb"));
        Assert.Equal("/", tree.Root.Path);
        Assert.Equal("Apple Mac mini (M1, 2020)", tree.Root.FindProperty("model")!.GetString());
        var usb = tree.FindByPath("/soc/usb@382280000");
        Assert.NotNull(usb);
        Assert.Equal("apple,t8103-dwc3", usb.FindProperty("compatible")!.GetString());
    }
}
