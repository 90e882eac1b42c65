using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using IommuLab.Cli.Rendering;
using IommuLab.Firmware.Lint;
using IommuLab.Model.Exploration;
using IommuLab.Model.Kernel;
using IommuLab.Model.Scan;
using Spectre.Console;
using Profile = IommuLab.Model.Kernel.Profile;

namespace IommuLab.Cli.Commands;

/// <summary>
/// <c>iommulab scan DIR|FILE... [--profile P]... [--jobs N] [--format text|json|csv] [--budget N] [--sample N]
/// [--seed N] [--time] [--progress auto|bar|plain|none]</c>: lints and explores every firmware file found, in
/// parallel, and summarises per profile. Exit 1 when any profile breaks an invariant in any file, 0 otherwise,
/// 2 on bad usage.
/// </summary>
public static class ScanCommand
{
    public const int ExitClean = 0;
    public const int ExitViolations = 1;

    /// <summary>Everything a scan was asked to do and what it found.</summary>
    public sealed record ScanReport(ScanOptions Options, IReadOnlyList<ScanFileResult> Files, ScanSummary Summary);

    public static Command Create()
    {
        var inputs = new Argument<string[]>("INPUT")
        {
            Description = "Directories (searched recursively for .dtb, .dtbo, .dts and IORT/VIOT tables) or files",
            Arity = ArgumentArity.OneOrMore,
        };

        // Strings checked in the action, so a bad value exits 2 (usage) and never the parser's 1 ("violations").
        var profile = new Option<string[]>("--profile", "-p") { Description = "Profile to check under (repeatable; 'all' or none given: every profile)" };
        var jobs = new Option<string?>("--jobs", "-j") { Description = "Files checked in parallel (default: the number of cores)" };
        var format = new Option<string>("--format") { Description = "text, json or csv", DefaultValueFactory = _ => "text" };
        var budget = new Option<string?>("--budget") { Description = "Exhaustive executions per cluster; a cluster done within it is proved, else sampled (default 50)" };
        var sample = new Option<string?>("--sample") { Description = "Random executions for a cluster too large to prove (default 10)" };
        var seed = new Option<string?>("--seed") { Description = "Seed of the random samples (default 0)" };
        var fine = new Option<bool>("--fine") { Description = "Interleave at every scheduling point, not only coarse events (much slower)" };
        var time = new Option<bool>("--time") { Description = "Show the slowest files and wall times (text only; times differ from run to run)" };
        var top = new Option<string?>("--top") { Description = "Device patterns and slowest files listed per profile (default 10)" };
        var noCache = new Option<bool>("--no-cache") { Description = "Explore every cluster even if an identical one was explored in another file (same output, slower; for checking)" };
        var wholePlatform = new Option<bool>("--whole-platform") { Description = "Boot every device of the file in every execution, not only what the cluster can observe (same output, slower; for checking)" };
        var progress = new Option<string>("--progress") { Description = "auto (a bar on a terminal, plain lines otherwise), bar, plain or none; on stderr", DefaultValueFactory = _ => "auto" };
        var cmd = new Command("scan", "Lint and explore every firmware file under the given folders, in parallel, and summarise per profile")
        {
            inputs, profile, jobs, format, budget, sample, seed, fine, time, top, noCache, wholePlatform, progress,
        };
        cmd.SetAction(parse =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            int Usage(string message)
            {
                stderr.WriteLine($"iommulab scan: {message}");
                return CliApp.ExitBadInput;
            }

            var fmt = parse.GetValue(format) ?? "text";
            if (fmt is not ("text" or "json" or "csv"))
            {
                return Usage($"--format must be text, json or csv, not '{fmt}'");
            }

            var mode = parse.GetValue(progress) ?? "auto";
            if (mode is not ("auto" or "bar" or "plain" or "none"))
            {
                return Usage($"--progress must be auto, bar, plain or none, not '{mode}'");
            }

            int? Number(string? text, int fallback, int min)
            {
                if (text is null)
                {
                    return fallback;
                }

                return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= min ? v : null;
            }

            if (Number(parse.GetValue(jobs), Environment.ProcessorCount, 1) is not { } nJobs)
            {
                return Usage($"--jobs must be a positive number, not '{parse.GetValue(jobs)}'");
            }

            if (Number(parse.GetValue(budget), 50, 1) is not { } nBudget)
            {
                return Usage($"--budget must be a positive number, not '{parse.GetValue(budget)}'");
            }

            if (Number(parse.GetValue(sample), 10, 0) is not { } nSample)
            {
                return Usage($"--sample must be 0 or a positive number, not '{parse.GetValue(sample)}'");
            }

            if (Number(parse.GetValue(seed), 0, int.MinValue) is not { } nSeed)
            {
                return Usage($"--seed must be a number, not '{parse.GetValue(seed)}'");
            }

            if (Number(parse.GetValue(top), 10, 1) is not { } nTop)
            {
                return Usage($"--top must be a positive number, not '{parse.GetValue(top)}'");
            }

            var profiles = new List<Profile>();
            foreach (var name in parse.GetValue(profile) ?? [])
            {
                if (string.Equals(name, "all", StringComparison.OrdinalIgnoreCase))
                {
                    profiles.AddRange(Profiles.All);
                }
                else if (Profiles.Find(name) is { } p)
                {
                    profiles.Add(p);
                }
                else
                {
                    return Usage($"unknown profile '{name}' (all, or one of {string.Join(", ", Profiles.All.Select(x => x.Name))})");
                }
            }

            if (profiles.Count == 0)
            {
                profiles.AddRange(Profiles.All);
            }

            var given = parse.GetValue(inputs) ?? [];
            foreach (var path in given)
            {
                if (!File.Exists(path) && !Directory.Exists(path))
                {
                    return Usage($"{path}: no such file or directory");
                }
            }

            var files = LintInputs.Expand(given).Distinct(StringComparer.Ordinal).ToList();
            if (files.Count == 0)
            {
                return Usage($"no .dtb, .dtbo, .dts, IORT or VIOT files under {string.Join(", ", given)}");
            }

            var options = new ScanOptions
            {
                Profiles = [.. profiles.Distinct()],
                Jobs = nJobs,
                ExhaustiveBudget = nBudget,
                SampleBudget = nSample,
                Seed = nSeed,
                Granularity = parse.GetValue(fine) ? Granularity.Fine : Granularity.Coarse,
                Limits = FirmwareLimitOptions.Read(parse),
                Memoize = !parse.GetValue(noCache),
                BootWholePlatform = parse.GetValue(wholePlatform),
            };
            var useBar = mode == "bar" || (mode == "auto" && ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected);
            var cache = options.Memoize ? new ScanCache(options.CacheBytes) : null;
            var clock = Stopwatch.StartNew();
            var report = Execute(files, options, useBar ? ProgressKind.Bar : mode == "none" ? ProgressKind.None : ProgressKind.Plain, stderr, cache);
            if (parse.GetValue(time) && cache is not null)
            {
                // Timing and reuse vary with thread interleaving: stderr, never the report.
                stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"scan: {clock.Elapsed.TotalSeconds:F1} s; cluster results reused {cache.Hits} of {cache.Hits + cache.Misses} (and {cache.ProfileHits} from another profile that agrees on every switch read), {cache.ExecutionsRun} executions run ({cache.Count} stored, {cache.Bytes / 1024.0 / 1024.0:F1} MiB of {cache.MaxBytes / 1024.0 / 1024.0:F0} MiB)"));
            }
            switch (fmt)
            {
                case "json":
                    ScanJson.Write(stdout, report);
                    break;
                case "csv":
                    ScanCsv.Write(stdout, report);
                    break;
                default:
                    ScanText.Write(stdout, report, parse.GetValue(time), nTop);
                    break;
            }

