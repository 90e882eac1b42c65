using System.Collections.Immutable;
using IommuLab.Model.Dma;
using IommuLab.Model.Kernel;

namespace IommuLab.Model.Exploration;

/// <summary>
/// The platform one cluster's executions can observe: the cluster's consumers and IOMMU instance devices, plus
/// every device and instance the kernel model reads while running them. Built once per cluster; booting it costs
/// the cluster's size, not the tree's, and under coarse events it gives the same verdicts as booting the whole tree.
/// </summary>
/// <remarks>
/// <para><b>What is kept</b> (a closure, in bus order):</para>
/// <list type="number">
/// <item>the cluster's consumers and its instances with their devices;</item>
/// <item>every device whose <c>iommus</c>/<c>iommu-map</c> names a cluster instance (an IOMMU that is itself a
/// consumer: a walk of that instance probes it, so it can take a group, a stream or a sid2group slot);</item>
/// <item>every instance a kept device references, with its device (so a reference stays "an instance that never
/// registers", not "no instance": of_iommu_xlate() treats the two differently), and a kept instance device's own
/// instance;</item>
/// <item>every function behind a kept function's PCI host bridge (pci_device_group() reads the groups, ACS
/// controls and aliases of the whole hierarchy: <see cref="Kernel.Kernel.PciDeviceGroup"/>), and a DT host
/// bridge's own device (its scan adds the functions: <see cref="DeviceAddOrder"/>);</item>
/// <item>every device with the same name as a kept device (crash and WARN attribution resolve a device by name:
/// <see cref="KernelSystemRun"/>'s outcome and <see cref="ExecutionChecks"/>; with all namesakes kept in order the
/// first match is the same device);</item>
/// <item>witnesses of three platform-wide facts the model reads: the first built-in device with a kept driver name
/// (the built-in drivers registered at boot, Kernel's constructor), the first modular instance of a kept
/// instance's driver (try_module_get() on a NULL vs module owner, Kernel.IsModule), and the first ACPI PCI
/// function when a PCI function is kept (IORT/VIOT request ACS before enumeration).</item>
/// </list>
/// <para>The model has no parent links (device_add order only; a device's <c>dma-ranges</c> windows are resolved
/// from its ancestors when the platform is built), so ancestors need no device of their own.</para>
/// <para><b>Why a left-out device L changes nothing the cluster reports.</b> Only the cluster's instances get REG
/// and only its consumers get PROBE; deferred work retries only devices that probed; so L is never probed, never on
/// the deferred lists, never bound. L is touched only by device_add at boot (before any explored step) and by the
/// registration walks (bus_iommu_probe(), inside a cluster instance's REG step). There, per profile:</para>
/// <list type="bullet">
/// <item>K66, K67 and the JGG2 family probe with the bus ops: L has no fwspec (it never ran dma_configure) and
/// references no cluster instance, so the driver's probe_device() returns -ENODEV (arm-smmu-v3/virtio: no fwspec
/// naming the instance; apple-dart: no cfg in priv), dev->iommu is allocated and freed again and the module
/// reference taken is put back. try_module_get() cannot fail: the ops belong to an instance that registered, so
/// its driver registered first.</item>
/// <item>K68 and K611 resolve ops from L's fwspec: none, so -ENODEV before anything is allocated.</item>
/// <item>K615 and K616 parse L's firmware in iommu_init_device() (L has no driver): L's references name only
/// instances that never register in this cluster's executions, so of_iommu_xlate() defers or times out
/// (driver_deferred_probe_check_state() only reads the lists), the placeholder is freed, and L ends with -ENODEV
/// and no dev->iommu. A DT PCI function's pci_request_acs() already ran at boot, whenever any PCI function was
/// added, so L's pass does not move that global flag either.</item>
/// </list>
/// <para>In every case L's pass writes only L's own state (dev->iommu, its ACS control slot), the event log and the
/// allocation ledger; it never takes a group (so group and domain numbering is unchanged), never writes a global
/// object (instance list, bus ops, deferred lists, module state are read or restored), returns -ENODEV (so it never
/// aborts a walk) and is the same pass whatever the schedule. Kept devices therefore see the same kernel state step
/// for step. The facts (consumers' classes, groups by first member path, domains, streams) and the invariants
/// reported for cluster paths are unchanged. So are the explored executions: a coarse REG step's accesses lose
/// only L's private objects and reads of global objects the same step already accesses, so the dependency relation
/// between explored steps, hence the Mazurkiewicz traces, the executions optimal DPOR runs within a budget and the
/// random sample, stay the same. Under fine events every access of L's walk pass is its own scheduling point (the
/// probe lock is taken per device), so fine granularity is not restricted.</para>
/// <para><b>Device numbers.</b> Device indices name kernel objects (equality only) but also place each device's
/// DMA buffer (<see cref="DmaSystem.BufferOf"/>), its test pattern and swiotlb slot (index mod 256). Kept devices
/// are renumbered 0..n-1 in bus order (so boards sharing an SoC share fingerprints) only when that cannot change a
/// DMA check: the devices that can bind (the cluster's consumers and instance devices) have pairwise distinct
/// indices mod 256 before and after (no two patterns or swiotlb slots coincide) and <c>dma-ranges</c> windows that
/// map every buffer alike (none; none reaching the buffers or swiotlb slots; or an identity window over all
/// buffers). Otherwise the original indices are kept, and the sub-platform is exact by construction.</para>
/// </remarks>
public sealed class ClusterPlatform
{
    /// <summary>Patterns and swiotlb slots repeat with this period of the device index (<see cref="DmaSystem"/>).</summary>
    private const int IndexPeriod = DmaSystem.SwiotlbSlots;

