using System.CommandLine;
using IommuLab.Cli.Commands;
using IommuLab.Cli.Examples;
using IommuLab.Firmware;
using IommuLab.Firmware.DeviceTree;

namespace IommuLab.Cli;

/// <summary>Builds the command tree; kept apart from Main so tests can run commands in-process.</summary>
public static class CliApp
{
    /// <summary>Exit code for bad input or usage (the firmware could not be read, an option is wrong).</summary>
    public const int ExitBadInput = 2;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(args);

        // With no arguments, show what the tool is for: every probe order of the built-in Apple example under
        // every profile. Finding the known kernel bugs is the expected result, so the demo exits 0.
        if (args.Length == 0)
        {
            stdout.WriteLine($"IommuLab: no arguments, so checking every probe order of the built-in Apple M1 example ({BuiltInExamples.Prefix}{BuiltInExamples.Default}) under every kernel profile.");
            stdout.WriteLine("Run 'iommulab --help' for the commands.");
            stdout.WriteLine();
            CheckCommand.RunDefault(stdout, LoadDeviceTree, showTime: false);
            return 0;
        }

        // Commands get a loader that applies the limit switches of the command line being run; it is only called
        // from actions, after parsing.
        ParseResult? parsed = null;
        DeviceTree Load(string path) => LoadDeviceTree(path, parsed is null ? FirmwareLimits.Default : FirmwareLimitOptions.Read(parsed));
        var root = new RootCommand("IommuLab: an executable model of the Linux IOMMU firmware-binding path.")
        {
            FirmwareLimitOptions.AddTo(TopologyCommand.Create(Load)),
            FirmwareLimitOptions.AddTo(DumpCommand.Create(Load)),
            FirmwareLimitOptions.AddTo(RunCommand.Create(Load)),
            ProfilesCommand.Create(),
            FirmwareLimitOptions.AddTo(LintCommand.Create(Load)),
            FirmwareLimitOptions.AddTo(CheckCommand.Create(Load)),
            FirmwareLimitOptions.AddTo(ReplayCommand.Create(Load)),
            FirmwareLimitOptions.AddTo(ScanCommand.Create()),
        };
        var config = new InvocationConfiguration { Output = stdout, Error = stderr };
        parsed = root.Parse(args);

        // Usage errors exit 2 everywhere: 1 is reserved for "findings" / "violations".
        if (parsed.Errors.Count > 0)
        {
            foreach (var e in parsed.Errors)
            {
                stderr.WriteLine(e.Message);
            }

            stderr.WriteLine("Run 'iommulab --help' for usage.");
            return ExitBadInput;
        }

        return parsed.Invoke(config);
    }

    /// <summary>Reads FILE (DTB or DTS) or a built-in <c>example:NAME</c>; failures are <see cref="FirmwareFormatException"/>.</summary>
    public static DeviceTree LoadDeviceTree(string path) => LoadDeviceTree(path, FirmwareLimits.Default);

    /// <summary>As <see cref="LoadDeviceTree(string)"/> under <paramref name="limits"/> (see <see cref="FirmwareLimitOptions"/>).</summary>
    public static DeviceTree LoadDeviceTree(string path, FirmwareLimits limits)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(limits);
        if (path.StartsWith(BuiltInExamples.Prefix, StringComparison.Ordinal))
        {
            var name = path[BuiltInExamples.Prefix.Length..];
            var bytes = BuiltInExamples.Read(name)
                ?? throw new FirmwareFormatException(path, "name", $"expected a built-in example ({string.Join(", ", BuiltInExamples.Names)}), found '{name}'");
            return DeviceTreeLoader.Load(bytes, path, limits);
        }

        return DeviceTreeLoader.LoadFile(path, limits);
    }
}
