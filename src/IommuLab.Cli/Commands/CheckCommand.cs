using System.CommandLine;
using IommuLab.Cli.Examples;
using IommuLab.Cli.Rendering;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Model.Exploration;
using IommuLab.Model.Kernel;

namespace IommuLab.Cli.Commands;

/// <summary>`iommulab check FILE`: explores probe orders per profile and reports invariant violations with minimal traces.</summary>
public static class CheckCommand
{
    public const int ExitOk = 0;
    public const int ExitViolations = 1;
    public const int ExitBadInput = 2;

    /// <summary>The inputs of one check.</summary>
    /// <remarks><paramref name="Pci"/>: `--pci` arguments as given ("[BRIDGE=|SEGMENT=]LIST" or "...@FILE").</remarks>
    public sealed record CheckRequest(string File, string Profile, ExplorationOptions Options, IReadOnlyList<string> Sets, IReadOnlyList<string> Knobs, PlatformKnobs PlatformKnobs, string? TracesDir, IReadOnlyList<string>? Pci = null);

    /// <summary>Everything a check produced.</summary>
    public sealed record CheckReport(CheckRequest Request, TraceContext Context, Platform Platform, IReadOnlyList<ProfileResult> Profiles, IReadOnlyDictionary<Counterexample, string> TraceFiles);

    public static Command Create(Func<string, DeviceTree> load)
    {
        var file = new Argument<string>("file") { Description = "Device tree (.dts, .dtb, or example:NAME) or ACPI IORT/VIOT table" };
        var profile = new Option<string>("--profile", "-p") { Description = "Profile name or 'all'", DefaultValueFactory = _ => "all" };
        var strategy = new Option<string>("--strategy") { Description = "exhaustive (optimal DPOR, a proof when complete), random or pct (samples)", DefaultValueFactory = _ => "exhaustive" };
        strategy.AcceptOnlyFromAmong([.. StrategyNames.All]);
        var budget = new Option<int?>("--budget") { Description = "Executions per cluster (exhaustive: a cap; random/pct: the sample size; default 20000 / 1000)" };
        var seed = new Option<int>("--seed") { Description = "Seed of the random and PCT strategies", DefaultValueFactory = _ => 0 };
        var fine = new Option<bool>("--fine") { Description = "Interleave at every scheduling point (lock boundaries and shared-state accesses), not only coarse events" };
        var format = new Option<string>("--format") { Description = "text or json", DefaultValueFactory = _ => "text" };
        format.AcceptOnlyFromAmong("text", "json");
        var traces = new Option<string?>("--traces") { Description = "Write one JSON trace per violation into this directory" };
        var set = new Option<string[]>("--set") { Description = "Override a switch: --set Switch=value (repeatable)" };
        var knob = new Option<string[]>("--knob") { Description = "Per-device knob, as for `run`" };
        var pci = new Option<string[]>("--pci") { Description = "PCI functions, as for `run` (docs/pci.md)", AllowMultipleArgumentsPerToken = false };
        var time = new Option<bool>("--time") { Description = "Show wall-clock times in the text table (never in JSON)" };
        var whole = new Option<bool>("--no-clusters") { Description = "Explore the whole platform as one system instead of independent clusters" };
        var cmd = new Command("check", "Explore probe orders under each profile and report invariant violations (I1-I17) with minimal replayable traces")
        {
            file, profile, strategy, budget, seed, fine, format, traces, set, knob, pci, time, whole,
        };
        cmd.SetAction(parse =>
        {
            var kind = StrategyNames.FromName(parse.GetValue(strategy)!)!.Value;
            var options = new ExplorationOptions
            {
                Strategy = kind,
                Budget = parse.GetValue(budget) ?? (kind == StrategyKind.Exhaustive ? 20_000 : 1000),
                Seed = parse.GetValue(seed),
                Granularity = parse.GetValue(fine) ? Granularity.Fine : Granularity.Coarse,
                Decompose = !parse.GetValue(whole),
            };
            var request = new CheckRequest(parse.GetValue(file)!, parse.GetValue(profile)!, options, parse.GetValue(set) ?? [], parse.GetValue(knob) ?? [], new PlatformKnobs(), parse.GetValue(traces), parse.GetValue(pci) ?? []);
            var (report, err) = Execute(request, load);
            if (report is null)
            {
                parse.InvocationConfiguration.Error.WriteLine($"iommulab check: {err}");
                return ExitBadInput;
            }

            if (parse.GetValue(format) == "json")
            {
                CheckJson.Write(parse.InvocationConfiguration.Output, report);
            }
            else
            {
                CheckText.Write(parse.InvocationConfiguration.Output, report, parse.GetValue(time));
            }

            return report.Profiles.Any(p => p.Violations.Count > 0) ? ExitViolations : ExitOk;
        });
        return cmd;
    }

