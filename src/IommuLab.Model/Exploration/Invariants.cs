using IommuLab.Model.Drivers;
using IommuLab.Model.Kernel;

namespace IommuLab.Model.Exploration;

/// <summary>One invariant violation: the device (or instance), the invariant, the facts and a one-line message.</summary>
public sealed record Violation(string Invariant, string Device, IReadOnlyList<string> Facts, string Message);

/// <summary>An invariant of spec §7 over a quiescent kernel state.</summary>
public interface IInvariant
{
    string Id { get; }

    string Title { get; }

    IEnumerable<Violation> Check(Kernel.Kernel k);
}

/// <summary>The invariants the checker runs (I1-I4, I6-I15, IDMA); I5 needs several executions (the explorer).</summary>
public static class Invariants
{
    public static IReadOnlyList<IInvariant> All { get; } =
    [
        new I1CleanClassification(), new I2NoPartialGang(), new I3ConfiguredMeansProgrammed(), new I4DmaOpsCoherence(),
        new I6Liveness(), new I7TimeoutSemantics(), new I8GroupMembership(), new I9DevIommuConsistency(),
        new I10DefaultDomainPresent(), new I11OpsUniqueness(), new I12RegistrationAtomicity(), new I13NoLeaks(),
        new I14DeferredCarryNoState(), new I15AppleDartLimits(), new IdmaDmaReachesBuffer(),
    ];

    public static IReadOnlyList<Violation> CheckAll(Kernel.Kernel k)
    {
        ArgumentNullException.ThrowIfNull(k);
        using var frozen = OutcomeBuilder.Freeze(k);
        var found = new List<Violation>();
        foreach (var i in All)
        {
            foreach (var v in i.Check(k))
            {
                found.Add(v);
            }
        }

        return found;
    }

    internal static IEnumerable<(Device Dev, DeviceOutcome O)> Consumers(Kernel.Kernel k)
    {
        var all = OutcomeBuilder.Consumers(k).Select(d => (d, OutcomeBuilder.Of(k, d)));

        // Frozen: every invariant walks the same list.
        return k.FrozenOutcomes is null ? all : k.FrozenConsumers ??= [.. all];
    }

    internal static string List(IEnumerable<StreamRef> refs) => "{" + string.Join(", ", refs) + "}";
}

/// <summary>I1: N means clean (no fwspec, dev->iommu, priv, iommu-dma or programmed stream for D).</summary>
public sealed class I1CleanClassification : IInvariant
{
    public string Id => "I1";

    public string Title => "Clean classification";

    public IEnumerable<Violation> Check(Kernel.Kernel k)
    {
        foreach (var (d, o) in Invariants.Consumers(k))
        {
            if (o.Class != DeviceClass.N || o.Firmware.Count == 0)
            {
                continue;
            }

            var facts = new List<string>();
            if (d.Group is not null)
            {
                facts.Add($"in group {d.Group.Id} with {o.Domain ?? "no domain"}");
            }

            if (d.Iommu is not null)
            {
                facts.Add($"dev->iommu present ({o.Fwspec}, priv {o.Priv})");
            }

            if (d.Dma == DmaMode.IommuDma)
            {
                facts.Add("uses iommu-dma");
            }

            foreach (var r in OutcomeBuilder.FirmwareRefs(d.Info))
            {
                // A stream another live group owns (a shared stream) does not name D.
                if (k.InstanceOf(r) is { Driver: { } drv } inst
                    && drv.Streams(inst).FirstOrDefault(s => s.Sid == (r.Args.Length > 0 ? r.Args[0] : 0) && s.Ttbr != "bootloader" && s.Mode != StreamMode.Disabled) is { } s
                    && !(s.Group is { } sg && k.Groups[sg] is { Freed: false } og && og.Devices.Any(x => x != d)))
                {
                    facts.Add($"{inst.Name} stream {s.Sid} programmed ({s.Mode})");
                }
            }

            if (facts.Count > 0)
            {
                yield return new Violation(Id, d.Info.Path, facts, "bound without IOMMU but carries IOMMU state");
            }
        }
    }
}

/// <summary>I2: a translated device's configured set is all of F(D).</summary>
public sealed class I2NoPartialGang : IInvariant
{
    public string Id => "I2";

