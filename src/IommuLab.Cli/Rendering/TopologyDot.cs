using System.Globalization;
using System.Text;
using IommuLab.Firmware.Topology;
using IommuLab.Model.Kernel;

namespace IommuLab.Cli.Rendering;

/// <summary>
/// The topology as a Graphviz digraph: providers, consumers and map users; edges carry args or ID ranges; unavailable
/// nodes are grey. With <see cref="TopologyGroups"/>, the PCI functions the kernel enumerates behind an
/// <c>iommu-map</c> are drawn too, and every device in an IOMMU group sits in that group's
/// <c>subgraph cluster_group_N</c>; devices without a group stay outside clusters.
/// </summary>
public static class TopologyDot
{
    private const string Grey = "style=\"filled,dashed\", fillcolor=\"#eeeeee\", color=\"#999999\", fontcolor=\"#777777\"";

    private const string GreyEdge = ", color=\"#999999\", fontcolor=\"#777777\", style=dashed";

    /// <summary>The firmware topology alone (no groups).</summary>
    public static void Write(IommuTopology topology, TextWriter w) => Write(topology, null, w);

    /// <summary>The device-tree picture, with the groups of <paramref name="groups"/> as clusters when given.</summary>
    public static void Write(IommuTopology topology, TopologyGroups? groups, TextWriter w)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(w);
        var nodes = new NodeSet();
        foreach (var p in topology.Providers)
        {
            nodes.Role(p.Path, $"{(p.Compatible.Count > 0 ? p.Compatible[0] : "-")} #iommu-cells={(p.IommuCells?.ToString(CultureInfo.InvariantCulture) ?? "?")}", p.Status.IsAvailable, true);
        }

        foreach (var c in topology.Consumers)
        {
            nodes.Role(c.Path, "iommus consumer" + (c.Status.IsAvailable ? "" : $" [{c.Status.Display}]"), c.Status.IsAvailable, false);
        }

        foreach (var m in topology.MapUsers)
        {
            nodes.Role(m.Path, "iommu-map" + (m.MaskDeclared ? $" mask 0x{m.Mask:x}" : ""), m.Status.IsAvailable, false);
        }

        // PCI functions exist only once the kernel enumerates the bus: take them from the platform that was booted.
        var functions = groups?.Platform?.Devices.Where(d => d.IsPci && d.Instance is null).ToList() ?? [];
        foreach (var f in functions)
        {
            nodes.Role(f.Path, $"PCI function {PciFunction.Format(f.Rid!.Value)}", true, false);
        }

        var edges = new List<string>();
        foreach (var c in topology.Consumers)
        {
            foreach (var r in c.References)
            {
                var grey = r.TargetAvailable && c.Status.IsAvailable ? "" : GreyEdge;
                edges.Add($"  {Q(c.Path)} -> {Q(r.TargetPath)} [label={Q($"[{r.Index}] {Strings.Args(r.Args)}")}{grey}];");
            }
        }

        foreach (var m in topology.MapUsers)
        {
            var readings = m.LayoutsAgree ? [(m.TargetCells, "")] : new[] { (m.FourCell, "<v7.2 "), (m.TargetCells, "v7.2+ ") };
            foreach (var (reading, tag) in readings)
            {
                foreach (var e in reading.Entries.Where(e => e.TargetPath is not null))
                {
                    var grey = e.TargetAvailable ? "" : GreyEdge;
                    var label = $"{tag}ids {e.IdRangeText} -> {Strings.Args(e.OutBase)}";
                    edges.Add($"  {Q(m.Path)} -> {Q(e.TargetPath!)} [label={Q(label)}{grey}];");
                }
            }
        }

        foreach (var f in functions)
        {
            // The host bridge whose iommu-map the function's requester IDs go through: the nearest map user above it.
            var bridge = topology.MapUsers.Where(m => f.Path.StartsWith(m.Path + "/", StringComparison.Ordinal)).MaxBy(m => m.Path.Length);
            if (bridge is not null)
            {
                edges.Add($"  {Q(bridge.Path)} -> {Q(f.Path)} [style=dotted, arrowhead=none];");
            }

            edges.AddRange(ReferenceEdges(f, nodes));
        }

        Header(w, "IOMMU topology of " + topology.SourceName, groups);
        nodes.Write(w, groups);
        foreach (var e in edges)
        {
            w.WriteLine(e);
        }

