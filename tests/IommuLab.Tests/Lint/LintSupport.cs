using System.CommandLine;
using System.Runtime.CompilerServices;
using IommuLab.Cli;
using IommuLab.Cli.Commands;
using IommuLab.Firmware.Lint;
using IommuLab.Firmware.Topology;

namespace IommuLab.Tests.Lint;

internal static class LintSupport
{
    public static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "lint", name);

    /// <summary>Runs <c>iommulab lint ARGS</c> in-process, as CliApp would once the command is registered.</summary>
    public static (int Exit, string Out, string Err) Run(params string[] args)
    {
        var root = new RootCommand("test") { LintCommand.Create(CliApp.LoadDeviceTree) };
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var exit = root.Parse(["lint", .. args]).Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
        return (exit, stdout.ToString(), stderr.ToString());
    }

    /// <summary>"rule severity path: message" lines, the shape the fixture tests assert.</summary>
    public static string Line(LintFinding f) => $"{f.RuleId} {Severities.Name(f.Severity)} {f.Location}: {f.Message}";

    public static string GoldenPath(string name, [CallerFilePath] string here = "") => Path.Combine(Path.GetDirectoryName(here)!, name);

    /// <summary>Compares with a golden file next to the tests; IOMMULAB_UPDATE_SNAPSHOTS=1 rewrites it.</summary>
    public static void AssertGolden(string name, string actual)
    {
        var golden = GoldenPath(name);
        if (Environment.GetEnvironmentVariable("IOMMULAB_UPDATE_SNAPSHOTS") == "1")
        {
            File.WriteAllText(golden, actual);
        }

        Assert.Equal(File.ReadAllText(golden), actual);
    }

    public static IEnumerable<LintFinding> Of(this IEnumerable<LintFinding> findings, string rule) => findings.Where(f => f.RuleId == rule);

    public static ProblemSeverity Sev(string name) => Severities.Parse(name)!.Value;
}
