using System.Collections.Immutable;
using IommuLab.Model.Kernel;

namespace IommuLab.Model.Exploration;

/// <summary>
/// A set of consumers and the IOMMU instances they reference, closed under sharing (docs/traces.md "Clusters"),
/// explored as one system. <see cref="Foreign"/> are instances of other clusters whose registration runs in this
/// cluster's exploration as a stand-in for every foreign registration walk and bind trigger.
/// </summary>
public sealed record Cluster(int Index, ImmutableArray<int> Consumers, ImmutableArray<int> Instances, string Name)
{
    /// <summary>
    /// Out-of-cluster instances whose REG runs here too (one per driver kind, see <see cref="Clusters.Of"/>):
    /// bus_iommu_probe() walks every device, so a registration in another cluster can reach this cluster's
    /// consumers. A foreign instance is never bound here: a driver_bound() trigger only retries deferred devices,
    /// as the cluster's own BINDs do.
    /// </summary>
    public ImmutableArray<int> Foreign { get; init; } = [];

    /// <summary>Device paths of the consumers and of the instances' devices (for filtering facts and violations).</summary>
    public ImmutableHashSet<string> Paths(Platform platform)
    {
        ArgumentNullException.ThrowIfNull(platform);
        return [.. Consumers.Select(c => platform.Devices[c].Path), .. Instances.Select(i => platform.Instances[i].Path)];
    }
}

/// <summary>The cluster decomposition that `check` and `scan` share.</summary>
public static class Clusters
{
    /// <summary>
    /// Consumers are merged into one cluster when the kernel lets one's events change the other's outcome:
    /// <list type="bullet">
    /// <item>they reference a common IOMMU instance (one instance list entry, stream table, sid2group, groups);</item>
    /// <item>they are PCI functions of one host bridge with a common DMA alias (pci_device_group() puts aliases
    /// in one group).</item>
    /// </list>
    /// What stays shared between clusters is global probe-path state: every registration walks every device on
    /// the bus (bus_iommu_probe(); K66/K67 also set the single bus ops), and every driver_bound() retries every
    /// deferred device. A consumer with leftover state from a failed parse is attached by whichever walk comes
    /// next (spec S4/S5 "latent" attach in K66-K68), so that effect is explored, not assumed away: where
    /// <see cref="ForeignWalksMatter"/>, each cluster also runs the REG of one foreign instance per driver kind
    /// (<see cref="Cluster.Foreign"/>), whose walk can come at any point of the cluster's schedule. Its own consumers are never probed there, and
    /// facts and violations are read only for the cluster's own devices.
    /// Consumers with no instance reference form no cluster (nothing can reorder them against an IOMMU).
    /// </summary>
    public static IReadOnlyList<Cluster> Of(Platform platform)
    {
        ArgumentNullException.ThrowIfNull(platform);
        var consumers = platform.Devices.Where(d => d.IsConsumer && d.Instance is null && InstancesOf(d).Any()).ToList();

        // Union-find over consumers (by position in `consumers`).
        var parent = Enumerable.Range(0, consumers.Count).ToArray();
        int Find(int x)
        {
            while (parent[x] != x)
            {
                parent[x] = parent[parent[x]];
                x = parent[x];
            }

            return x;
        }

        void Union(int a, int b) => parent[Find(a)] = Find(b);

        var byInstance = new Dictionary<int, int>();
        var byAlias = new Dictionary<(int Bridge, uint Rid), int>();
        for (var i = 0; i < consumers.Count; i++)
        {
            var d = consumers[i];
            foreach (var inst in InstancesOf(d))
            {
                if (!byInstance.TryAdd(inst, i))
                {
                    Union(i, byInstance[inst]);
                }
            }

            if (d.IsPci && DeviceAddOrder.HostBridgeOf(platform, d) is { } bridge)
            {
                foreach (var a in d.PciDmaAliases.Select(a => a.Rid).Append(d.Rid!.Value))
                {
                    if (!byAlias.TryAdd((bridge, a), i))
                    {
                        Union(i, byAlias[(bridge, a)]);
                    }
                }
            }
        }

        var order = new List<int>();
        var members = new Dictionary<int, List<int>>();
        for (var i = 0; i < consumers.Count; i++)
        {
            var root = Find(i);
            if (!members.TryGetValue(root, out var list))
            {
                members.Add(root, list = []);
                order.Add(root);
            }

            list.Add(i);
        }

        var result = new List<Cluster>();
        foreach (var root in order)
        {
            var cs = members[root].Select(i => consumers[i]).ToList();
            var ins = cs.SelectMany(InstancesOf).Distinct().Order().ToImmutableArray();
            var name = string.Join(" + ", cs.Select(x => x.Labels.FirstOrDefault() ?? x.Name));
            result.Add(new Cluster(result.Count, [.. cs.Select(c => c.Index)], ins, name) { Foreign = ForeignOf(platform, ins) });
        }

        return result;
    }

