namespace IommuLab.Firmware.Acpi.Iort;

/// <summary>
/// A decoded IORT: the nodes in table order, found by offset, name or PCI segment, and the ID translation
/// Linux performs on them (<see cref="MapId"/> and the resolvers in IortTable.Resolve.cs). Immutable.
/// </summary>
public sealed partial class IortTable : AcpiTable
{
    private readonly Dictionary<uint, IortNode> _byOffset;

    internal IortTable(string source, AcpiTableHeader header, IReadOnlyList<IortNode> nodes, IReadOnlyList<AcpiProblem> problems)
        : base(source, header, problems)
    {
        Nodes = nodes;
        _byOffset = nodes.ToDictionary(n => (uint)n.Offset);
    }

    /// <summary>The nodes, in table order (the order iort_scan_node() visits them).</summary>
    public IReadOnlyList<IortNode> Nodes { get; }

    public IEnumerable<IortNamedComponent> NamedComponents => Nodes.OfType<IortNamedComponent>();

    public IEnumerable<IortRootComplex> RootComplexes => Nodes.OfType<IortRootComplex>();

    /// <summary>The SMMUv1/v2 and SMMUv3 nodes, the IOMMU instances of the table.</summary>
    public IEnumerable<IortNode> Iommus => Nodes.Where(n => n.Type is IortNodeType.Smmu or IortNodeType.SmmuV3);

    /// <summary>The node starting at a table offset (what an output reference names), or null.</summary>
    public IortNode? NodeAt(uint offset) => _byOffset.GetValueOrDefault(offset);

    /// <summary>
    /// The first named component whose object name equals <paramref name="objectName"/> exactly: iort_scan_node()
    /// with iort_match_node_callback(), which compares the device's full ACPI path with strcmp().
    /// </summary>
    public IortNamedComponent? FindNamedComponent(string objectName)
    {
        ArgumentNullException.ThrowIfNull(objectName);
        return NamedComponents.FirstOrDefault(n => string.Equals(n.ObjectName, objectName, StringComparison.Ordinal));
    }

    /// <summary>The first root complex of a PCI segment: iort_scan_node() with iort_match_node_callback(), which
    /// assumes one root complex per segment.</summary>
    public IortRootComplex? FindRootComplex(uint segment) => RootComplexes.FirstOrDefault(r => r.PciSegment == segment);

    /// <summary>"SMMUv3", "named component"...: the node type as messages and renderings spell it.</summary>
    public static string TypeName(byte type) => (IortNodeType)type switch
    {
        IortNodeType.ItsGroup => "ITS group",
        IortNodeType.NamedComponent => "named component",
        IortNodeType.RootComplex => "root complex",
        IortNodeType.Smmu => "SMMUv1/v2",
        IortNodeType.SmmuV3 => "SMMUv3",
        IortNodeType.Pmcg => "PMCG",
        IortNodeType.Rmr => "RMR",
        IortNodeType.Iwb => "IWB",
        _ => $"type-{type}",
    };
}
