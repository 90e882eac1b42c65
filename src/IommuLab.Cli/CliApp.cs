using System.CommandLine;

namespace IommuLab.Cli;

/// <summary>Builds the command tree; kept apart from Main so tests can run commands in-process.</summary>
public static class CliApp
{
    /// <summary>Exit code for bad input or usage (the firmware could not be read, an option is wrong).</summary>
    public const int ExitBadInput = 2;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(args);
        var root = new RootCommand("IommuLab: an executable model of the Linux IOMMU firmware-binding path.");
        var config = new InvocationConfiguration { Output = stdout, Error = stderr };
        return root.Parse(args).Invoke(config);
    }
}
