using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.Topology;
using IommuLab.Tests.Support;
using Xunit.Abstractions;

namespace IommuLab.Tests.Topology;

[Trait("Category", "Corpus")]
public sealed class TopologyCorpusTests(ITestOutputHelper output)
{
    private static IommuTopology DecodeFile(string path) => IommuTopology.Decode(DtbReader.Read(File.ReadAllBytes(path), Path.GetFileName(path)));

    [Fact]
    public void T8103_j274_lists_both_dwc3_controllers_with_two_dart_references_each()
    {
        var topo = DecodeFile(Corpus.Apple("t8103-j274.dtb"));
        var dwc3 = topo.Consumers.Where(c => c.Compatible.Contains("apple,t8103-dwc3")).ToList();
        Assert.Equal(2, dwc3.Count);
        foreach (var c in dwc3)
        {
            Assert.Equal(2, c.References.Count);
            Assert.Equal(2, c.DistinctTargets.Count);
            Assert.All(c.References, r => Assert.Contains("apple,t8103-dart", topo.Provider(r.TargetPath)!.Compatible));
            Assert.Equal(IommusEndReason.EndOfList, c.End.Reason);
        }
    }

    [Fact]
    public void Whole_corpus_decodes_and_sid_figures_match_the_corpus_readme()
    {
        int withConsumer = 0, withMap = 0, providers = 0, consumers = 0, disabledConsumers = 0, toDisabled = 0, multi = 0;
        var multiNames = new List<string>();
        foreach (var path in Corpus.SidDtbs)
        {
            var t = DecodeFile(path);
            var c = t.Counts;
            withConsumer += c.Consumers > 0 ? 1 : 0;
            withMap += c.MapUsers > 0 ? 1 : 0;
            providers += c.Providers;
            consumers += c.Consumers;
            disabledConsumers += c.DisabledConsumers;
            toDisabled += c.EnabledConsumersReferencingDisabledProvider;
            multi += c.MultiInstanceConsumers;
            multiNames.AddRange(t.Consumers.Where(x => x.DistinctTargets.Count > 1).Select(x => Path.GetFileName(path) + ":" + x.Path));
        }

        output.WriteLine($"sid: {withConsumer} with iommus, {withMap} with iommu-map, {providers} providers, {consumers} consumers "
            + $"({disabledConsumers} disabled), {toDisabled} enabled->disabled, {multi} multi-instance");
        foreach (var name in multiNames)
        {
            output.WriteLine("  multi: " + name);
        }

        Assert.Equal(1649, Corpus.SidDtbs.Count);
        Assert.Equal(889, withConsumer);
        Assert.Equal(409, withMap);
        Assert.Equal(4013, providers);
        Assert.Equal(13664, consumers);
        Assert.Equal(2150, disabledConsumers);
        Assert.Equal(100, toDisabled);
        Assert.Equal(6, multi);
    }

    [Fact]
    public void Apple_and_qemu_corpus_decode_and_apple_has_80_multi_dart_consumers()
    {
        var multi = 0;
        foreach (var path in Corpus.AppleDtbs)
        {
            var t = DecodeFile(path);
            multi += t.Consumers.Count(c => c.DistinctTargets.Count > 1
                && c.DistinctTargets.All(d => t.Provider(d)!.Compatible.Any(s => s.Contains("dart", StringComparison.Ordinal))));
        }

        foreach (var path in Corpus.QemuDtbs)
        {
            Assert.NotNull(DecodeFile(path));
        }

        output.WriteLine($"apple multi-DART consumers: {multi}");
        Assert.Equal(80, multi);
    }
}