    private ClusterPlatform(Platform platform, Cluster cluster, bool renumbered)
    {
        Platform = platform;
        Cluster = cluster;
        Renumbered = renumbered;
    }

    /// <summary>The restricted platform (devices in the whole platform's bus order).</summary>
    public Platform Platform { get; }

    /// <summary>The cluster, re-indexed onto <see cref="Platform"/> (same consumers, instances, order and name).</summary>
    public Cluster Cluster { get; }

    /// <summary>Device indices were compacted to 0..n-1 (else they keep the whole platform's numbers).</summary>
    public bool Renumbered { get; }

    /// <summary>Restricts <paramref name="platform"/> to what <paramref name="cluster"/>'s executions can observe.</summary>
    public static ClusterPlatform Of(Platform platform, Cluster cluster)
    {
        ArgumentNullException.ThrowIfNull(platform);
        ArgumentNullException.ThrowIfNull(cluster);
        var devices = platform.Devices;
        var instances = platform.Instances;
        var keepDev = new bool[devices.Count];
        var keepInst = new bool[instances.Count];
        var work = new Queue<int>();

        void KeepDevice(int i)
        {
            if (!keepDev[i])
            {
                keepDev[i] = true;
                work.Enqueue(i);
            }
        }

        void KeepInstance(int j)
        {
            if (!keepInst[j])
            {
                keepInst[j] = true;
                KeepDevice(instances[j].Device);
            }
        }

        var clusterInstances = cluster.Instances.ToHashSet();
        foreach (var c in cluster.Consumers)
        {
            KeepDevice(c);
        }

        foreach (var j in cluster.Instances)
        {
            KeepInstance(j);
        }

        // Foreign stand-ins register (and walk) here too; their own consumers are never probed, so they stay out.
        foreach (var j in cluster.Foreign)
        {
            KeepInstance(j);
        }

        var byName = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        var byHost = new Dictionary<PciTopology, List<int>>(ReferenceEqualityComparer.Instance);
        for (var i = 0; i < devices.Count; i++)
        {
            var d = devices[i];
            if (d.Iommus.Refs.Any(r => r.Instance is { } j && clusterInstances.Contains(j)))
            {
                KeepDevice(i);
            }

            Add(byName, NameOf(d), i);
            if (d.PciHostTopology is { } host)
            {
                Add(byHost, host, i);
            }
        }

        do
        {
            while (work.TryDequeue(out var i))
            {
                var d = devices[i];
                foreach (var r in d.Iommus.Refs)
                {
                    if (r.Instance is { } j)
                    {
                        KeepInstance(j);
                    }
                }

                if (d.Instance is { } own)
                {
                    KeepInstance(own);
                }

                foreach (var n in byName[NameOf(d)])
                {
                    KeepDevice(n);
                }

                if (d.PciHostTopology is { } host)
                {
                    foreach (var f in byHost[host])
                    {
                        KeepDevice(f);
                    }
                }

                // The DT host bridge whose scan adds this function: its ADD steps are scheduled as on the whole tree.
                if (DeviceAddOrder.HostBridgeOf(platform, d) is { } bridge)
                {
                    KeepDevice(bridge);
                }
            }

            KeepWitnesses(platform, cluster, keepDev, keepInst, KeepDevice, KeepInstance);
        }
        while (work.Count > 0);

        return Build(platform, cluster, keepDev, keepInst);
    }

