using System.Globalization;
using System.Text;
using IommuLab.Firmware.Topology;

namespace IommuLab.Cli.Rendering;

/// <summary>The topology as a Graphviz digraph: providers, consumers and map users; edges carry args or ID ranges; unavailable nodes are grey.</summary>
public static class TopologyDot
{
    private const string Grey = "style=\"filled,dashed\", fillcolor=\"#eeeeee\", color=\"#999999\", fontcolor=\"#777777\"";

    public static void Write(IommuTopology topology, TextWriter w)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(w);
        w.WriteLine("digraph iommu_topology {");
        w.WriteLine("  rankdir=LR;");
        w.WriteLine($"  label={Q("IOMMU topology of " + topology.SourceName)};");
        w.WriteLine("  node [shape=box, fontname=\"monospace\", fontsize=10];");
        w.WriteLine("  edge [fontname=\"monospace\", fontsize=9];");

        // One graph node per DT node, whatever roles it has (an IOMMU can itself be a consumer).
        var roles = new Dictionary<string, (List<string> Lines, bool Available, bool Provider)>(StringComparer.Ordinal);
        var order = new List<string>();
        void Role(string path, string line, bool available, bool provider)
        {
            if (!roles.TryGetValue(path, out var r))
            {
                r = ([path], available, false);
                order.Add(path);
            }

            r.Lines.Add(line);
            roles[path] = (r.Lines, r.Available && available, r.Provider || provider);
        }

        foreach (var p in topology.Providers)
        {
            Role(p.Path, $"{(p.Compatible.Count > 0 ? p.Compatible[0] : "-")} #iommu-cells={(p.IommuCells?.ToString(CultureInfo.InvariantCulture) ?? "?")}", p.Status.IsAvailable, true);
        }

        foreach (var c in topology.Consumers)
        {
            Role(c.Path, "iommus consumer" + (c.Status.IsAvailable ? "" : $" [{c.Status.Display}]"), c.Status.IsAvailable, false);
        }

        foreach (var m in topology.MapUsers)
        {
            Role(m.Path, "iommu-map" + (m.MaskDeclared ? $" mask 0x{m.Mask:x}" : ""), m.Status.IsAvailable, false);
        }

        foreach (var path in order)
        {
            var (lines, available, provider) = roles[path];
            var attrs = $"label={Q(string.Join("\n", lines))}" + (provider ? ", shape=box3d" : "") + (available ? "" : ", " + Grey);
            w.WriteLine($"  {Q(path)} [{attrs}];");
        }

        foreach (var c in topology.Consumers)
        {
            foreach (var r in c.References)
            {
                var grey = r.TargetAvailable && c.Status.IsAvailable ? "" : ", color=\"#999999\", fontcolor=\"#777777\", style=dashed";
                w.WriteLine($"  {Q(c.Path)} -> {Q(r.TargetPath)} [label={Q($"[{r.Index}] {Strings.Args(r.Args)}")}{grey}];");
            }
        }

        foreach (var m in topology.MapUsers)
        {
            var readings = m.LayoutsAgree ? [(m.TargetCells, "")] : new[] { (m.FourCell, "<v7.2 "), (m.TargetCells, "v7.2+ ") };
            foreach (var (reading, tag) in readings)
            {
                foreach (var e in reading.Entries.Where(e => e.TargetPath is not null))
                {
                    var grey = e.TargetAvailable ? "" : ", color=\"#999999\", fontcolor=\"#777777\", style=dashed";
                    var label = $"{tag}ids {e.IdRangeText} -> {Strings.Args(e.OutBase)}";
                    w.WriteLine($"  {Q(m.Path)} -> {Q(e.TargetPath!)} [label={Q(label)}{grey}];");
                }
            }
        }

        w.WriteLine("}");
    }

    /// <summary>A DOT double-quoted string (also used by the replay picture).</summary>
    internal static string Q(string s)
    {
        var b = new StringBuilder("\"");
        foreach (var ch in s)
        {
            b.Append(ch switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                _ => ch.ToString(),
            });
        }

        return b.Append('"').ToString();
    }
}
