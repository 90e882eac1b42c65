using System.CommandLine;
using IommuLab.Cli.Rendering;
using IommuLab.Firmware;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.Topology;

namespace IommuLab.Cli.Commands;

/// <summary>Output formats of <c>iommulab topology</c>.</summary>
public enum TopologyFormat
{
    Text,
    Json,
    Dot,
    Svg,
}

/// <summary><c>iommulab topology FILE [--format text|json|dot]</c>: the resolved IOMMU topology of a DTB or DTS.</summary>
public static class TopologyCommand
{
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
        var command = new Command("topology", "Decode the firmware IOMMU topology: providers, iommus references, iommu-map entries and problems")
        {
            file,
            format,
        };
        command.SetAction(parseResult =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            var error = parseResult.InvocationConfiguration.Error;
            var path = parseResult.GetValue(file)!;
            if (AcpiInput.IsAcpiTable(path))
            {
                var (table, terr) = AcpiInput.Load(path, FirmwareLimitOptions.Read(parseResult).Acpi);
                if (table is null)
                {
                    error.WriteLine(terr);
                    return CliApp.ExitBadInput;
                }

                if (parseResult.GetValue(format) != TopologyFormat.Text)
                {
                    error.WriteLine($"{path}: --format: expected text for an IORT/VIOT table (it has no other format), found {parseResult.GetValue(format).ToString().ToLowerInvariant()}");
                    return CliApp.ExitBadInput;
                }

                output.Write(IommuLab.Firmware.Acpi.AcpiTableText.Render(table));
                return 0;
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
            switch (parseResult.GetValue(format))
            {
                case TopologyFormat.Svg:
                    return TopologySvg.Write(topology, output, error);
                case TopologyFormat.Json:
                    TopologyJson.Write(topology, output);
                    break;
                case TopologyFormat.Dot:
                    TopologyDot.Write(topology, output);
                    break;
                default:
                    TopologyText.Write(topology, output);
                    break;
            }

            return 0;
        });
        return command;
    }
}
