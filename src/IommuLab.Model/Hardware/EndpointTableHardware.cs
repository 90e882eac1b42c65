using IommuLab.Model.PageTables;

namespace IommuLab.Model.Hardware;

/// <summary>
/// An IOMMU without a modelled register layout (virtio-iommu, a generic <c>#iommu-cells</c> provider): an
/// endpoint table from endpoint ID to attach state. virtio-iommu keeps mappings in the host, sent with MAP
/// requests (drivers/iommu/virtio-iommu.c viommu_attach_dev(), viommu_map_pages()); the model stands the host's
/// mapping store in with the domain's stage-1 table, so a lookup is still a walk of what the guest mapped.
/// </summary>
public sealed class EndpointTableHardware : IommuHardware
{
    private readonly Dictionary<uint, (StreamTranslation Mode, LpaeWalkerConfig? Table)> _endpoints = [];

    /// <summary>ATTACH to a paging domain.</summary>
    public void AttachTranslate(uint endpoint, IoPageTable table)
    {
        ArgumentNullException.ThrowIfNull(table);
        _endpoints[endpoint] = (StreamTranslation.Translate, LpaeWalkerConfig.ForTable(table));
    }

    /// <summary>ATTACH to a bypass (identity) domain.</summary>
    public void AttachBypass(uint endpoint) => _endpoints[endpoint] = (StreamTranslation.Bypass, null);

    /// <summary>ATTACH to a blocking domain, or DETACH.</summary>
    public void Detach(uint endpoint) => _endpoints[endpoint] = (StreamTranslation.Disabled, null);

    public override HardwareAccess Access(PhysicalMemory memory, uint streamId, ulong address, DmaAccess access)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (!_endpoints.TryGetValue(streamId, out var e))
        {
            return HardwareAccess.Disabled(address, "endpoint never attached: translation never enabled");
        }

        return e.Mode switch
        {
            StreamTranslation.Bypass => HardwareAccess.Bypassed(address, "bypass domain"),
            StreamTranslation.Disabled => HardwareAccess.Disabled(address, "endpoint blocked"),
            _ => HardwareAccess.Walked(address, HardwareWalker.Translate(memory, e.Table!, address, access), "domain mappings"),
        };
    }

    public override string DescribeStream(uint streamId) =>
        _endpoints.TryGetValue(streamId, out var e) ? $"endpoint {e.Mode.ToString().ToLowerInvariant()}" : "endpoint detached";
}
