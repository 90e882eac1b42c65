using IommuLab.Model.Drivers;
using IommuLab.Model.Exploration;

namespace IommuLab.Model.Kernel;

/// <summary>Everything `run` reports about one execution: steps, events, final state, leaks and violations.</summary>
public sealed record RunResult(Execution Execution, IReadOnlyList<DeviceOutcome> Devices, IReadOnlyList<Allocation> Leaks, IReadOnlyList<Violation> Violations)
{
    public static RunResult Of(Execution x)
    {
        ArgumentNullException.ThrowIfNull(x);
        var k = x.Kernel;
        return new RunResult(x, [.. OutcomeBuilder.Consumers(k).Select(d => OutcomeBuilder.Of(k, d))], OutcomeBuilder.Leaks(k), Invariants.CheckAll(k));
    }

    public DeviceOutcome Device(string nameOrPath) =>
        Devices.First(d => d.Name == nameOrPath || d.Path == nameOrPath);

    /// <summary>Every driver the platform's devices need, in device order: how it is available, loaded, module refs.</summary>
    public IReadOnlyList<DriverSummary> Drivers
    {
        get
        {
            var k = Execution.Kernel;
            return [.. k.Platform.Devices
                .Where(d => d.DriverAvailability != DriverAvailability.Absent)
                .GroupBy(d => d.DriverName)
                .Select(g => new DriverSummary(g.Key, g.First().DriverAvailability, k.RegisteredDrivers.Contains(g.Key), k.ModuleRefs.GetValueOrDefault(g.Key)))];
        }
    }

    /// <summary>Stream state of every probed instance.</summary>
    public IEnumerable<(IommuInstance Instance, IReadOnlyList<StreamState> Streams)> InstanceStreams =>
        Execution.Kernel.Instances.Select(i => (i, (IReadOnlyList<StreamState>)(i.Driver?.Streams(i).ToList() ?? (i.DriverData is null ? [] : Execution.Kernel.DriverFor(i.Info.Driver).Streams(i).ToList()))));
}

/// <summary>One driver of the platform: availability, whether driver_register() ran, module references held.</summary>
public sealed record DriverSummary(string Name, DriverAvailability Availability, bool Registered, int ModuleRefs);
