using IommuLab.Firmware.DeviceTree;
using IommuLab.Model.Kernel;

namespace IommuLab.Tests.Support;

/// <summary>Generated test trees: nodes placed under one simple-bus with 2-cell addresses and sizes.</summary>
internal static class SocTree
{
    public static string Dts(string nodes) => $$"""
        /dts-v1/;
        / {
            #address-cells = <2>;
            #size-cells = <2>;
            soc {
                compatible = "simple-bus";
                #address-cells = <2>;
                #size-cells = <2>;
                ranges;
        {{nodes}}
            };
        };
        """;

    /// <summary>The platform the model builds from <see cref="Dts"/>, with per-device knobs.</summary>
    public static Platform Platform(string nodes, string name, IReadOnlyList<string>? knobs = null)
    {
        var tree = DeviceTreeLoader.Load(System.Text.Encoding.UTF8.GetBytes(Dts(nodes)), name);
        var (p, e) = DtPlatformBuilder.Build(tree, new PlatformKnobs(), knobs ?? []);
        return p ?? throw new InvalidOperationException(e);
    }
}
