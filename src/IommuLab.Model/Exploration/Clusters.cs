using System.Collections.Immutable;
using IommuLab.Model.Kernel;

namespace IommuLab.Model.Exploration;

/// <summary>
/// A set of consumers and the IOMMU instances they reference, closed under sharing: consumers in different clusters
/// share no instance (hence no group, no stream table, no sid2group entry) and are explored separately.
/// </summary>
public sealed record Cluster(int Index, ImmutableArray<int> Consumers, ImmutableArray<int> Instances, string Name)
{
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
    /// Connected components of the consumer-instance reference graph, in the order of each component's first consumer.
    /// Consumers with no instance reference form no cluster (nothing can reorder them against an IOMMU).
    /// </summary>
    public static IReadOnlyList<Cluster> Of(Platform platform)
    {
        ArgumentNullException.ThrowIfNull(platform);
        var parent = Enumerable.Range(0, platform.Instances.Count).ToArray();
        int Find(int x)
        {
            while (parent[x] != x)
            {
                parent[x] = parent[parent[x]];
                x = parent[x];
            }

            return x;
        }

        var consumers = platform.Devices.Where(d => d.IsConsumer && d.Instance is null).ToList();
        foreach (var d in consumers)
        {
            var refs = InstancesOf(d).ToList();
            for (var i = 1; i < refs.Count; i++)
            {
                parent[Find(refs[i])] = Find(refs[0]);
            }
        }

        var byRoot = new Dictionary<int, (List<int> Consumers, SortedSet<int> Instances)>();
        var order = new List<int>();
        foreach (var d in consumers)
        {
            var refs = InstancesOf(d).ToList();
            if (refs.Count == 0)
            {
                continue;
            }

            var root = Find(refs[0]);
            if (!byRoot.TryGetValue(root, out var c))
            {
                c = ([], []);
                byRoot.Add(root, c);
                order.Add(root);
            }

            c.Consumers.Add(d.Index);
        }

        for (var i = 0; i < platform.Instances.Count; i++)
        {
            if (byRoot.TryGetValue(Find(i), out var c))
            {
                c.Instances.Add(i);
            }
        }

        return [.. order.Select((root, n) =>
        {
            var (cs, ins) = byRoot[root];
            var name = string.Join(" + ", cs.Select(x => platform.Devices[x].Labels.FirstOrDefault() ?? platform.Devices[x].Name));
            return new Cluster(n, [.. cs], [.. ins], name);
        })];
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
