using System.Globalization;
using System.Text;
using IommuLab.Model.Exploration;
using IommuLab.Model.Kernel;

namespace IommuLab.Cli.Rendering;

/// <summary>
/// The final state of a replayed counterexample as a Graphviz digraph: the cluster's IOMMU instances (grey when
/// not registered), its consumers inside one <c>subgraph cluster_group_N</c> per IOMMU group, an edge per
/// firmware reference labelled with its stream ID, and in red every reference the kernel did not program (the
/// edge the violation misses). References to disabled providers are grey and dashed.
/// </summary>
public static class ReplayDot
{
    private const string Grey = "style=\"filled,dashed\", fillcolor=\"#eeeeee\", color=\"#999999\", fontcolor=\"#777777\"";

    public static void Write(TraceReplay replay, TextWriter w)
    {
        ArgumentNullException.ThrowIfNull(replay);
        ArgumentNullException.ThrowIfNull(w);
        var trace = replay.Trace;
        var k = ((KernelSystemRun)replay.Execution.Run).Kernel;
        var clusterPaths = trace.Cluster.ToHashSet(StringComparer.Ordinal);
        var consumers = k.Devices.Where(d => d.Info.IsConsumer && clusterPaths.Contains(d.Info.Path)).ToList();
        var instancePaths = consumers.SelectMany(d => d.Info.Iommus.Refs).Where(r => r.Instance is not null).Select(r => r.Instance!.Value).Distinct().Order().ToList();

        w.WriteLine("digraph replay {");
        w.WriteLine("  rankdir=LR;");
        var verdict = replay.Reproduced ? "reproduced" : "NOT reproduced";
        w.WriteLine($"  label={Q($"{trace.Invariant} {trace.Device} under {trace.Profile}: {verdict}; final state after {replay.Execution.Steps.Count} steps of {trace.Context.Input}")};");
        w.WriteLine("  labelloc=t;");
        w.WriteLine("  node [shape=box, fontname=\"monospace\", fontsize=10];");
        w.WriteLine("  edge [fontname=\"monospace\", fontsize=9];");

        foreach (var ix in instancePaths)
        {
            var inst = k.Instances[ix];
            var state = inst.RegistrationFailed ? "registration failed" : inst.Registered ? "registered" : "not registered";
            var attrs = $"label={Q($"{inst.Info.Path}\n{inst.Info.Compatible}\n{state}")}, shape=box3d" + (inst.Registered ? "" : ", " + Grey);
            w.WriteLine($"  {Q(inst.Info.Path)} [{attrs}];");
        }

        // Disabled (or otherwise unavailable) targets have no instance: one grey node each.
        var unavailable = consumers.SelectMany(d => d.Info.Iommus.Refs).Where(r => r.Instance is null).Select(r => r.TargetPath).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        foreach (var path in unavailable)
        {
            w.WriteLine($"  {Q(path)} [label={Q($"{path}\n(no IOMMU instance: disabled or not a provider)")}, shape=box3d, {Grey}];");
        }

        var outcomes = consumers.ToDictionary(d => d, d => OutcomeBuilder.Of(k, d));
        string Node(Device d)
        {
            var o = outcomes[d];
            var text = $"{d.Info.Path}\nclass {o.Class}, {o.DriverState}, dma {o.Dma}";
            var bad = d.Info.Path == trace.Device ? ", color=\"#cc0000\", penwidth=2" : "";
            return $"{Q(d.Info.Path)} [label={Q(text)}{bad}];";
        }

        foreach (var g in consumers.Where(d => d.Group is { Freed: false }).GroupBy(d => d.Group!).OrderBy(g => g.Key.Id))
        {
            DotClusters.WriteGroup(w, g.Key.Id, $"group {g.Key.Id}: {g.Key.Domain?.ToString() ?? "no domain"}", g.Select(Node));
        }

        foreach (var d in consumers.Where(d => d.Group is not { Freed: false }))
        {
            w.WriteLine($"  {Node(d)}");
        }

        foreach (var d in consumers)
        {
            var configured = outcomes[d].Configured.ToHashSet();
            foreach (var r in d.Info.Iommus.Refs)
            {
                var sid = OutcomeBuilder.Ref(r);
                var label = r.Args.Length == 0 ? "" : string.Join(" ", r.Args.Select(a => "0x" + a.ToString("x", CultureInfo.InvariantCulture)));
                string style;
                if (r.Instance is null || !r.TargetAvailable)
                {
                    style = $"label={Q(label)}, color=\"#999999\", fontcolor=\"#777777\", style=dashed";
                }
                else if (configured.Contains(sid))
                {
                    style = $"label={Q(label)}";
                }
                else
                {
                    style = $"label={Q($"{label}: not programmed")}, color=\"#cc0000\", fontcolor=\"#cc0000\", penwidth=2";
                }

                w.WriteLine($"  {Q(d.Info.Path)} -> {Q(r.TargetPath)} [{style}];");
            }
        }

        w.WriteLine("}");
    }

    private static string Q(string s) => TopologyDot.Q(s);
}
