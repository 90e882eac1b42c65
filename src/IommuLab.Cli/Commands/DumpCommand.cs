using System.CommandLine;
using IommuLab.Firmware;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.DeviceTree.Dts;

namespace IommuLab.Cli.Commands;

/// <summary><c>iommulab dump FILE [-O dts|dtb] [-o OUT]</c>: decompile (or recompile) a device tree like dtc does.</summary>
public static class DumpCommand
{
    public static Command Create(Func<string, DeviceTree> load)
    {
        ArgumentNullException.ThrowIfNull(load);
        var file = new Argument<string>("FILE") { Description = "A .dtb or .dts file, or example:NAME" };
        var format = new Option<string>("--out-format", "-O")
        {
            Description = "dts (dtc -O dts style text) or dtb (dtc's binary layout)",
            DefaultValueFactory = _ => "dts",
        };
        format.AcceptOnlyFromAmong("dts", "dtb");
        var output = new Option<string?>("--output", "-o") { Description = "Write to this file instead of standard output (required for dtb)" };
        var command = new Command("dump", "Print a device tree as DTS source, as `dtc -I dtb -O dts` would, or write it as a DTB.")
        {
            file, format, output,
        };
        command.SetAction(parse =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            try
            {
                var tree = load(parse.GetValue(file)!);
                var outPath = parse.GetValue(output);
                if (parse.GetValue(format) == "dtb")
                {
                    if (outPath is null)
                    {
                        stderr.WriteLine("iommulab dump: -O dtb: expected an output file (-o FILE) for the binary DTB, found none: it is not written to a terminal");
                        return CliApp.ExitBadInput;
                    }

                    File.WriteAllBytes(outPath, DtbWriter.Write(tree));
                    return 0;
                }

                if (outPath is null)
                {
                    DtsWriter.Write(tree, stdout);
                }
                else
                {
                    File.WriteAllText(outPath, DtsWriter.Write(tree));
                }

                return 0;
            }
            catch (FirmwareFormatException ex)
            {
                stderr.WriteLine(ex.Message);
                return CliApp.ExitBadInput;
            }
            catch (IOException ex)
            {
                stderr.WriteLine($"iommulab dump: {parse.GetValue(output)}: cannot write the output: {ex.Message}");
                return CliApp.ExitBadInput;
            }
        });
        return command;
    }
}
