using System.CommandLine;
using System.Globalization;
using IommuLab.Firmware;

namespace IommuLab.Cli;

/// <summary>
/// The six limit switches (<c>--max-depth</c>, <c>--max-nodes</c>, <c>--max-property-size</c>, <c>--max-mappings</c>,
/// <c>--max-include-depth</c>, <c>--max-expression-depth</c>) of every command that reads firmware. A command adds them
/// with <see cref="AddTo"/> and reads them in its action with <see cref="Read"/>; the resulting
/// <see cref="FirmwareLimits"/> goes to <see cref="CliApp.LoadDeviceTree(string, FirmwareLimits)"/>, to
/// <c>AcpiTable.LoadFile(path, limits.Acpi)</c> or to <c>LintOptions.Limits</c>. Unset switches keep each format's default.
/// </summary>
public static class FirmwareLimitOptions
{
    /// <summary>Adds the six switches to <paramref name="command"/>.</summary>
    public static Command AddTo(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        foreach (var limit in Enum.GetValues<FirmwareLimit>())
        {
            command.Options.Add(Create(limit));
        }

        return command;
    }

    /// <summary>The limits given on the command line of <paramref name="parse"/> (the defaults when none is).</summary>
    public static FirmwareLimits Read(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        int? Get(FirmwareLimit limit) =>
            parse.CommandResult.Command.Options.Any(o => o.Name == FirmwareLimits.Switch(limit))
                ? parse.GetValue<int?>(FirmwareLimits.Switch(limit))
                : null;
        return new FirmwareLimits
        {
            MaxDepth = Get(FirmwareLimit.Depth),
            MaxNodes = Get(FirmwareLimit.Nodes),
            MaxPropertySize = Get(FirmwareLimit.PropertySize),
            MaxMappings = Get(FirmwareLimit.Mappings),
            MaxIncludeDepth = Get(FirmwareLimit.IncludeDepth),
            MaxExpressionDepth = Get(FirmwareLimit.ExpressionDepth),
        };
    }

    private static Option<int?> Create(FirmwareLimit limit)
    {
        var what = limit switch
        {
            FirmwareLimit.Depth => "Most levels of device-tree nodes, counting the root",
            FirmwareLimit.Nodes => "Most nodes (DTB nodes, DTS node bodies, IORT/VIOT nodes)",
            FirmwareLimit.PropertySize => "Largest device-tree property value in bytes (also bounds /incbin/)",
            FirmwareLimit.Mappings => "Most IORT ID mappings, VIOT endpoint nodes or iommu-map entries in one input",
            FirmwareLimit.IncludeDepth => "Deepest DTS /include/ nesting",
            _ => "Deepest nesting of one DTS integer expression",
        };
        var name = FirmwareLimits.Switch(limit);
        var option = new Option<int?>(name)
        {
            Description = $"{what} (default: {FirmwareLimits.DefaultFor(limit)})",
            HelpName = "N",
        };
        option.Validators.Add(result =>
        {
            var token = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
            if (result.GetValueOrDefault<int?>() is int v && v < 1)
            {
                result.AddError(string.Create(CultureInfo.InvariantCulture, $"{name}: expected a positive number, found {token}"));
            }
        });
        return option;
    }
}
