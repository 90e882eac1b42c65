namespace IommuLab.Model.Exploration;

/// <summary>What a scheduling point does to the object it names.</summary>
public enum AccessKind
{
    Read,
    Write,
    Acquire,
    Release,

    /// <summary>
    /// A read whose value the thread only compares with its own later read of the same object (really_probe()'s
    /// deferred_trigger_count snapshot): a dependency in fine mode, none within an atomic coarse step.
    /// </summary>
    Snapshot,
}

/// <summary>Families of shared kernel objects a scheduling point can name.</summary>
public enum ObjectKind
{
    /// <summary>The global <c>iommu_probe_device_lock</c> mutex.</summary>
    ProbeLock,

    /// <summary>An IOMMU group's <c>group->mutex</c> (id: group id).</summary>
    GroupMutex,

    /// <summary>A <c>device_lock</c> (id: device index).</summary>
    DeviceLock,

    /// <summary>
    /// An entry of the <c>iommu_device_list</c> (instance registry, under <c>iommu_device_lock</c>) (id: instance
    /// index): lookups by fwnode observe only their own instance's entry.
    /// </summary>
    InstanceList,

    /// <summary>The <c>ready</c> flag of an IOMMU instance (id: instance index).</summary>
    InstanceReady,

    /// <summary>A device's <c>dev->iommu</c> pointer and the object it points to (id: device index).</summary>
    DevIommu,

    /// <summary>A device's <c>dev->iommu_group</c> and the group membership (id: device index).</summary>
    DevGroup,

    /// <summary>A device's driver-core state: <c>dev->driver</c>, probe state, DMA ops (id: device index).</summary>
    DevDriver,

    /// <summary>An IOMMU group's domains and iommudata (id: group id).</summary>
    Group,

    /// <summary>The driver core's deferred pending/active lists and trigger count.</summary>
    DeferredLists,

    /// <summary>A bus's <c>iommu_ops</c> pointer (K66/K67).</summary>
    BusOps,

    /// <summary>An IOMMU instance's hardware stream registers (TCR/TTBR/STE) (id: instance index).</summary>
    InstanceRegisters,

    /// <summary>An apple-dart instance's <c>sid2group</c> table, under <c>apple_dart_groups_lock</c> (id: instance index).</summary>
    DartGroups,

    /// <summary>The deferred-probe <c>work_struct</c>: a work item never runs concurrently with itself.</summary>
    WorkItem,

    /// <summary>A bus's device list (<c>bus_for_each_dev</c>; id 0: platform, 1: pci): device_add() appends to it.</summary>
    BusList,

    /// <summary>Whether a driver's module is loaded (driver_register() done) (id: <see cref="Kernel.Platform.DriverId"/>).</summary>
    DriverModule,
}

/// <summary>A stable identity of one shared kernel object within an execution.</summary>
public readonly record struct KObject(ObjectKind Kind, int Id)
{
    public override string ToString() => Kind is ObjectKind.ProbeLock or ObjectKind.DeferredLists or ObjectKind.BusOps or ObjectKind.WorkItem
        ? Kind.ToString()
        : $"{Kind}[{Id}]";
}

/// <summary>One declared access: two accesses are dependent iff they name the same object and one writes (locks: any two ops).</summary>
public readonly record struct Access(KObject Object, AccessKind Kind)
{
    public bool IsLockOp => Kind is AccessKind.Acquire or AccessKind.Release;

    /// <summary>The dependency relation the explorer uses.</summary>
    public bool DependsOn(Access other) =>
        Object == other.Object && (IsLockOp || other.IsLockOp || Kind == AccessKind.Write || other.Kind == AccessKind.Write);

    public override string ToString() => $"{Kind.ToString().ToLowerInvariant()} {Object}";
}
