using System.Globalization;

namespace IommuLab.Cli.Rendering;

/// <summary>The IOMMU-group cluster both pictures draw (topology and replay), so they look alike.</summary>
internal static class DotClusters
{
    /// <summary>
    /// Writes <c>subgraph cluster_group_ID</c> around the node statements: Graphviz draws a cluster only for a
    /// subgraph whose name starts with "cluster", and a node belongs to the first cluster it is declared in.
    /// </summary>
    public static void WriteGroup(TextWriter w, int id, string label, IEnumerable<string> nodeStatements)
    {
        w.WriteLine($"  subgraph cluster_group_{id.ToString(CultureInfo.InvariantCulture)} {{");
        w.WriteLine($"    label={TopologyDot.Q(label)};");
        w.WriteLine("    style=rounded;");
        foreach (var n in nodeStatements)
        {
            w.WriteLine($"    {n}");
        }

        w.WriteLine("  }");
    }
}