    public string Title => "No partial gang";

    public IEnumerable<Violation> Check(Kernel.Kernel k)
    {
        foreach (var (d, o) in Invariants.Consumers(k))
        {
            if (d.Group is null || o.Firmware.Count == 0 || o.GroupCoverage.Count == 0)
            {
                continue;
            }

            // F(D) minus the coverage, each reference once, in F(D) order (lists of a few entries).
            var missing = new List<StreamRef>();
            foreach (var f in o.Firmware)
            {
                if (!o.GroupCoverage.Contains(f) && !missing.Contains(f))
                {
                    missing.Add(f);
                }
            }

            if (missing.Count > 0)
            {
                yield return new Violation(Id, d.Info.Path,
                    [$"F(D) = {Invariants.List(o.Firmware)}", $"group {d.Group.Id} covers {Invariants.List(o.GroupCoverage)}", $"missing {Invariants.List(missing)}"],
                    $"in a group that covers only part of its IOMMUs ({o.Class})");
            }
        }
    }
}

/// <summary>I3: each firmware reference of a translated device is configured and programmed as its domain says.</summary>
public sealed class I3ConfiguredMeansProgrammed : IInvariant
{
    public string Id => "I3";

    public string Title => "Configured means programmed";

    public IEnumerable<Violation> Check(Kernel.Kernel k)
    {
        foreach (var (d, o) in Invariants.Consumers(k))
        {
            if (o.Class != DeviceClass.T)
            {
                continue;
            }

            var facts = new List<string>();
            var expected = d.Group!.Domain?.Type switch
            {
                DomainType.Identity => StreamMode.Bypass,
                DomainType.Blocked => StreamMode.Disabled,
                _ => StreamMode.Translate,
            };
            var refs = OutcomeBuilder.FirmwareRefs(d.Info);
            foreach (var r in refs)
            {
                var inst = k.InstanceOf(r);
                var sid = r.Args.Length > 0 ? r.Args[0] : 0;
                if (inst?.Driver is null)
                {
                    facts.Add($"{r.TargetPath} not registered");
                    continue;
                }

                var s = inst.Driver.Stream(inst, sid);
                if (s is null || s.Mode != expected)
                {
                    facts.Add($"{inst.Name} stream {sid} is {s?.Mode.ToString() ?? "Disabled"}, domain needs {expected}");
                }
            }

            if (d.Iommu?.IommuDev?.Driver is FwspecDriver drv && d.Iommu.Fwspec is { } fw)
            {
                // What of_xlate stores per reference (arm-smmu: SMR ID | mask << 16), not the raw first cell.
                var want = refs.Select(drv.FwspecId).ToList();
                if (!fw.Ids.SequenceEqual(want) || fw.Fwnode?.Index != refs[0].Instance)
                {
                    facts.Add($"fwspec {{{fw.Fwnode?.Name}: {string.Join(",", fw.Ids)}}} != F(D) ids {string.Join(",", want)}");
                }

                if (refs.Any(r => r.Instance != refs[0].Instance))
                {
                    facts.Add("IDs of a second instance are attributed to the first (fwspec names one fwnode)");
                }
            }

            if (facts.Count > 0)
            {
                yield return new Violation(Id, d.Info.Path, facts, "a firmware reference is not programmed as configured");
            }
        }
    }
}

/// <summary>I4: a bound device uses iommu-dma iff its group's domain is a DMA-API domain.</summary>
public sealed class I4DmaOpsCoherence : IInvariant
{
    public string Id => "I4";

    public string Title => "DMA-ops coherence";

    public IEnumerable<Violation> Check(Kernel.Kernel k)
    {
        foreach (var d in k.Devices.Where(d => d.State == DriverState.Bound))
        {
            var dma = d.Group?.Domain is { IsDmaApi: true };
            if (dma != (d.Dma == DmaMode.IommuDma))
            {
                yield return new Violation(Id, d.Info.Path,
                    [$"DMA ops {(d.Dma == DmaMode.IommuDma ? "iommu-dma" : "direct")}", $"group {d.Group?.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"} domain {d.Group?.Domain?.ToString() ?? "none"}"],
                    dma ? "bound with direct DMA but its streams translate through a DMA domain" : "uses iommu-dma without a DMA domain");
            }
        }
    }
}