    /// <summary>Device.Name: the first label, else the node name (what name lookups compare).</summary>
    private static string NameOf(PlatformDevice d) => d.Labels.FirstOrDefault() ?? d.Name;

    private static void Add<TKey>(Dictionary<TKey, List<int>> map, TKey key, int i)
        where TKey : notnull
    {
        if (!map.TryGetValue(key, out var list))
        {
            list = [];
            map.Add(key, list);
        }

        list.Add(i);
    }

    /// <summary>Keeps the first witness of each platform-wide fact the kept devices' executions read.</summary>
    private static void KeepWitnesses(Platform platform, Cluster cluster, bool[] keepDev, bool[] keepInst, Action<int> keepDevice, Action<int> keepInstance)
    {
        var devices = platform.Devices;
        var instances = platform.Instances;

        // Built-in drivers are registered before the schedule (Kernel's constructor): DriverRegistered() and
        // try_module_get() ask for the kept devices' driver names and the cluster instances' driver names.
        var asked = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < devices.Count; i++)
        {
            if (keepDev[i])
            {
                asked.Add(devices[i].DriverName);
            }
        }

        var clusterDrivers = cluster.Instances.Select(j => DtPlatformBuilder.DriverNameOf(instances[j].Driver)).ToHashSet(StringComparer.Ordinal);
        asked.UnionWith(clusterDrivers);
        var builtIn = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < devices.Count; i++)
        {
            if (keepDev[i] && devices[i].DriverAvailability == DriverAvailability.BuiltIn)
            {
                builtIn.Add(devices[i].DriverName);
            }
        }

        for (var i = 0; i < devices.Count; i++)
        {
            var d = devices[i];
            if (d.DriverAvailability == DriverAvailability.BuiltIn && asked.Contains(d.DriverName) && builtIn.Add(d.DriverName))
            {
                keepDevice(i);
            }
        }

        // Kernel.IsModule(): is any instance of this driver a module (a non-NULL ops owner)?
        var modular = new HashSet<string>(StringComparer.Ordinal);
        for (var j = 0; j < instances.Count; j++)
        {
            if (keepInst[j] && instances[j].Availability == DriverAvailability.Module)
            {
                modular.Add(DtPlatformBuilder.DriverNameOf(instances[j].Driver));
            }
        }

        for (var j = 0; j < instances.Count; j++)
        {
            var name = DtPlatformBuilder.DriverNameOf(instances[j].Driver);
            if (instances[j].Availability == DriverAvailability.Module && clusterDrivers.Contains(name) && modular.Add(name))
            {
                keepInstance(j);
            }
        }

        // The ACS controls: any ACPI PCI function means pci_request_acs() ran before enumeration.
        var keptPci = false;
        var keptAcpiPci = false;
        for (var i = 0; i < devices.Count; i++)
        {
            keptPci |= keepDev[i] && devices[i].Pci is not null;
            keptAcpiPci |= keepDev[i] && devices[i].Pci is not null && devices[i].Acpi is not null;
        }

        if (keptPci && !keptAcpiPci)
        {
            for (var i = 0; i < devices.Count; i++)
            {
                if (devices[i].Pci is not null && devices[i].Acpi is not null)
                {
                    keepDevice(i);
                    break;
                }
            }
        }
    }

    private static ClusterPlatform Build(Platform platform, Cluster cluster, bool[] keepDev, bool[] keepInst)
    {
        var devices = platform.Devices;
        var instances = platform.Instances;
        var devPos = new int[devices.Count];
        var kept = new List<PlatformDevice>();
        for (var i = 0; i < devices.Count; i++)
        {
            devPos[i] = keepDev[i] ? kept.Count : -1;
            if (keepDev[i])
            {
                kept.Add(devices[i]);
            }
        }

        var instPos = new int[instances.Count];
        var keptInstances = new List<IommuInstanceInfo>();
        for (var j = 0; j < instances.Count; j++)
        {
            instPos[j] = keepInst[j] ? keptInstances.Count : -1;
            if (keepInst[j])
            {
                keptInstances.Add(instances[j] with { Index = keptInstances.Count, Device = devPos[instances[j].Device] });
            }
        }

        var dmaChecked = cluster.Consumers.Concat(cluster.Instances.Select(j => instances[j].Device)).Select(i => devices[i].Index).ToHashSet();
        var renumber = CanRenumber(platform, kept, dmaChecked);
        var subDevices = kept.Select((d, n) => d with
        {
            Index = renumber ? n : d.Index,
            Instance = d.Instance is { } own ? instPos[own] : null,
            Iommus = d.Iommus with { Refs = [.. d.Iommus.Refs.Select(r => r.Instance is { } j ? r with { Instance = instPos[j] } : r)] },
        }).ToList();

        var sub = new Platform(platform.Source, subDevices, keptInstances, platform.Knobs, platform.Notes) { Dma = platform.Dma };
        var subCluster = cluster with
        {
            Consumers = [.. cluster.Consumers.Select(c => devPos[c])],
            Instances = [.. cluster.Instances.Select(j => instPos[j])],
            Foreign = [.. cluster.Foreign.Select(j => instPos[j])],
        };
        return new ClusterPlatform(sub, subCluster, renumber);
    }

    /// <summary>
    /// Whether compacting the device numbers keeps every DMA check's result. Only bound consumers are DMA-checked
    /// (<see cref="DmaCheck.Run"/>), and only the cluster's consumers and instance devices can bind. For those:
    /// pairwise distinct indices mod the pattern period under both numberings (no two patterns or swiotlb slots
    /// coincide), and <c>dma-ranges</c> windows that treat every buffer alike (<see cref="IndexNeutral"/>).
    /// </summary>
    private static bool CanRenumber(Platform platform, List<PlatformDevice> kept, HashSet<int> dmaChecked)
    {
        var before = new HashSet<int>();
        var after = new HashSet<int>();
        for (var n = 0; n < kept.Count; n++)
        {
            var d = kept[n];
            if (!dmaChecked.Contains(d.Index) || !d.IsConsumer)
            {
                continue;
            }

            if (!before.Add(d.Index % IndexPeriod) || !after.Add(n % IndexPeriod) || !IndexNeutral(platform.Dma.WindowsOf(d)))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Windows under which a buffer's DMA does not depend on where the buffer lies in the buffer area
    /// [<see cref="DmaSystem.BufferBase"/>, <see cref="DmaSystem.MemorySize"/>) (<see cref="DmaApi.MapSingle"/>,
    /// <see cref="DmaFirmware.DmaToPhys"/>): none at all (bus address = physical); none reaching the buffer area or
    /// the swiotlb slots, so every direct mapping fails alike; or, for both directions, the first window meeting the
    /// buffer area is an identity window that covers all of it.
    /// </summary>
    private static bool IndexNeutral(ImmutableArray<DmaWindow> windows)
    {
        if (windows.IsDefaultOrEmpty)
        {
            return true;
        }

        const ulong bufferStart = DmaSystem.BufferBase;
        const ulong bufferEnd = DmaSystem.MemorySize;
        const ulong slotsStart = DmaSystem.SwiotlbBase;
        const ulong slotsEnd = DmaSystem.SwiotlbBase + (DmaSystem.SwiotlbSlots * DmaSystem.SwiotlbSlotSize);
        // Written so that no firmware value can overflow.
        static bool Meets(ulong start, ulong size, ulong from, ulong to) => size > 0 && start < to && (start >= from || size - 1 >= from - start);
        static bool Covers(DmaWindow w) => w.Size > 0 && w.CpuStart == w.DmaStart && w.CpuStart <= bufferStart && w.Size - 1 >= bufferEnd - 1 - w.CpuStart;

        if (!windows.Any(w => Meets(w.CpuStart, w.Size, bufferStart, bufferEnd) || Meets(w.CpuStart, w.Size, slotsStart, slotsEnd)))
        {
            return true;
        }

        var cpuFirst = windows.FirstOrDefault(w => Meets(w.CpuStart, w.Size, bufferStart, bufferEnd));
        var busFirst = windows.FirstOrDefault(w => Meets(w.DmaStart, w.Size, bufferStart, bufferEnd));
        return cpuFirst.Size > 0 && cpuFirst == busFirst && Covers(cpuFirst);
    }
}
