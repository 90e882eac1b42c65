using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.Topology;
using IommuLab.Tests.Support;

namespace IommuLab.Tests.Topology;

/// <summary>Our hand-written DTS fixtures, compiled with dtc and read back with the DTB reader.</summary>
internal static class TopologyFixtures
{
    public static string PathOf(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "topology", name);

    public static IommuLab.Firmware.DeviceTree.DeviceTree Tree(string name)
    {
        var dtb = Tools.Dtc("-q", "-I", "dts", "-O", "dtb", PathOf(name));
        return DtbReader.Read(dtb, name);
    }

    public static IommuTopology Decode(string name) => IommuTopology.Decode(Tree(name));

    /// <summary>Reads a .dtb directly, or compiles a .dts with dtc first (what the CLI's loader does, for tests).</summary>
    public static IommuLab.Firmware.DeviceTree.DeviceTree Load(string path) =>
        path.EndsWith(".dts", StringComparison.Ordinal)
            ? DtbReader.Read(Tools.Dtc("-q", "-I", "dts", "-O", "dtb", path), Path.GetFileName(path))
            : DtbReader.Read(File.ReadAllBytes(path), Path.GetFileName(path));
}
