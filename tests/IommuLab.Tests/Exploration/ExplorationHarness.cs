using IommuLab.Firmware.DeviceTree;
using IommuLab.Model.Exploration;
using IommuLab.Model.Kernel;
using IommuLab.Tests.Kernel;

namespace IommuLab.Tests.Exploration;

/// <summary>Runs the explorer on a kernel fixture and replays every violation from its JSON trace.</summary>
internal static class ExplorationHarness
{
    public static (ProfileResult Result, Platform Platform) Check(string fixture, string profile, ExplorationOptions? options = null, params string[] sets) =>
        CheckWith(fixture, [], profile, options, sets);

    /// <summary>As <see cref="Check"/>, with per-device knobs (e.g. "dcp.driver=builtin": no module-load steps to interleave).</summary>
    public static (ProfileResult Result, Platform Platform) CheckWith(string fixture, IReadOnlyList<string> knobs, string profile, ExplorationOptions? options = null, params string[] sets)
    {
        var platform = KernelRun.Platform(fixture, knobs);
        var result = Explorer.Check(platform, KernelRun.Profile(profile, sets), options ?? new ExplorationOptions());
        ReplayAll(fixture, platform, result, knobs);
        return (result, platform);
    }

    /// <summary>Writes each counterexample as a JSON trace, reads it back, restores the configuration from it alone and asserts the replay reproduces the violation.</summary>
    public static void ReplayAll(string fixture, Platform platform, ProfileResult result, IReadOnlyList<string>? knobs = null)
    {
        var path = KernelRun.FixturePath(fixture);
        var context = new TraceContext(path, TraceContext.Hash(File.ReadAllBytes(path)), platform.Knobs, knobs ?? []);
        foreach (var c in result.Violations)
        {
            var json = Trace.Of(context, platform, result.Profile, result.Options, c).ToJson();
            var (trace, error) = Trace.Parse(json);
            Assert.True(trace is not null, error);
            Assert.Equal(TraceContext.Hash(File.ReadAllBytes(trace.Context.Input)), trace.Context.Sha256);
            var (profile, perr) = trace.RestoreProfile();
            Assert.True(profile is not null, perr);
            var (rebuilt, berr) = DtPlatformBuilder.Build(DeviceTreeLoader.LoadFile(trace.Context.Input), trace.Context.Knobs, trace.Context.DeviceKnobs);
            Assert.True(rebuilt is not null, berr);
            var replay = trace.Replay(rebuilt, profile);
            Assert.True(replay.Reproduced, $"{c.Invariant} {c.Device} did not reproduce from its trace");
            Assert.Equal(c.Steps, replay.Execution.StepNames);
        }
    }

    /// <summary>Replays one counterexample from its JSON trace and returns the kernel it ends in (for event-level asserts).</summary>
    public static Model.Kernel.Kernel ReplayKernel(string fixture, Platform platform, ProfileResult result, Counterexample c, IReadOnlyList<string>? knobs = null)
    {
        var path = KernelRun.FixturePath(fixture);
        var context = new TraceContext(path, TraceContext.Hash(File.ReadAllBytes(path)), platform.Knobs, knobs ?? []);
        var (trace, error) = Trace.Parse(Trace.Of(context, platform, result.Profile, result.Options, c).ToJson());
        Assert.True(trace is not null, error);
        var (profile, perr) = trace.RestoreProfile();
        Assert.True(profile is not null, perr);
        var replay = trace.Replay(platform, profile);
        Assert.True(replay.Reproduced);
        return ((KernelSystemRun)replay.Execution.Run).Kernel;
    }

    public static bool Has(this ProfileResult r, string invariant, string devicePathPart, string? messagePart = null) =>
        r.Violations.Any(v => v.Invariant == invariant && v.Device.Contains(devicePathPart, StringComparison.Ordinal)
            && (messagePart is null || v.Message.Contains(messagePart, StringComparison.Ordinal)));
}
