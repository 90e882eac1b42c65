using System.CommandLine;
using IommuLab.Cli.Examples;
using IommuLab.Cli.Rendering;
using IommuLab.Firmware;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.Lint;
using IommuLab.Model.Kernel;
using IommuLab.Model.Lint;

namespace IommuLab.Cli.Commands;

/// <summary>Output formats of <c>iommulab lint</c>.</summary>
public enum LintFormat
{
    Text,
    Json,
    Sarif,
}

/// <summary>
/// <c>iommulab lint FILE|DIR... [--format text|json|sarif] [--fail-on info|warning|error] [--profile P]...</c>:
/// static firmware findings that dtc and dt-schema do not catch. Exit 1 when a finding is at or above
/// <c>--fail-on</c>, 0 otherwise, 2 on bad usage.
/// </summary>
public static class LintCommand
{
    public const int ExitClean = 0;
    public const int ExitFindings = 1;

    /// <param name="load">Reads <c>example:NAME</c> inputs (files are read by the linter itself).</param>
    public static Command Create(Func<string, DeviceTree> load)
    {
        ArgumentNullException.ThrowIfNull(load);
        var inputs = new Argument<string[]>("INPUT")
        {
            Description = "Files (.dtb, .dts, IORT/VIOT tables), directories (searched recursively) or example:NAME",
            Arity = ArgumentArity.OneOrMore,
        };
        // Strings checked in the action rather than parser-validated, so a bad value exits 2 (usage), not the
        // parser's 1, which lint reserves for "findings at or above --fail-on".
        var format = new Option<string>("--format") { Description = "text, json (docs/lint.md) or sarif (SARIF 2.1.0)", DefaultValueFactory = _ => "text" };
        var failOn = new Option<string>("--fail-on") { Description = "Exit 1 when a finding is at or above this severity: info, warning or error", DefaultValueFactory = _ => "error" };
        var profile = new Option<string[]>("--profile", "-p") { Description = "Check the per-profile rules under this profile only (repeatable; default: every profile)" };
        var jobs = new Option<string?>("--jobs", "-j") { Description = "Files linted in parallel (default: the number of cores)" };
        var command = new Command("lint", "Static firmware findings (DT and IORT/VIOT) that dtc and dt-schema do not catch, with fix hints")
        {
            inputs, format, failOn, profile, jobs,
        };
        command.SetAction(parse =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            if (!Enum.TryParse<LintFormat>(parse.GetValue(format), ignoreCase: true, out var outputFormat) || !Enum.IsDefined(outputFormat))
            {
                stderr.WriteLine($"iommulab lint: --format must be text, json or sarif, not '{parse.GetValue(format)}'");
                return CliApp.ExitBadInput;
            }

            if (Severities.Parse(parse.GetValue(failOn) ?? "") is not { } threshold)
            {
                stderr.WriteLine($"iommulab lint: --fail-on must be info, warning or error, not '{parse.GetValue(failOn)}'");
                return CliApp.ExitBadInput;
            }

            var parallelism = Environment.ProcessorCount;
            if (parse.GetValue(jobs) is { } jobsText && (!int.TryParse(jobsText, System.Globalization.CultureInfo.InvariantCulture, out parallelism) || parallelism < 1))
            {
                stderr.WriteLine($"iommulab lint: --jobs must be a positive number, not '{jobsText}'");
                return CliApp.ExitBadInput;
            }

            var profiles = new List<Profile>();
            foreach (var name in parse.GetValue(profile) ?? [])
            {
                if (Profiles.Find(name) is not { } p)
                {
                    stderr.WriteLine($"iommulab lint: unknown profile '{name}' (one of {string.Join(", ", Profiles.All.Select(x => x.Name))})");
                    return CliApp.ExitBadInput;
                }

                profiles.Add(p);
            }

            if (profiles.Count == 0)
            {
                profiles.AddRange(Profiles.All);
            }

            var given = parse.GetValue(inputs) ?? [];
            foreach (var path in given)
            {
                if (path.StartsWith(BuiltInExamples.Prefix, StringComparison.Ordinal))
                {
                    if (BuiltInExamples.Read(path[BuiltInExamples.Prefix.Length..]) is null)
                    {
                        stderr.WriteLine($"iommulab lint: {path}: name: expected a built-in example ({string.Join(", ", BuiltInExamples.Names)}), found '{path[BuiltInExamples.Prefix.Length..]}'");
                        return CliApp.ExitBadInput;
                    }
                }
                else if (!File.Exists(path) && !Directory.Exists(path))
                {
                    stderr.WriteLine($"iommulab lint: {path}: file: expected a file or a directory, found no such file or directory");
                    return CliApp.ExitBadInput;
                }
            }

            var options = new LintOptions { Profiles = profiles.Distinct().ToList(), Limits = FirmwareLimitOptions.Read(parse) };
            var files = LintInputs.Expand(given);
            var reports = Linter.LintMany(files, f => LintOne(f, load, options), parallelism);
            var run = new LintRun([.. options.Profiles.Select(p => p.Name)], threshold);
            switch (outputFormat)
            {
                case LintFormat.Json:
                    LintJson.Write(reports, run, stdout);
                    break;
                case LintFormat.Sarif:
                    LintSarif.Write(reports, run, stdout);
                    break;
                default:
                    LintText.Write(reports, run, stdout);
                    break;
            }

            return reports.Any(r => r.Findings.Any(f => f.Severity >= threshold)) ? ExitFindings : ExitClean;
        });
        return command;
    }

    /// <summary>One input: a built-in example through <paramref name="load"/>, anything else through the linter.</summary>
    private static LintReport LintOne(string input, Func<string, DeviceTree> load, LintOptions options)
    {
        if (!input.StartsWith(BuiltInExamples.Prefix, StringComparison.Ordinal))
        {
            return Linter.LintFile(input, options);
        }

        try
        {
            return Linter.LintTree(load(input), input, options) with { Kind = LintInputKind.Dts };
        }
        catch (FirmwareFormatException ex)
        {
            return new LintReport(input, LintInputKind.Unreadable,
                [FirmwareLint.Make(FirmwareLintRules.FirmwareMalformed, Firmware.Topology.ProblemSeverity.Error, input, null, ex.Message)]);
        }
    }
}