/// <summary>I6: if every instance in F(D) registered, D is not left waiting.</summary>
public sealed class I6Liveness : IInvariant
{
    public string Id => "I6";

    public string Title => "Liveness";

    public IEnumerable<Violation> Check(Kernel.Kernel k)
    {
        foreach (var (d, o) in Invariants.Consumers(k))
        {
            var f = OutcomeBuilder.FirmwareRefs(d.Info);
            if (o.Class == DeviceClass.W && f.Count > 0 && f.All(r => k.InstanceOf(r) is { Registered: true }))
            {
                yield return new Violation(Id, d.Info.Path, [$"all of {Invariants.List(o.Firmware)} registered"], "still waiting although every IOMMU it needs is registered");
            }
        }
    }
}

/// <summary>I7: after TIMEOUT, a device with a never-registered instance is in N or X, never T.</summary>
public sealed class I7TimeoutSemantics : IInvariant
{
    public string Id => "I7";

    public string Title => "Timeout semantics";

    public IEnumerable<Violation> Check(Kernel.Kernel k)
    {
        foreach (var (d, o) in Invariants.Consumers(k))
        {
            var missing = OutcomeBuilder.FirmwareRefs(d.Info).Where(r => k.InstanceOf(r) is not { Registered: true }).ToList();
            if (missing.Count == 0)
            {
                continue;
            }

            if (o.Class == DeviceClass.T)
            {
                yield return new Violation(Id, d.Info.Path, [$"{string.Join(", ", missing.Select(r => r.TargetPath))} never registered"], "translated through a subset of its IOMMUs");
            }
            else if (k.TimeoutExpired && o.Class == DeviceClass.W)
            {
                yield return new Violation(Id, d.Info.Path, ["the deferred-probe timeout expired"], "still waiting after the timeout");
            }
        }
    }
}

/// <summary>I8: group membership is bijective and single-driver.</summary>
public sealed class I8GroupMembership : IInvariant
{
    public string Id => "I8";

    public string Title => "Group membership is bijective";

    public IEnumerable<Violation> Check(Kernel.Kernel k)
    {
        foreach (var d in k.Devices)
        {
            if (d.Group is { } g && g.Devices.Count(x => x == d) != 1)
            {
                yield return new Violation(Id, d.Info.Path, [$"dev->iommu_group = {g.Id}", $"listed {g.Devices.Count(x => x == d)} times"], "group pointer and group list disagree");
            }
        }

        foreach (var g in k.Groups.Where(g => !g.Freed))
        {
            foreach (var d in g.Devices.Where(d => d.Group != g))
            {
                yield return new Violation(Id, d.Info.Path, [$"listed in group {g.Id}", $"dev->iommu_group = {d.Group?.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "NULL"}"], "group list names a device that points elsewhere");
            }
        }
    }
}

/// <summary>I9: group ⇒ dev->iommu with iommu_dev, registered, first in F(D), with a fwspec.</summary>
public sealed class I9DevIommuConsistency : IInvariant
{
    public string Id => "I9";

    public string Title => "dev_iommu consistency";

    public IEnumerable<Violation> Check(Kernel.Kernel k)
    {
        foreach (var d in k.Devices)
        {
            var facts = new List<string>();
            if (d.Group is not null && d.Iommu?.IommuDev is null)
            {
                facts.Add("in a group without dev->iommu->iommu_dev");
            }

            if (d.Iommu?.IommuDev is { } inst)
            {
                if (!inst.Registered)
                {
                    facts.Add($"iommu_dev {inst.Name} is not registered");
                }

                var f = OutcomeBuilder.FirmwareRefs(d.Info);
                if (f.Count > 0 && f[0].Instance != inst.Index)
                {
                    facts.Add($"iommu_dev {inst.Name} is not F(D)[0] {f[0].TargetPath}");
                }

                if (d.Iommu.Fwspec is null)
                {
                    facts.Add("iommu_dev set without a fwspec");
                }
            }

            if (facts.Count > 0)
            {
                yield return new Violation(Id, d.Info.Path, facts, "dev->iommu is inconsistent with the group/firmware");
            }
        }
    }
}

