using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.DeviceTree.Dts;

namespace IommuLab.Tests.Dts;

/// <summary>Every fixture under Fixtures/dts compiles to exactly the tree dtc 1.6.1 builds from it.</summary>
public sealed class DtsFixtureTests
{
    public static TheoryData<string> Fixtures()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(DtsTestSupport.FixtureDir, "*.dts").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(f));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Fixture_compiles_to_the_same_tree_as_dtc(string fixture)
    {
        var path = Path.Combine(DtsTestSupport.FixtureDir, fixture);
        var ours = DtsParser.ParseFile(path, new DtsParserOptions { IncludePaths = [Path.Combine(DtsTestSupport.FixtureDir, "include")] });
        var dtcs = DtsTestSupport.Dtc(path, "-i", Path.Combine(DtsTestSupport.FixtureDir, "include"));
        Assert.Null(DeviceTreeComparer.FirstDifference(ours, dtcs, compareHeader: true));
    }

    [Fact]
    public void There_are_fixtures_for_every_feature()
    {
        Assert.True(Fixtures().Count >= 15, $"only {Fixtures().Count} fixtures found in {DtsTestSupport.FixtureDir}");
    }
}
