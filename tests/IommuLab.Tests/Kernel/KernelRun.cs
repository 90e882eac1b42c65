using IommuLab.Firmware.DeviceTree;
using IommuLab.Model.Kernel;

namespace IommuLab.Tests.Kernel;

/// <summary>Runs a schedule on a kernel fixture (tests/IommuLab.Tests/Fixtures/kernel) under a profile.</summary>
public static class KernelRun
{
    public static string FixturePath(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "kernel", name);

    public static Platform Platform(string fixture, IReadOnlyList<string>? knobs = null, PlatformKnobs? platformKnobs = null, IReadOnlyList<string>? pci = null)
    {
        var tree = DeviceTreeLoader.LoadFile(FixturePath(fixture));
        var (platform, error) = DtPlatformBuilder.Build(tree, platformKnobs ?? new PlatformKnobs(), knobs ?? [], pci);
        return platform ?? throw new InvalidOperationException(error);
    }

    public static Profile Profile(string name, params string[] sets)
    {
        var p = Profiles.Find(name) ?? throw new ArgumentException($"no profile {name}");
        foreach (var s in sets)
        {
            var (next, error) = p.With(s);
            p = next ?? throw new ArgumentException(error);
        }

        return p;
    }

    public static RunResult Run(string fixture, string profile, string schedule, IReadOnlyList<string>? knobs = null, IReadOnlyList<string>? sets = null, PlatformKnobs? platformKnobs = null, IReadOnlyList<string>? pci = null)
    {
        var platform = Platform(fixture, knobs, platformKnobs, pci);
        var (events, error) = ScheduleParser.Parse(schedule, platform);
        return RunResult.Of(Execution.Run(platform, Profile(profile, [.. sets ?? []]), events ?? throw new ArgumentException(error)));
    }

    /// <summary>"T/iommu-dma" style summary of one device.</summary>
    public static string ClassAndDma(this RunResult r, string device)
    {
        var d = r.Device(device);
        return $"{d.Class}/{d.Dma}";
    }

    /// <summary>
    /// The sorted, comma-separated set of violated state invariants of spec §7, I1-I17 ("" when all hold). IDMA,
    /// the DMA observation of I3/I4, is asserted on its own (tests/Dma) with <see cref="DmaViolated"/>.
    /// </summary>
    public static string Violated(this RunResult r) =>
        string.Join(",", r.Violations.Select(v => v.Invariant).Where(i => i != "IDMA").Distinct().OrderBy(i => int.Parse(i[1..], System.Globalization.CultureInfo.InvariantCulture)));

    /// <summary>Whether IDMA (a bound consumer's DMA misses its buffer) is violated for <paramref name="device"/>.</summary>
    public static bool DmaViolated(this RunResult r, string device) =>
        r.Violations.Any(v => v.Invariant == "IDMA" && (v.Device == device || v.Device == r.Device(device).Path));

    public static int CfgLeaks(this RunResult r) => r.Leaks.Count(l => l.Kind == AllocKind.DartCfg);

    public static bool Logged(this RunResult r, string function, string text) =>
        r.Execution.Kernel.Events.Any(e => e.Function == function && e.Message.Contains(text, StringComparison.Ordinal));
}