/// <summary>I10: every non-empty group has a default domain and is attached to it.</summary>
public sealed class I10DefaultDomainPresent : IInvariant
{
    public string Id => "I10";

    public string Title => "Default domain present";

    public IEnumerable<Violation> Check(Kernel.Kernel k)
    {
        foreach (var g in k.Groups.Where(g => !g.Freed && g.Devices.Count > 0))
        {
            if (g.DefaultDomain is null || g.Domain is null)
            {
                yield return new Violation(Id, g.Devices[0].Info.Path, [$"group {g.Id}: default {g.DefaultDomain?.ToString() ?? "none"}, domain {g.Domain?.ToString() ?? "none"}"], "group without a default domain");
            }
        }
    }
}

/// <summary>I11: all references of a translated device resolve to one driver.</summary>
public sealed class I11OpsUniqueness : IInvariant
{
    public string Id => "I11";

    public string Title => "Ops uniqueness";

    public IEnumerable<Violation> Check(Kernel.Kernel k)
    {
        foreach (var (d, o) in Invariants.Consumers(k))
        {
            var kinds = OutcomeBuilder.FirmwareRefs(d.Info).Select(r => k.InstanceOf(r)?.Info.Driver).Distinct().ToList();
            if (kinds.Count > 1 && o.Class == DeviceClass.T)
            {
                yield return new Violation(Id, d.Info.Path, [$"drivers {string.Join(", ", kinds)}"], "translated although its IOMMUs have different drivers");
            }
        }
    }
}

/// <summary>I12: a failed registration is a distinct, global failure and leaves nothing behind.</summary>
public sealed class I12RegistrationAtomicity : IInvariant
{
    public string Id => "I12";

    public string Title => "Registration atomicity";

    public IEnumerable<Violation> Check(Kernel.Kernel k)
    {
        foreach (var inst in k.Instances.Where(i => i.RegistrationFailed))
        {
            var users = k.Devices.Where(d => d.Iommu?.IommuDev == inst).Select(d => d.Name).ToList();
            var facts = new List<string> { $"iommu_device_register({inst.Name}) failed", inst.Registered ? "still on iommu_device_list" : "removed from iommu_device_list" };
            if (users.Count > 0)
            {
                facts.Add($"devices still pointing at it: {string.Join(", ", users)}");
            }

            // -EBUSY is the v6.2-v6.7 single-driver check, before the instance is listed or any device walked.
            var why = inst.RegistrationError == Errno.EBUSY
                ? "IOMMU registration refused with -EBUSY (another IOMMU driver registered first; one driver per system before v6.8)"
                : "IOMMU registration failed during its bus walk";
            yield return new Violation(Id, inst.Info.Path, facts, $"{why}: every consumer of this instance loses it");
        }
    }
}

/// <summary>I13: no leaked fwspec / dev_iommu / driver priv; fwnode references balance; no crash.</summary>
public sealed class I13NoLeaks : IInvariant
{
    public string Id => "I13";

    public string Title => "No leaks, no double ownership";

    public IEnumerable<Violation> Check(Kernel.Kernel k)
    {
        foreach (var a in OutcomeBuilder.Leaks(k))
        {
            yield return new Violation(Id, a.Owner, [$"{a.Kind} #{a.Id} allocated at event {a.AllocEvent}, unreachable"], $"leaked {a.Kind}");
        }

        foreach (var inst in k.Instances)
        {
            var named = k.Devices.Count(d => d.Iommu?.Fwspec?.Fwnode == inst);
            if (named != inst.FwnodeRefs)
            {
                yield return new Violation(Id, inst.Info.Path, [$"fwnode refs {inst.FwnodeRefs}", $"fwspecs naming it {named}"], "fwnode reference count does not match live fwspecs");
            }
        }

        foreach (var c in k.Crashes)
        {
            yield return new Violation(Id, c.Split(':')[0], [c], "kernel crash (use-after-free / NULL dereference)");
        }
    }
}