        w.WriteLine("}");
    }

    /// <summary>
    /// The picture of an IORT or VIOT table, drawn from the platform the table describes: IOMMU instances, named
    /// components and PCI functions (with their root complex), an edge per reference labelled with its stream ID,
    /// and the groups of the canonical boot as clusters.
    /// </summary>
    /// <param name="sourceName">The file, for the label.</param>
    /// <param name="table">"IORT" or "VIOT", for the label.</param>
    /// <param name="groups">The canonical boot of the table's platform.</param>
    /// <param name="w">Where the DOT text goes.</param>
    public static void WriteAcpi(string sourceName, string table, TopologyGroups groups, TextWriter w)
    {
        ArgumentNullException.ThrowIfNull(sourceName);
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(groups);
        ArgumentNullException.ThrowIfNull(w);
        var platform = groups.Platform ?? throw new ArgumentException("an ACPI picture needs the platform", nameof(groups));
        var nodes = new NodeSet();
        foreach (var i in platform.Instances)
        {
            nodes.Role(i.Path, $"{i.Name} {i.Compatible}", true, true);
        }

        var edges = new List<string>();
        foreach (var d in platform.Devices.Where(d => d.Instance is null && d.Acpi is not null))
        {
            var acpi = d.Acpi!;
            if (d.IsPci)
            {
                // The root complex is no device: one node per IORT root complex (or VIOT PCI range owner) the functions sit under.
                nodes.Role(acpi.Node, acpi.NodeFound ? "root complex" : "no root complex", acpi.NodeFound, false);
                nodes.Role(d.Path, $"PCI function {PciFunction.Format(d.Rid!.Value)}", true, false);
                edges.Add($"  {Q(acpi.Node)} -> {Q(d.Path)} [style=dotted, arrowhead=none];");
            }
            else
            {
                nodes.Role(d.Path, acpi.Node, acpi.NodeFound, false);
                if (d.Iommus.IsEmpty && acpi.EndNote is { } end)
                {
                    // No edge to draw: say why the kernel's ID loop found no SMMU.
                    nodes.Role(d.Path, end, acpi.NodeFound, false);
                }
            }

            edges.AddRange(ReferenceEdges(d, nodes));
        }

        Header(w, $"IOMMU topology of {sourceName} ({table})", groups);
        nodes.Write(w, groups);
        foreach (var e in edges)
        {
            w.WriteLine(e);
        }

        w.WriteLine("}");
    }

    /// <summary>
    /// A kernel device's references as edges: "[index] RID -> &lt;stream ID&gt;" for a PCI function's DMA alias, else
    /// "[index] &lt;stream ID&gt;"; a reference to no IOMMU instance is grey and dashed, to a grey node of its own.
    /// </summary>
    private static IEnumerable<string> ReferenceEdges(PlatformDevice d, NodeSet nodes)
    {
        foreach (var r in d.Iommus.Refs)
        {
            var available = r.TargetAvailable && r.Instance is not null;
            if (!nodes.Contains(r.TargetPath))
            {
                nodes.Role(r.TargetPath, "no IOMMU instance", false, false);
            }

            var rid = r.PciAlias is { } a ? $"{PciFunction.Format(a.Rid)} -> " : "";
            yield return $"  {Q(d.Path)} -> {Q(r.TargetPath)} [label={Q($"[{r.Index}] {rid}{Strings.Args(r.Args)}")}{(available ? "" : GreyEdge)}];";
        }
    }

    private static void Header(TextWriter w, string title, TopologyGroups? groups)
    {
        w.WriteLine("digraph iommu_topology {");
        w.WriteLine("  rankdir=LR;");
        w.WriteLine($"  label={Q(groups is null ? title : title + "\n" + groups.Caption)};");
        w.WriteLine("  node [shape=box, fontname=\"monospace\", fontsize=10];");
        w.WriteLine("  edge [fontname=\"monospace\", fontsize=9];");
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

    /// <summary>One graph node per path, whatever roles it has (an IOMMU can itself be a consumer), in first-seen order.</summary>
    private sealed class NodeSet
    {
        private readonly Dictionary<string, (List<string> Lines, bool Available, bool Provider)> _roles = new(StringComparer.Ordinal);
        private readonly List<string> _order = [];

        public bool Contains(string path) => _roles.ContainsKey(path);

        public void Role(string path, string line, bool available, bool provider)
        {
            if (!_roles.TryGetValue(path, out var r))
            {
                r = ([path], available, false);
                _order.Add(path);
            }

            if (!r.Lines.Contains(line))
            {
                r.Lines.Add(line);
            }

            _roles[path] = (r.Lines, r.Available && available, r.Provider || provider);
        }

        private string Statement(string path)
        {
            var (lines, available, provider) = _roles[path];
            var attrs = $"label={Q(string.Join("\n", lines))}" + (provider ? ", shape=box3d" : "") + (available ? "" : ", " + Grey);
            return $"{Q(path)} [{attrs}];";
        }

        /// <summary>Each group's members inside its cluster (in group order), then every other node.</summary>
        public void Write(TextWriter w, TopologyGroups? groups)
        {
            var clustered = new HashSet<string>(StringComparer.Ordinal);
            foreach (var g in groups?.Groups ?? [])
            {
                var members = _order.Where(p => groups!.GroupOf(p) == g.Id).ToList();
                if (members.Count == 0)
                {
                    continue;
                }

                clustered.UnionWith(members);
                DotClusters.WriteGroup(w, g.Id, $"group {g.Id} ({g.Driver}): {g.Domain}", members.Select(Statement));
            }

            foreach (var path in _order.Where(p => !clustered.Contains(p)))
            {
                w.WriteLine($"  {Statement(path)}");
            }
        }
    }
}