    /// <summary>
    /// The stand-ins for foreign registrations: the first registrable out-of-cluster instance of each driver kind
    /// (the kind matters: K66/K67 accept one ops table per bus, and a walk calls that driver's probe_device()).
    /// </summary>
    private static ImmutableArray<int> ForeignOf(Platform platform, ImmutableArray<int> own) =>
        [.. platform.Instances
            .Where(i => !own.Contains(i.Index) && i.Availability != DriverAvailability.Absent && !i.ProbeFails)
            .GroupBy(i => i.Driver)
            .Select(g => g.First().Index)
            .Order()];

    /// <summary>
    /// Whether another cluster's registration can change this cluster's outcome under these switches, so that the
    /// foreign stand-ins must run (coarse mode):
    /// <list type="bullet">
    /// <item>one IOMMU driver per bus (K66/K67): the first registration claims the bus ops, and a walk calls that
    /// driver's probe_device() for every device;</item>
    /// <item>of_iommu_configure() leaves its fwspec and driver data behind on error (K66-K68, JGG2): a device that
    /// bound without its IOMMUs is attached by the next walk, whichever instance registers (spec S4/S5 latent).</item>
    /// </list>
    /// Otherwise (K611+) a failed parse leaves no fwspec, so a walk finds no ops for a device whose own parse did
    /// not succeed; from K615 a walk re-parses a driverless device itself, with the registration state its own
    /// instances' walks last saw. The soundness tests check both cases against whole-platform exploration.
    /// </summary>
    public static bool ForeignWalksMatter(KernelSwitches switches)
    {
        ArgumentNullException.ThrowIfNull(switches);
        return switches.SingleIommuDriver || switches.ConfigureCleanup == ConfigureCleanup.None;
    }

    /// <summary>The whole platform as one cluster (no decomposition).</summary>
    public static Cluster Whole(Platform platform)
    {
        ArgumentNullException.ThrowIfNull(platform);
        var cs = platform.Devices.Where(d => d.IsConsumer && d.Instance is null).Select(d => d.Index).ToImmutableArray();
        return new Cluster(0, cs, [.. Enumerable.Range(0, platform.Instances.Count)], "whole platform");
    }

    /// <summary>The cluster whose consumers are exactly these paths (trace replay), or null.</summary>
    public static Cluster? Find(Platform platform, IReadOnlyCollection<string> consumerPaths)
    {
        ArgumentNullException.ThrowIfNull(consumerPaths);
        var whole = Whole(platform);
        return Of(platform).Append(whole).FirstOrDefault(c =>
            c.Consumers.Length == consumerPaths.Count && c.Consumers.All(x => consumerPaths.Contains(platform.Devices[x].Path)));
    }

    private static IEnumerable<int> InstancesOf(PlatformDevice d) =>
        d.Iommus.Refs.Where(r => r.Instance is not null).Select(r => r.Instance!.Value).Distinct();
}

