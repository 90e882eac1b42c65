using IommuLab.Model.Exploration;

namespace IommuLab.Model.Kernel;

/// <summary>Device removal (drivers/base/core.c, dd.c) and the IOMMU release it triggers (spec §4.7).</summary>
public sealed partial class Kernel
{
    /// <summary>
    /// Models device_del(): the bound driver is released (device_release_driver()), the device leaves the
    /// deferred lists, BUS_NOTIFY_REMOVED_DEVICE runs iommu_release_device(), and the device leaves its bus.
    /// </summary>
    public async KTask DeviceDel(Device dev)
    {
        ArgumentNullException.ThrowIfNull(dev);
        await Write(ObjectKind.DevDriver, dev.Index);
        if (!dev.Added)
        {
            return;
        }

        if (dev.HasDriverSet)
        {
            await DeviceReleaseDriver(dev);
        }

        await DeferredProbeDel(dev);
        dev.State = DriverState.Unbound;
        Log(EventLevel.Info, dev, "device_del", "BUS_NOTIFY_REMOVED_DEVICE");
        await IommuReleaseDevice(dev);
        await Write(ObjectKind.DevDriver, dev.Index);
        (dev.Info.IsPci ? PciBus : Bus).Remove(dev);
        dev.Added = false;
    }

    /// <summary>
    /// Models __device_release_driver(): the driver's remove() (an IOMMU driver's remove calls
    /// iommu_device_unregister(), which releases only devices whose primary instance it is, spec §1.3),
    /// then platform_dma_cleanup() → iommu_device_unuse_default_domain().
    /// </summary>
    private async KTask DeviceReleaseDriver(Device dev)
    {
        if (dev.Info.Instance is { } ix && Instances[ix].Registered)
        {
            Log(EventLevel.Info, dev, "__device_release_driver", $"{DriverName(dev)} remove: iommu_device_unregister({Instances[ix].Name})");
            await IommuDeviceUnregister(Instances[ix]);
        }

        await Read(ObjectKind.DevGroup, dev.Index);
        if (dev.UsesDefaultDomain && dev.Group is { } group)
        {
            var m = GroupMutex(group);
            await Sched.Lock(m);
            await Write(ObjectKind.Group, group.Id);
            group.OwnerCount--;
            await Sched.Unlock(m);
        }

        await Write(ObjectKind.DevDriver, dev.Index);
        dev.UsesDefaultDomain = false;
        dev.HasDriverSet = false;
        dev.Dma = DmaMode.Unset;
        Log(EventLevel.Info, dev, "__device_release_driver", $"unbound from {DriverName(dev)}");
    }
}