/// <summary>I14: a waiting device carries no group and (without the ops field) no fwspec.</summary>
public sealed class I14DeferredCarryNoState : IInvariant
{
    public string Id => "I14";

    public string Title => "Deferred devices carry no stale core state";

    public IEnumerable<Violation> Check(Kernel.Kernel k)
    {
        foreach (var (d, o) in Invariants.Consumers(k))
        {
            if (o.Class != DeviceClass.W)
            {
                continue;
            }

            var facts = new List<string>();
            if (d.Group is not null)
            {
                facts.Add($"in group {d.Group.Id}");
            }

            if (d.Iommu?.Fwspec is { } fw && (!k.Switches.FwspecHasOps || fw.Ops is not null))
            {
                facts.Add($"{o.Fwspec}{(k.Switches.FwspecHasOps ? " with ops" : "")}");
            }

            if (facts.Count > 0)
            {
                yield return new Violation(Id, d.Info.Path, facts, "waiting device carries IOMMU core state");
            }
        }
    }
}

/// <summary>I15: apple-dart gang limits, sid range, equal page sizes, domain tuples and sid2group.</summary>
public sealed class I15AppleDartLimits : IInvariant
{
    public string Id => "I15";

    public string Title => "apple-dart limits";

    public IEnumerable<Violation> Check(Kernel.Kernel k)
    {
        foreach (var (d, o) in Invariants.Consumers(k))
        {
            var f = OutcomeBuilder.FirmwareRefs(d.Info).Where(r => k.InstanceOf(r)?.Info.Dart is not null).ToList();
            if (f.Count == 0)
            {
                continue;
            }

            var facts = new List<string>();
            var darts = f.Select(r => k.InstanceOf(r)!).Distinct().ToList();
            if (darts.Count > k.Switches.DartMaxDarts && o.Class == DeviceClass.T)
            {
                facts.Add($"{darts.Count} DARTs > MAX_DARTS_PER_DEVICE {k.Switches.DartMaxDarts}");
            }

            foreach (var r in f)
            {
                var hw = k.InstanceOf(r)!.Info.Dart!;
                if (r.Args.Length > 0 && r.Args[0] >= hw.NumStreams)
                {
                    facts.Add($"{r.TargetPath} sid {r.Args[0]} >= num_streams {hw.NumStreams}");
                }
            }

            if (darts.Select(x => x.Info.Dart!.PgSize).Distinct().Count() > 1)
            {
                facts.Add("gang with different page sizes");
            }

            if (o.Class == DeviceClass.T && k.Switches.DartBypass == DartBypassRule.RequireEqual && darts.Select(x => x.Info.Dart!.SupportsBypass).Distinct().Count() > 1)
            {
                facts.Add("translated gang with different bypass support (rejected by of_xlate before v6.15)");
            }

            if (o.Class == DeviceClass.T && k.Switches.DartCheckIas && darts.Select(x => x.Info.Dart!.Ias).Distinct().Count() > 1)
            {
                facts.Add("translated gang with different ias");
            }

            if (d.Group?.Domain?.DriverData is DartDomain { Maps: { } maps } && d.Iommu?.Priv is DartMasterCfg cfg)
            {
                for (var i = 0; i < Math.Min(maps.Length, cfg.Slots.Length); i++)
                {
                    if (maps[i].Dart != cfg.Slots[i].Dart)
                    {
                        facts.Add($"domain slot {i} is {maps[i].Dart?.Name ?? "empty"}, device cfg slot {i} is {cfg.Slots[i].Dart?.Name ?? "empty"}");
                    }
                }
            }

            if (d.Group is { } g)
            {
                foreach (var r in f)
                {
                    var inst = k.InstanceOf(r)!;
                    if (inst.DriverData is DartState st && r.Args.Length > 0 && r.Args[0] < st.Hw.NumStreams && st.Sid2Group[(int)r.Args[0]] != g)
                    {
                        facts.Add($"{inst.Name} sid2group[{r.Args[0]}] = {st.Sid2Group[(int)r.Args[0]]?.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}, device group {g.Id}");
                    }
                }
            }

            if (facts.Count > 0)
            {
                yield return new Violation(Id, d.Info.Path, facts, "apple-dart limits broken");
            }
        }
    }
}