    /// <summary>The no-argument default: the built-in Asahi example under every profile, coarse and exhaustive.</summary>
    public static int RunDefault(TextWriter output, Func<string, DeviceTree> load, bool showTime = true)
    {
        ArgumentNullException.ThrowIfNull(output);
        var request = new CheckRequest(BuiltInExamples.Prefix + "t8103-asahi", "all", new ExplorationOptions(), [], [], new PlatformKnobs(), null);
        var (report, err) = Execute(request, load);
        if (report is null)
        {
            output.WriteLine($"iommulab check: {err}");
            return ExitBadInput;
        }

        CheckText.Write(output, report, showTime);
        return report.Profiles.Any(p => p.Violations.Count > 0) ? ExitViolations : ExitOk;
    }

    /// <summary>The bytes of the input, for its SHA-256 (a file, or a built-in example).</summary>
    public static byte[]? InputBytes(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (path.StartsWith(BuiltInExamples.Prefix, StringComparison.Ordinal))
        {
            return BuiltInExamples.Read(path[BuiltInExamples.Prefix.Length..]);
        }

        return File.Exists(path) ? File.ReadAllBytes(path) : null;
    }

    public static (CheckReport? Report, string? Error) Execute(CheckRequest request, Func<string, DeviceTree> load)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(load);
        var profiles = new List<Profile>();
        if (string.Equals(request.Profile, "all", StringComparison.OrdinalIgnoreCase))
        {
            profiles.AddRange(Profiles.All);
        }
        else if (Profiles.Find(request.Profile) is { } p)
        {
            profiles.Add(p);
        }
        else
        {
            return (null, $"unknown profile '{request.Profile}' (all, or one of {string.Join(", ", Profiles.All.Select(x => x.Name))})");
        }

        for (var i = 0; i < profiles.Count; i++)
        {
            foreach (var s in request.Sets)
            {
                var (next, e) = profiles[i].With(s);
                if (next is null)
                {
                    return (null, e);
                }

                profiles[i] = next;
            }
        }

        if (request.Options.Budget <= 0)
        {
            return (null, "--budget must be positive");
        }

        var (pciLists, pcierr) = PlatformInput.ResolvePci(request.Pci ?? []);
        if (pciLists is null)
        {
            return (null, pcierr);
        }

        var (platform, perr) = PlatformInput.Build(request.File, load, request.PlatformKnobs, request.Knobs, pciLists);
        if (platform is null)
        {
            return (null, perr);
        }

        var bytes = InputBytes(request.File);
        var context = new TraceContext(request.File, bytes is null ? "" : TraceContext.Hash(bytes), request.PlatformKnobs, request.Knobs, pciLists);
        var results = profiles.Select(p => Explorer.Check(platform, p, request.Options)).ToList();
        var files = new Dictionary<Counterexample, string>(ReferenceEqualityComparer.Instance);
        if (request.TracesDir is { } dir)
        {
            Directory.CreateDirectory(dir);
            foreach (var r in results)
            {
                var n = 0;
                foreach (var c in r.Violations)
                {
                    var name = $"{r.Profile.Name.Replace('+', '_').TrimEnd('*')}-{c.Invariant}-{++n}.json";
                    File.WriteAllText(Path.Combine(dir, name), Trace.Of(context, platform, r.Profile, request.Options, c).ToJson());
                    files[c] = name;
                }
            }
        }

        return (new CheckReport(request, context, platform, results, files), null);
    }
}
