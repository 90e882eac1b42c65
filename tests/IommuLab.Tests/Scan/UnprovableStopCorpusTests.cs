using IommuLab.Firmware.DeviceTree;
using IommuLab.Model.Exploration;
using IommuLab.Model.Kernel;
using IommuLab.Tests.Kernel;
using IommuLab.Tests.Support;

namespace IommuLab.Tests.Scan;

/// <summary>
/// A scan's exhaustive run stops once the pending wakeup trees hold more executions than its budget has left
/// (OptimalDporStrategy's stopWhenUnprovable): on a real SoC's largest SMMU cluster, it gives up the proof before
/// spending the budget, after the same executions the run cut at the budget starts with.
/// </summary>
public sealed class UnprovableStopCorpusTests
{
    [Fact]
    [Trait("Category", "Corpus")]
    public void A_large_qualcomm_smmu_cluster_is_given_up_before_the_scan_budget_is_spent()
    {
        var path = Corpus.SidDtbs.Single(p => Path.GetFileName(p) == "x1e80100-qcp.dtb");
        var (platform, error) = DtPlatformBuilder.Build(DeviceTreeLoader.LoadFile(path), new PlatformKnobs(), []);
        Assert.True(platform is not null, error);
        var cluster = Clusters.Of(platform).MaxBy(c => c.Consumers.Length)!;
        Assert.True(cluster.Consumers.Length >= 10, $"{cluster.Consumers.Length} consumers");
        var restricted = ClusterPlatform.Of(platform, cluster);
        var system = new KernelSystem(restricted.Platform, KernelRun.Profile("K616"), Granularity.Coarse, restricted.Cluster) { QuietLog = true };

        var cut = new List<string>();
        var spent = new OptimalDporStrategy(50).Explore(system, new Executor(), rec => cut.Add(string.Join(" ", rec.Schedule)));
        var seen = new List<string>();
        var stopped = new OptimalDporStrategy(50, stopWhenUnprovable: true).Explore(system, new Executor(), rec => seen.Add(string.Join(" ", rec.Schedule)));

        Assert.False(spent.Complete);
        Assert.Equal(50, spent.Executions);
        Assert.False(stopped.Complete);
        Assert.InRange(stopped.Executions, 1, 49);
        Assert.Equal(cut.Take(stopped.Executions).ToArray(), seen.ToArray());
    }

    /// <summary>
    /// The stop's bound counts each pending wakeup-tree leaf as one more execution, which holds while no execution is
    /// sleep-blocked. Labels do change with the order here (a racing step run first loads its driver's module), yet
    /// no execution of these real clusters is blocked under any profile (over the corpus's DTBs none of the 6,280
    /// distinct cluster-profile explorations is, measured 2026-11-25).
    /// </summary>
    [Fact]
    [Trait("Category", "Corpus")]
    public void No_execution_of_real_clusters_is_sleep_blocked_under_any_profile()
    {
        var files = Corpus.SidDtbs.Where(p => Path.GetFileName(p) is "x1e80100-qcp.dtb" or "sm8550-qrd.dtb" or "rk3588-rock-5b.dtb" or "exynos5433-tm2.dtb")
            .Concat(Corpus.AppleDtbs.Where(p => Path.GetFileName(p).StartsWith("t8103-", StringComparison.Ordinal)).Take(2))
            .ToList();
        Assert.True(files.Count >= 5, $"{files.Count} files");
        var explorations = 0;
        foreach (var path in files)
        {
            var (platform, error) = DtPlatformBuilder.Build(DeviceTreeLoader.LoadFile(path), new PlatformKnobs(), []);
            Assert.True(platform is not null, error);
            foreach (var cluster in Clusters.Of(platform))
            {
                var restricted = ClusterPlatform.Of(platform, cluster);
                foreach (var profile in Profiles.All)
                {
                    var system = new KernelSystem(restricted.Platform, profile, Granularity.Coarse, restricted.Cluster) { QuietLog = true };
                    var r = new OptimalDporStrategy(50).Explore(system, new Executor(), _ => { });
                    Assert.True(r.SleepBlocked == 0, $"{Path.GetFileName(path)} {cluster.Consumers.Length} consumers under {profile.Name}: {r.SleepBlocked} blocked");
                    explorations++;
                }
            }
        }

        Assert.True(explorations > 50, $"{explorations} explorations");
    }
}
