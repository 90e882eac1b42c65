using IommuLab.Firmware.DeviceTree;

namespace IommuLab.Tests.DeviceTree;

/// <summary>A node's path is cached, yet follows every change of its name or of an ancestor's place in the tree.</summary>
public sealed class DtNodePathTests
{
    [Fact]
    public void A_cached_path_follows_renames_and_moves_of_the_node_and_its_ancestors()
    {
        var root = new DtNode("");
        var soc = new DtNode("soc");
        var bus = new DtNode("bus@1000");
        var dart = new DtNode("dart@2000");
        root.AddChild(soc);
        soc.AddChild(bus);
        bus.AddChild(dart);
        Assert.Equal("/soc/bus@1000/dart@2000", dart.Path);
        Assert.Same(dart.Path, dart.Path);

        bus.Name = "bus@3000";
        Assert.Equal("/soc/bus@3000/dart@2000", dart.Path);

        Assert.True(soc.RemoveChild(bus));
        Assert.Equal("/dart@2000", dart.Path);
        root.AddChild(bus);
        Assert.Equal("/bus@3000/dart@2000", dart.Path);

        dart.Name = "iommu@2000";
        Assert.Equal("/bus@3000/iommu@2000", dart.Path);
        Assert.Equal("/", root.Path);
        Assert.Equal("/soc", soc.Path);
    }
}