/// <summary>
/// When each device is added (device_add() → BUS_NOTIFY_ADD_DEVICE → iommu_probe_device()), the ordering rules the
/// explorer respects (docs/traces.md "Device add"):
/// <list type="number">
/// <item>DT platform devices: of_platform_default_populate_init() runs at arch_initcall_sync, before any driver
/// registers (built-in drivers at device_initcall, modules after init), so they are added at boot.</item>
/// <item>ACPI devices, PCI functions under ACPI host bridges included: acpi_init() (subsys_initcall) scans the
/// namespace and acpi_pci_root_add() enumerates the buses, also before any driver: added at boot.</item>
/// <item>PCI functions behind a DT host bridge: added by that bridge's driver probe (pci_host_probe() →
/// pci_scan_root_bus_bridge() → pci_device_add()), in scan order, in one thread, at a time not ordered against
/// IOMMU registrations (no device link: <c>iommu-map</c> is an optional supplier). Each is an ADD step of the
/// bridge's scan process, a parent bridge before the functions behind it; a function's PROBE process exists only
/// once its ADD has run (a device is probed only after it is added).</item>
/// </list>
/// </summary>
public static class DeviceAddOrder
{
    /// <summary>
    /// The position in <c>platform.Devices</c> of the DT host bridge (a platform device) whose scan adds this PCI
    /// function, or null. Positions, not <see cref="PlatformDevice.Index"/>: a restricted platform
    /// (<see cref="ClusterPlatform"/>) may keep the whole tree's device numbers.
    /// </summary>
    public static int? HostBridgeOf(Platform platform, PlatformDevice d)
    {
        ArgumentNullException.ThrowIfNull(platform);
        ArgumentNullException.ThrowIfNull(d);
        if (!d.IsPci || d.Acpi is not null)
        {
            return null;
        }

        int? best = null;
        for (var i = 0; i < platform.Devices.Count; i++)
        {
            var p = platform.Devices[i];
            if (!p.IsPci && d.Path.StartsWith(p.Path + "/", StringComparison.Ordinal) && (best is null || p.Path.Length > platform.Devices[best.Value].Path.Length))
            {
                best = i;
            }
        }

        return best;
    }

    /// <summary>
    /// Per host bridge with a consumer of <paramref name="cluster"/> behind it: the functions its scan adds (as
    /// positions in <c>platform.Devices</c>), in scan order, cut into ADD steps that each end with one of the
    /// cluster's consumers (the functions of other clusters and bridges without IOMMU references are added in the
    /// same step as the next consumer: a walk seeing them or not changes nothing for the cluster).
    /// </summary>
    public static IReadOnlyList<(int Bridge, ImmutableArray<ImmutableArray<int>> Steps)> Scans(Platform platform, Cluster cluster)
    {
        ArgumentNullException.ThrowIfNull(platform);
        ArgumentNullException.ThrowIfNull(cluster);
        var bridges = cluster.Consumers.Select(c => HostBridgeOf(platform, platform.Devices[c])).OfType<int>().Distinct().Order().ToList();
        var result = new List<(int, ImmutableArray<ImmutableArray<int>>)>();
        if (bridges.Count == 0)
        {
            return result;
        }

        var bridgeOf = new int?[platform.Devices.Count];
        for (var i = 0; i < bridgeOf.Length; i++)
        {
            bridgeOf[i] = HostBridgeOf(platform, platform.Devices[i]);
        }

        foreach (var b in bridges)
        {
            var steps = new List<ImmutableArray<int>>();
            var chunk = new List<int>();
            for (var i = 0; i < bridgeOf.Length; i++)
            {
                if (bridgeOf[i] != b)
                {
                    continue;
                }

                chunk.Add(i);
                if (cluster.Consumers.Contains(i))
                {
                    steps.Add([.. chunk]);
                    chunk.Clear();
                }
            }

            if (chunk.Count > 0)
            {
                steps[^1] = [.. steps[^1], .. chunk];
            }

            result.Add((b, [.. steps]));
        }

        return result;
    }
}
