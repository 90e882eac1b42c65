using IommuLab.Model.Kernel;

namespace IommuLab.Cli.Rendering;

/// <summary>The text narration of `run`: each step with the kernel's log lines, then the final state.</summary>
public static class RunText
{
    /// <summary>Writes the narration; without <paramref name="verbose"/>, model notes about devices with no IOMMU references are left out.</summary>
    public static void Write(TextWriter o, RunResult r, bool verbose = false)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(r);
        var x = r.Execution;
        var k = x.Kernel;
        o.WriteLine($"profile {x.Profile.Name} ({x.Profile.Kernel}) on {Path.GetFileName(k.Platform.Source)}");
        o.WriteLine($"schedule: {string.Join(" ", x.Schedule)}");
        foreach (var n in k.Platform.Notes)
        {
            o.WriteLine($"platform: {n}");
        }
        o.WriteLine();
        foreach (var s in x.Steps)
        {
            var events = k.Events.Skip(s.FirstEvent).Take(s.EventCount).Where(e => verbose || !IsNoise(k, e)).ToList();
            if (events.Count == 0 && s.Index != 0 && s.Index == x.Steps.Count - 1)
            {
                continue;
            }

            o.WriteLine($"[{s.Index}] {s.Event}");
            foreach (var e in events)
            {
                var level = e.Level switch
                {
                    EventLevel.Trace => "  ",
                    EventLevel.Debug => "dbg",
                    EventLevel.Info => "   ",
                    EventLevel.Warn => "WARN",
                    _ => "ERR",
                };
                var who = e.Device is null ? "" : $"{e.Device}: ";
                o.WriteLine($"    {level,-4} {who}{e.Function}: {e.Message}");
            }
        }

        o.WriteLine();
        o.WriteLine("final state");
        foreach (var d in r.Devices)
        {
            o.WriteLine($"  {d.Name} [{d.Class}] {d.DriverState}, DMA {d.Dma}");
            o.WriteLine($"      firmware  {Fmt(d.Firmware)}");
            o.WriteLine($"      dev->iommu {d.DevIommu}, {d.Fwspec}, priv {d.Priv}, iommu_dev {d.PrimaryIommu ?? "none"}");
            o.WriteLine($"      group     {(d.Group is null ? "none" : $"{d.Group}, {d.Domain ?? "no domain"}, covers {Fmt(d.GroupCoverage)}")}");
            if (d.DmaAliases.Count > 0)
            {
                o.WriteLine($"      aliases   {string.Join(", ", d.DmaAliases)}");
            }

            foreach (var w in d.Warnings)
            {
                o.WriteLine($"      WARN      {w}");
            }
        }

        foreach (var (inst, streams) in r.InstanceStreams)
        {
            var state = inst.Registered ? "registered" : inst.RegistrationFailed ? "registration failed" : inst.Probed ? "probed" : "not registered";
            o.WriteLine($"  {inst.Name} ({inst.Info.Compatible}) {state}{(streams.Count == 0 ? "" : ": " + string.Join("; ", streams.Select(s => $"sid {s.Sid} {s.Mode}{(s.Ttbr is null ? "" : " ttbr=" + s.Ttbr)}{(s.Group is null ? "" : " group " + s.Group)}")))}");
        }

        if (r.Leaks.Count > 0)
        {
            o.WriteLine($"  leaked: {string.Join(", ", r.Leaks.Select(l => $"{l.Kind} #{l.Id} ({l.Owner})"))}");
        }

        o.WriteLine($"  t={k.Clock}s, deferred-probe timeout {TimeoutState(k)}");
        o.WriteLine($"  drivers: {string.Join("; ", r.Drivers.Select(d => $"{d.Name} {d.Availability.ToString().ToLowerInvariant()}{(d.Availability == DriverAvailability.Module ? d.Registered ? " loaded" : " not loaded" : "")}{(d.ModuleRefs > 0 ? $" refs={d.ModuleRefs}" : "")}"))}");
        DmaRendering.WriteText(o, k);

        o.WriteLine();
        if (r.Violations.Count == 0)
        {
            o.WriteLine("invariants: all hold");
            return;
        }

        o.WriteLine($"invariant violations: {r.Violations.Count}");
        foreach (var v in r.Violations)
        {
            o.WriteLine($"  {v.Invariant} {v.Device}: {v.Message}");
            foreach (var f in v.Facts)
            {
                o.WriteLine($"      - {f}");
            }
        }
    }

    /// <summary>"armed, fires at t=10s", "expired", or why none is armed.</summary>
    public static string TimeoutState(Kernel k)
    {
        ArgumentNullException.ThrowIfNull(k);
        return k.TimeoutDeadline is { } t ? $"armed, fires at t={t}s"
            : k.TimeoutExpired ? "expired"
            : k.InitcallsDone ? $"not armed (deferred_probe_timeout={k.DeferredProbeTimeout})"
            : "not armed yet (before late_initcall)";
    }

    /// <summary>Model notes (not kernel log lines) about a device that references no IOMMU: walk and boot chatter.</summary>
    private static bool IsNoise(Kernel k, KernelEvent e) =>
        e.Level == EventLevel.Trace && e.Device is { } name && k.Devices.FirstOrDefault(d => d.Name == name) is { Info.IsConsumer: false };

    private static string Fmt(IEnumerable<StreamRef> refs) => "{" + string.Join(", ", refs) + "}";
}