            return report.Summary.Profiles.Any(p => p.CleanFiles < p.Files) ? ExitViolations : ExitClean;
        });
        return cmd;
    }

    /// <summary>How progress is shown while scanning.</summary>
    public enum ProgressKind
    {
        None,
        Plain,
        Bar,
    }

    /// <summary>
    /// Runs the scan, showing progress on <paramref name="progressOut"/>, and summarises it; cluster results are
    /// reused through <paramref name="cache"/> (null: a new one when <see cref="ScanOptions.Memoize"/>).
    /// </summary>
    public static ScanReport Execute(IReadOnlyList<string> files, ScanOptions options, ProgressKind progress, TextWriter progressOut, ScanCache? cache = null)
    {
        ArgumentNullException.ThrowIfNull(files);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(progressOut);
        IReadOnlyList<ScanFileResult> results;
        switch (progress)
        {
            case ProgressKind.Bar:
                // The bar is chosen only when stderr is a terminal (or asked for): stdout may well be redirected to a
                // file, which would make Spectre's own detection fall back to plain percentages.
                var console = AnsiConsole.Create(new AnsiConsoleSettings
                {
                    Out = new AnsiConsoleOutput(progressOut),
                    Ansi = AnsiSupport.Yes,
                    Interactive = InteractionSupport.Yes,
                });
                results = [];
                console.Progress()
                    .AutoClear(true)
                    .HideCompleted(true)
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask($"scan {files.Count} files x {options.Profiles.Count} profiles", maxValue: files.Count);
                        results = ScanRunner.Run(files, options, _ => task.Increment(1), cache: cache);
                    });
                break;
            case ProgressKind.Plain:
                var lines = new PlainProgress(files.Count, progressOut);
                results = ScanRunner.Run(files, options, lines.Done, cache: cache);
                break;
            default:
                results = ScanRunner.Run(files, options, cache: cache);
                break;
        }

        return new ScanReport(options, results, ScanSummary.Of(results, [.. options.Profiles.Select(p => p.Name)]));
    }

    /// <summary>One line per 5% of the files, for logs and redirected output.</summary>
    private sealed class PlainProgress(int total, TextWriter output)
    {
        private readonly Lock gate = new();
        private readonly Stopwatch clock = Stopwatch.StartNew();
        private int done;
        private int lastStep = -1;

        public void Done(ScanFileResult result)
        {
            lock (gate)
            {
                done++;
                var step = done * 20 / total;
                if (step == lastStep && done != total)
                {
                    return;
                }

                lastStep = step;
                var elapsed = clock.Elapsed;
                var left = TimeSpan.FromSeconds(elapsed.TotalSeconds / done * (total - done));
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"scan: {done}/{total} files ({done * 100 / total}%), {elapsed.TotalSeconds:F1} s elapsed, about {left.TotalSeconds:F0} s left"));
                output.Flush();
            }
        }
    }
}
