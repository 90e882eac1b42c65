using IommuLab.Model.Exploration;
using IommuLab.Model.Kernel;
using IommuLab.Tests.Kernel;
using Xunit.Abstractions;

namespace IommuLab.Tests.Exploration;

public sealed class ScratchTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("usb-two-darts.dts", false)]
    [InlineData("single-dart.dts", true)]
    [InlineData("usb-two-darts.dts", true)]
    public void Scratch(string fixture, bool fine)
    {
        var platform = KernelRun.Platform(fixture);
        foreach (var p in Profiles.All)
        {
            var r = Explorer.Check(platform, p, new ExplorationOptions { Granularity = fine ? Granularity.Fine : Granularity.Coarse, Budget = fine ? 3000 : 100000 });
            var c = r.Clusters[0];
            output.WriteLine($"{p.Name}: exec {r.Executions} traces {r.Traces} complete {r.Complete} blocked {c.Result.SleepBlocked} mism {c.Result.LabelMismatches} outcomes {c.Outcomes} {r.Elapsed.TotalMilliseconds:F0}ms");
            foreach (var v in r.Violations)
            {
                output.WriteLine($"   {v.Invariant} {v.Device}: {v.Message} | {string.Join(" ", v.Steps.Take(v.Explicit))} || {string.Join(" ", v.Steps.Skip(v.Explicit))} | {v.DivergenceText}");
            }
        }
    }
}
