using System.CommandLine;
using IommuLab.Cli.Rendering;
using IommuLab.Firmware;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.Topology;
using IommuLab.Model.Kernel;

namespace IommuLab.Cli.Commands;

/// <summary>Output formats of <c>iommulab topology</c>.</summary>
public enum TopologyFormat
{
    Text,
    Json,
    Dot,
    Svg,
}

/// <summary>
/// <c>iommulab topology FILE [--format text|json|dot|svg] [--profile P] [--pci LIST]</c>: the resolved IOMMU topology
/// of a DTB, DTS, IORT or VIOT. The pictures (dot, svg) also draw the IOMMU groups of one canonical boot under the
/// profile (<see cref="TopologyGroups"/>).
/// </summary>
public static class TopologyCommand
{
    /// <summary>The profile the pictures' groups come from by default: the newest kernel modelled.</summary>
    public const string DefaultProfile = "K616";

    /// <param name="load">Reads a .dtb or .dts; throws <see cref="FirmwareFormatException"/> on bad input.</param>
    public static Command Create(Func<string, DeviceTree> load)
    {
        ArgumentNullException.ThrowIfNull(load);
        var file = new Argument<string>("FILE") { Description = "Device tree to decode (.dtb or .dts), or an IORT/VIOT table (recognised by its signature)" };
        var format = new Option<TopologyFormat>("--format")
        {
            Description = "Output format: text (report), json (docs/topology-json.md), dot (Graphviz source) or svg (through Graphviz dot)",
            DefaultValueFactory = _ => TopologyFormat.Text,
        };
        var profile = new Option<string>("--profile", "-p")
        {
            Description = $"dot/svg: the profile whose kernel computes the IOMMU groups drawn as clusters, from one boot with every IOMMU driver registered first, then each consumer probed, in tree order (default {DefaultProfile}, the newest kernel; see `iommulab profiles`)",
            DefaultValueFactory = _ => DefaultProfile,
        };
        var pci = new Option<string[]>("--pci")
        {
            Description = "dot/svg: PCI functions behind a host bridge or in an ACPI PCI segment, as for `run` (docs/pci.md)",
            AllowMultipleArgumentsPerToken = false,
        };
        var command = new Command("topology", "Decode the firmware IOMMU topology: providers, iommus references, iommu-map entries and problems; the dot/svg pictures also draw IOMMU groups as clusters")
        {
            file,
            format,
            profile,
            pci,
        };
        command.SetAction(parseResult =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            var error = parseResult.InvocationConfiguration.Error;
            var path = parseResult.GetValue(file)!;
            var fmt = parseResult.GetValue(format);
            Profile? prof = null;
            IReadOnlyList<string> pciLists = [];
            if (fmt is TopologyFormat.Dot or TopologyFormat.Svg)
            {
                var name = parseResult.GetValue(profile)!;
                prof = Profiles.Find(name);
                if (prof is null)
                {
                    error.WriteLine($"iommulab topology: --profile: unknown profile '{name}' (one of {string.Join(", ", Profiles.All.Select(p => p.Name))})");
                    return CliApp.ExitBadInput;
                }

                var (lists, perr) = PlatformInput.ResolvePci(parseResult.GetValue(pci) ?? []);
                if (lists is null)
                {
                    error.WriteLine($"iommulab topology: {perr}");
                    return CliApp.ExitBadInput;
                }

                pciLists = lists;
            }

            if (AcpiInput.IsAcpiTable(path))
            {
                var (table, terr) = AcpiInput.Load(path, FirmwareLimitOptions.Read(parseResult).Acpi);
                if (table is null)
                {
                    error.WriteLine(terr);
                    return CliApp.ExitBadInput;
                }

                if (fmt == TopologyFormat.Json)
                {
                    error.WriteLine($"{path}: --format: expected text, dot or svg for an IORT/VIOT table (it has no JSON form), found json");
                    return CliApp.ExitBadInput;
                }

                if (fmt == TopologyFormat.Text)
                {
                    output.Write(IommuLab.Firmware.Acpi.AcpiTableText.Render(table));
                    return 0;
                }

                var (acpiPlatform, aerr) = AcpiPlatformBuilder.Build(table, new PlatformKnobs(), [], pciLists);
                if (acpiPlatform is null)
                {
                    error.WriteLine($"iommulab topology: {aerr}");
                    return CliApp.ExitBadInput;
                }

                using var acpiDot = new StringWriter();
                var kind = table is IommuLab.Firmware.Acpi.Viot.ViotTable ? "VIOT" : "IORT";
                TopologyDot.WriteAcpi(table.Source, kind, TopologyGroups.Boot(acpiPlatform, prof!), acpiDot);
                return Picture(acpiDot.ToString(), fmt, output, error);
            }

            DeviceTree tree;
            try
            {
                tree = load(path);
            }
            catch (FirmwareFormatException ex)
            {
                error.WriteLine(ex.Message);
                return CliApp.ExitBadInput;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                error.WriteLine($"{path}: file: {ex.Message}");
                return CliApp.ExitBadInput;
            }

            var topology = IommuTopology.Decode(tree);
            switch (fmt)
            {
                case TopologyFormat.Svg:
                case TopologyFormat.Dot:
                    // A tree the platform builder refuses still gets its firmware picture; the label says why there are no groups.
                    var (platform, berr) = DtPlatformBuilder.Build(tree, new PlatformKnobs(), [], pciLists);
                    var groups = platform is null ? TopologyGroups.Failed(prof!, berr!) : TopologyGroups.Boot(platform, prof!);
                    using (var dot = new StringWriter())
                    {
                        TopologyDot.Write(topology, groups, dot);
                        return Picture(dot.ToString(), fmt, output, error);
                    }

                case TopologyFormat.Json:
                    TopologyJson.Write(topology, output);
                    break;
                default:
                    TopologyText.Write(topology, output);
                    break;
            }

            return 0;
        });
        return command;
    }

    private static int Picture(string dot, TopologyFormat format, TextWriter output, TextWriter error)
    {
        if (format == TopologyFormat.Svg)
        {
            return TopologySvg.Write(dot, output, error);
        }

        output.Write(dot);
        return 0;
    }
}
