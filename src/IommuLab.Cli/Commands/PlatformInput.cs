using IommuLab.Firmware;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Model.Kernel;

namespace IommuLab.Cli.Commands;

/// <summary>
/// Builds the kernel platform of one input, whatever it is: a device tree (.dtb, .dts, example:NAME) or an IORT/VIOT
/// table (recognised by its signature), so `run`, `check` and `replay` accept the same files.
/// </summary>
public static class PlatformInput
{
    /// <summary>
    /// Resolves `--pci` arguments "[BRIDGE=|SEGMENT=]LIST" or "[BRIDGE=|SEGMENT=]@FILE" to their lists, reading the
    /// files, so what is recorded (in a trace) does not depend on files beside it.
    /// </summary>
    public static (IReadOnlyList<string>? Lists, string? Error) ResolvePci(IEnumerable<string> raw)
    {
        ArgumentNullException.ThrowIfNull(raw);
        var lists = new List<string>();
        foreach (var p in raw)
        {
            var eq = p.IndexOf('=', StringComparison.Ordinal);
            var (host, list) = eq > 0 ? (p[..(eq + 1)], p[(eq + 1)..]) : ("", p);
            if (list.StartsWith('@'))
            {
                try
                {
                    list = File.ReadAllText(list[1..]);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    return (null, $"--pci: {ex.Message}");
                }
            }

            lists.Add(host + list);
        }

        return (lists, null);
    }

    /// <summary>
    /// The platform of <paramref name="file"/>: ACPI tables go through <see cref="AcpiPlatformBuilder"/>, everything
    /// else is loaded as a device tree by <paramref name="load"/> and goes through <see cref="DtPlatformBuilder"/>.
    /// A malformed input is the parser's message (file, offset or path, what was expected).
    /// </summary>
    public static (Platform? Platform, string? Error) Build(string file, Func<string, DeviceTree> load, PlatformKnobs knobs, IReadOnlyList<string> deviceKnobs, IReadOnlyList<string> pci)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(load);
        if (AcpiInput.IsAcpiTable(file))
        {
            var (table, terr) = AcpiInput.Load(file);
            return table is null ? (null, terr) : AcpiPlatformBuilder.Build(table, knobs, deviceKnobs, pci);
        }

        DeviceTree tree;
        try
        {
            tree = load(file);
        }
        catch (Exception ex) when (ex is FirmwareFormatException or IOException or UnauthorizedAccessException)
        {
            return (null, ex.Message);
        }

        return DtPlatformBuilder.Build(tree, knobs, deviceKnobs, pci);
    }
}
