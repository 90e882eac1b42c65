using IommuLab.Firmware.DeviceTree;

namespace IommuLab.Firmware.Topology;

/// <summary>Summary figures of a topology.</summary>
/// <remarks>
/// <para><c>References</c>: Kernel-visible <c>iommus</c> references over all consumers.</para>
/// <para><c>EnabledConsumersReferencingDisabledProvider</c>: Enabled consumers with at least one reference to an unavailable provider.</para>
/// <para><c>MultiInstanceConsumers</c>: Consumers whose references name more than one distinct provider.</para>
/// </remarks>
public sealed record TopologyCounts(
    int Providers,
    int EnabledProviders,
    int Consumers,
    int DisabledConsumers,
    int References,
    int MapUsers,
    int EnabledConsumersReferencingDisabledProvider,
    int MultiInstanceConsumers,
    int Problems);

/// <summary>
/// The resolved IOMMU topology of one device tree: firmware facts decoded exactly as the kernel's DT parsing
/// functions decode them (providers, <c>iommus</c> consumers, <c>iommu-map</c> users) and the problems found.
/// Everything is in tree (DTB) order. Knows nothing about probe order, drivers or profiles.
/// </summary>
public sealed record IommuTopology(
    string SourceName,
    IReadOnlyList<IommuProvider> Providers,
    IReadOnlyList<IommusConsumer> Consumers,
    IReadOnlyList<IommuMapUser> MapUsers,
    IReadOnlyList<TopologyProblem> Problems)
{
    public TopologyCounts Counts => new(
        Providers.Count,
        Providers.Count(p => p.Status.IsAvailable),
        Consumers.Count,
        Consumers.Count(c => !c.Status.IsAvailable),
        Consumers.Sum(c => c.References.Count),
        MapUsers.Count,
        Consumers.Count(c => c.Status.IsAvailable && c.References.Any(r => !r.TargetAvailable)),
        Consumers.Count(c => c.DistinctTargets.Count > 1),
        Problems.Count);

    public IommuProvider? Provider(string path) => Providers.FirstOrDefault(p => p.Path == path);

    public IommusConsumer? Consumer(string path) => Consumers.FirstOrDefault(c => c.Path == path);

    public IommuMapUser? MapUser(string path) => MapUsers.FirstOrDefault(m => m.Path == path);

    /// <summary>Decodes every provider, consumer and map user of <paramref name="tree"/>, in tree order.</summary>
    public static IommuTopology Decode(DeviceTree.DeviceTree tree)
    {
        ArgumentNullException.ThrowIfNull(tree);
        var providers = new List<IommuProvider>();
        var consumers = new List<IommusConsumer>();
        var maps = new List<IommuMapUser>();
        var problems = new List<TopologyProblem>();
        foreach (var node in tree.AllNodes())
        {
            if (node.FindProperty("#iommu-cells") is { } cellsProp)
            {
                var provider = IommuProvider.From(node);
                providers.Add(provider);
                if (provider.IommuCells is null)
                {
                    problems.Add(new TopologyProblem(TopologyRules.ProviderCellsUnreadable, ProblemSeverity.Error, node.Path,
                        $"#iommu-cells is {cellsProp.Length} bytes, less than one cell: every iommus reference to this node fails with -EINVAL"));
                }

                if (provider.Reg is { TrailingCells: > 0 } reg)
                {
                    problems.Add(new TopologyProblem(TopologyRules.ProviderRegMalformed, ProblemSeverity.Warning, node.Path,
                        $"reg leaves {reg.TrailingCells} cell(s) over with #address-cells = {reg.AddressCells}, #size-cells = {reg.SizeCells}"));
                }
            }

            if (node.FindProperty("iommus") is { } iommus)
            {
                consumers.Add(IommusDecoder.Decode(tree, node, iommus, problems));
            }

            if (node.FindProperty("iommu-map") is { } map)
            {
                maps.Add(IommuMapDecoder.Decode(tree, node, map, problems));
            }
        }

        return new IommuTopology(tree.SourceName, providers, consumers, maps, problems);
    }
}
