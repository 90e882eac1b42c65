using IommuLab.Model.Exploration;
using IommuLab.Model.Kernel;

namespace IommuLab.Model.Drivers;

/// <summary>Per-device driver state that lives in the allocation ledger (apple cfg, SMMU master).</summary>
public interface ILedgered
{
    int LedgerId { get; }

    string Describe();
}

/// <summary>State of one hardware stream as the model tracks it (TCR/TTBR for DART, STE/S2CR for SMMU).</summary>
public enum StreamMode
{
    /// <summary>Disabled or never programmed since reset.</summary>
    Disabled,
    Bypass,
    Translate,
}

/// <summary>One stream of an instance: its mode and the domain its page table (TTBR) belongs to.</summary>
public sealed record StreamState(int Sid, StreamMode Mode, string? Ttbr, int? Group);

/// <summary>
/// An IOMMU driver's <c>struct iommu_ops</c> plus its platform-driver probe. One object per driver per execution:
/// object identity is ops-pointer identity.
/// </summary>
public abstract class IommuDriver(Kernel.Kernel kernel)
{
    protected Kernel.Kernel K { get; } = kernel;

    public abstract string Name { get; }

    /// <summary>Whether the ops' owner is a module, once the kernel has asked (a platform fact: see Kernel.IsModule).</summary>
    internal bool? OwnerIsModule { get; set; }

    public virtual bool HasOfXlate => true;

    /// <summary>The platform driver's probe() ignores iommu_device_register()'s result (viommu_probe()) and stays bound.</summary>
    internal virtual bool IgnoresRegisterError => false;

    /// <summary>The platform driver's probe() up to (not including) iommu_device_register().</summary>
    internal abstract KTask<Errno> ProbeInstance(IommuInstance inst);

    /// <summary><c>ops->of_xlate</c>.</summary>
    internal abstract KTask<Errno> OfXlate(Device dev, FwRef spec);

    /// <summary>
    /// The ID <c>of_xlate</c> adds to the fwspec for one firmware reference: the first cell by default. A check that
    /// compares a fwspec with the firmware should compare against this, not the raw cell (arm-smmu packs a mask in).
    /// </summary>
    public virtual uint FwspecId(FwRef spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return spec.Args.Length > 0 ? spec.Args[0] : 0;
    }

    /// <summary><c>ops->probe_device</c>.</summary>
    internal abstract KTask<(IommuInstance?, Errno)> ProbeDevice(Device dev);

    /// <summary><c>ops->release_device</c>.</summary>
    internal abstract KTask ReleaseDevice(Device dev);

    /// <summary><c>ops->device_group</c>.</summary>
    internal abstract KTask<(IommuGroup?, Errno)> DeviceGroup(Device dev);

    /// <summary><c>ops->def_domain_type</c> (None = no preference).</summary>
    internal abstract DomainType DefDomainType(Device dev);

    /// <summary>Static identity/blocked domains or <c>domain_alloc_paging</c>.</summary>
    internal abstract KTask<(IommuDomain?, Errno)> DomainAlloc(DomainType type, Device dev);

    /// <summary>The domain's <c>attach_dev</c>.</summary>
    internal abstract KTask<Errno> AttachDev(IommuDomain domain, Device dev);

    /// <summary>The group's <c>iommu_data_release</c>.</summary>
    internal virtual KTask ReleaseGroupData(IommuGroup group) => KTask.Completed;

    /// <summary>Programmed streams of an instance (for the final state and I1/I3).</summary>
    public abstract IEnumerable<StreamState> Streams(IommuInstance inst);

    /// <summary>The entry of <see cref="Streams"/> for stream <paramref name="sid"/>, if any (a lookup where the driver keeps one).</summary>
    public virtual StreamState? Stream(IommuInstance inst, uint sid) => Streams(inst).FirstOrDefault(s => s.Sid == sid);

    /// <summary>The (instance, stream id) pairs the device's current driver state configures.</summary>
    public abstract IReadOnlyList<(IommuInstance Instance, uint Id)> Configured(Device dev);

    /// <summary>The (instance, stream id) pairs the device's group/domain covers (what is actually programmed for it).</summary>
    public abstract IReadOnlyList<(IommuInstance Instance, uint Id)> GroupCoverage(Device dev);
}
