using IommuLab.Model.Exploration;

namespace IommuLab.Model.Kernel;

/// <summary>Options of one coarse execution.</summary>
public sealed record RunOptions
{
    /// <summary>Run queued deferred-probe work after every event (the usual case); else only on WORK and at the end.</summary>
    public bool AutoWork { get; init; } = true;
}

/// <summary>What one schedule step did: the event and the kernel events it produced.</summary>
public sealed record StepRecord(int Index, string Event, int FirstEvent, int EventCount);

/// <summary>
/// Runs one explicit schedule in coarse mode to quiescence: boot (device_add of every device not added explicitly),
/// the events in order, each followed by the deferred work it queued, then the remaining work. Time passes only at
/// WAIT and TIMEOUT (see <see cref="Kernel.Clock"/>).
/// </summary>
public sealed class Execution
{
    private readonly List<StepRecord> _steps = [];

    private Execution(Kernel kernel, Profile profile, IReadOnlyList<ScheduleEvent> schedule)
    {
        Kernel = kernel;
        Profile = profile;
        Schedule = schedule;
    }

    public Kernel Kernel { get; }

    public Profile Profile { get; }

    public IReadOnlyList<ScheduleEvent> Schedule { get; }

    public IReadOnlyList<StepRecord> Steps => _steps;

    public static Execution Run(Platform platform, Profile profile, IReadOnlyList<ScheduleEvent> schedule, RunOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(platform);
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(schedule);
        options ??= new RunOptions();
        var sched = new Scheduler(SchedulerMode.Coarse);
        var k = new Kernel(platform, profile.Switches, sched);
        var x = new Execution(k, profile, schedule);

        // An explicit BIND(X) after REG(X) holds driver_bound() back until that event.
        for (var i = 0; i < schedule.Count; i++)
        {
            if (schedule[i].Kind == EventKind.Bind && schedule.Take(i).Any(e => e.Kind == EventKind.Reg && e.Device == schedule[i].Device))
            {
                k.BindHeld.Add(k.Devices[schedule[i].Device!.Index]);
            }
        }

        var explicitAdd = schedule.Where(e => e.Kind == EventKind.Add).Select(e => e.Device!.Index).ToHashSet();
        x.RunStep("boot: of_platform_populate", () =>
        {
            foreach (var d in k.Devices.Where(d => !explicitAdd.Contains(d.Index)))
            {
                x.RunThread($"device_add {d.Name}", () => k.DeviceAdd(d));
            }
        }, options);

        foreach (var e in schedule)
        {
            var dev = e.Device is null ? null : k.Devices[e.Device.Index];
            x.RunStep(e.ToString(), () =>
            {
                switch (e.Kind)
                {
                    case EventKind.Reg:
                    case EventKind.Probe:
                        x.RunThread($"probe {dev!.Name}", () => k.DriverProbeDevice(dev));
                        break;
                    case EventKind.Load:
                        x.RunThread($"modprobe {dev!.Info.DriverName}", () => k.DriverRegister(dev));
                        break;
                    case EventKind.Wait:
                        x.RunThread($"wait {e.Seconds} s", () => k.Wait(e.Seconds));
                        break;
                    case EventKind.Bind:
                        if (dev!.State != DriverState.Bound && dev.HasDriverSet)
                        {
                            x.RunThread($"driver_bound {dev.Name}", () => k.DriverBound(dev));
                        }

                        break;
                    case EventKind.Add:
                        x.RunThread($"device_add {dev!.Name}", () => k.DeviceAdd(dev));
                        break;
                    case EventKind.Remove:
                        x.RunThread($"device_del {dev!.Name}", () => k.DeviceDel(dev));
                        break;
                    case EventKind.Work:
                        if (k.WorkQueued)
                        {
                            x.RunThread("deferred_probe_work", k.DeferredProbeWork);
                        }

                        break;
                    case EventKind.Late:
                        x.RunThread("deferred_probe_initcall", k.LateInitcall);
                        break;
                    case EventKind.Timeout:
                        x.RunThread("deferred_probe_timeout", k.DeferredProbeTimeoutFires);
                        break;
                }
            }, options);
        }

        x.RunStep("quiescence: remaining deferred work", () => x.Drain(), options with { AutoWork = false });
        return x;
    }

    private void RunStep(string name, Action body, RunOptions options)
    {
        Kernel.Step = _steps.Count;
        var first = Kernel.Events.Count;
        body();
        if (options.AutoWork)
        {
            Drain();
        }

        _steps.Add(new StepRecord(_steps.Count, name, first, Kernel.Events.Count - first));
    }

    private void Drain()
    {
        while (Kernel.WorkQueued)
        {
            RunThread("deferred_probe_work", Kernel.DeferredProbeWork);
        }
    }

    private void RunThread(string name, Func<KTask> body) => Kernel.Sched.RunToCompletion(Kernel.Sched.Spawn(name, body));
}
