using System.CommandLine;
using IommuLab.Cli.Rendering;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Model.Kernel;

namespace IommuLab.Cli.Commands;

/// <summary>`iommulab run FILE --profile P --schedule "..."`: one explicit event order to quiescence.</summary>
public static class RunCommand
{
    public const int ExitOk = 0;
    public const int ExitViolations = 1;
    public const int ExitBadInput = 2;

    public static Command Create(Func<string, DeviceTree> load)
    {
        var file = new Argument<string>("file") { Description = "Device tree (.dts, .dtb, or example:NAME), or an IORT/VIOT table (recognised by its signature)" };
        var profile = new Option<string>("--profile", "-p") { Description = "Profile name (see `iommulab profiles`)", DefaultValueFactory = _ => "K616" };
        var schedule = new Option<string>("--schedule", "-s") { Description = "Events in spec §0.3 notation: REG(x) BIND(x) PROBE(d) ADD(d) WORK LATE TIMEOUT LOAD(x) WAIT(seconds)", DefaultValueFactory = _ => "" };
        var set = new Option<string[]>("--set") { Description = "Override a switch: --set Switch=value (repeatable)", AllowMultipleArgumentsPerToken = false };
        var knob = new Option<string[]>("--knob") { Description = "Per-device knob: DEVICE.driver=builtin|module|absent, DEVICE.probe-fails=1, DART.locked=1, DART.bypass=0, DART.pgsize=N" };
        var pci = new Option<string[]>("--pci") { Description = "PCI functions behind a host bridge the DT does not describe, or in an ACPI PCI segment: [BRIDGE=|SEGMENT=]\"00:00.0 root-port -> 01; 01:00.0\" or [BRIDGE=|SEGMENT=]@FILE (docs/pci.md)", AllowMultipleArgumentsPerToken = false };
        var timeout = new Option<int?>("--deferred-probe-timeout") { Description = "deferred_probe_timeout= in seconds (default 10 with modules, 0 without; <0 never times out)" };
        var format = new Option<string>("--format") { Description = "text or json", DefaultValueFactory = _ => "text" };
        format.AcceptOnlyFromAmong("text", "json");
        var noModules = new Option<bool>("--no-modules") { Description = "CONFIG_MODULES=n (check_state returns -ENODEV once initcalls are done)" };
        var early = new Option<bool>("--before-late-initcall") { Description = "Start before late_initcall: triggers are no-ops until a LATE event" };
        var strict = new Option<bool>("--fw-devlink-strict") { Description = "fw_devlink.strict=1: IOMMUs are mandatory suppliers" };
        var manualWork = new Option<bool>("--manual-work") { Description = "Run queued deferred work only at WORK events (and at the end)" };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Also narrate the model's notes about devices without IOMMU references" };
        var cmd = new Command("run", "Run one explicit probe schedule to quiescence and show what the kernel did")
        {
            file, profile, schedule, set, knob, pci, format, noModules, early, strict, timeout, manualWork, verbose,
        };
        cmd.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var request = new RunRequest(
                parse.GetValue(file)!,
                parse.GetValue(profile)!,
                parse.GetValue(schedule) ?? "",
                parse.GetValue(set) ?? [],
                parse.GetValue(knob) ?? [],
                new PlatformKnobs
                {
                    Modules = !parse.GetValue(noModules),
                    AfterLateInitcall = !parse.GetValue(early),
                    FwDevlinkStrict = parse.GetValue(strict),
                    DeferredProbeTimeout = parse.GetValue(timeout),
                },
                new RunOptions { AutoWork = !parse.GetValue(manualWork) })
            {
                Pci = parse.GetValue(pci) ?? [],
            };
            var (result, err) = Execute(request, load);
            if (result is null)
            {
                error.WriteLine($"iommulab run: {err}");
                return ExitBadInput;
            }

            if (parse.GetValue(format) == "json")
            {
                RunJson.Write(output, request, result);
            }
            else
            {
                RunText.Write(output, result, parse.GetValue(verbose));
            }

            return result.Violations.Count > 0 ? ExitViolations : ExitOk;
        });
        return cmd;
    }

    /// <summary>The inputs of one run.</summary>
    public sealed record RunRequest(string File, string Profile, string Schedule, IReadOnlyList<string> Sets, IReadOnlyList<string> Knobs, PlatformKnobs PlatformKnobs, RunOptions Options)
    {
        /// <summary><c>--pci</c> lists, "[BRIDGE=]LIST" or "[BRIDGE=]@FILE".</summary>
        public IReadOnlyList<string> Pci { get; init; } = [];
    }

    /// <summary>Loads the firmware, builds the platform and profile, runs the schedule.</summary>
    public static (RunResult? Result, string? Error) Execute(RunRequest request, Func<string, DeviceTree> load)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(load);
        var profile = Profiles.Find(request.Profile);
        if (profile is null)
        {
            return (null, $"unknown profile '{request.Profile}' (one of {string.Join(", ", Profiles.All.Select(p => p.Name))})");
        }

        foreach (var s in request.Sets)
        {
            var (p, e) = profile.With(s);
            if (p is null)
            {
                return (null, e);
            }

            profile = p;
        }

        var (pciLists, pcierr) = PlatformInput.ResolvePci(request.Pci);
        if (pciLists is null)
        {
            return (null, pcierr);
        }

        var (platform, perr) = PlatformInput.Build(request.File, load, request.PlatformKnobs, request.Knobs, pciLists);
        if (platform is null)
        {
            return (null, perr);
        }

        var (events, serr) = ScheduleParser.Parse(request.Schedule, platform);
        if (events is null)
        {
            return (null, serr);
        }

        return (RunResult.Of(Execution.Run(platform, profile, events, request.Options)), null);
    }
}
