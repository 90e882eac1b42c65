using IommuLab.Model.Kernel;

namespace IommuLab.Cli.Rendering;

/// <summary>One IOMMU group after the canonical boot: its id, driver, domain and member devices (DT or ACPI paths).</summary>
public sealed record TopologyGroup(int Id, string Driver, string Domain, IReadOnlyList<string> Members);

/// <summary>
/// The IOMMU groups the topology picture draws as clusters. Groups are kernel state, not firmware, so they come from
/// booting the model once under a profile in a canonical order: every IOMMU instance's driver probed first
/// (iommu_device_register() and its bus walk), in platform (tree) order, then each consumer's driver probe in tree
/// order, each step followed by the deferred-probe work it queued (<see cref="Execution.Run"/>). Another probe order
/// can give other groups (that is what <c>check</c> explores); this is one boot, named in the picture's label.
/// </summary>
public sealed class TopologyGroups
{
    private readonly Dictionary<string, int> _groupOf;

    private TopologyGroups(Profile profile, Platform? platform, IReadOnlyList<TopologyGroup> groups, string? error)
    {
        Profile = profile;
        Platform = platform;
        Groups = groups;
        Error = error;
        _groupOf = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var g in groups)
        {
            foreach (var m in g.Members)
            {
                _groupOf[m] = g.Id;
            }
        }
    }

    public Profile Profile { get; }

    /// <summary>The platform booted (null when it could not be built).</summary>
    public Platform? Platform { get; }

    /// <summary>Live groups in allocation order.</summary>
    public IReadOnlyList<TopologyGroup> Groups { get; }

    /// <summary>Why no groups were computed (the platform builder's message), or null.</summary>
    public string? Error { get; }

    /// <summary>The group of the device at <paramref name="path"/>, or null when it has none.</summary>
    public int? GroupOf(string path) => _groupOf.TryGetValue(path, out var id) ? id : null;

    /// <summary>One line for the picture's label: where the groups come from.</summary>
    public string Caption => Error is null
        ? $"groups: one boot under {Profile.Name} ({Profile.Kernel}): every IOMMU driver registered, then each consumer probed, in tree order"
        : $"groups not computed under {Profile.Name}: {Error}";

    /// <summary>No groups: the platform could not be built.</summary>
    public static TopologyGroups Failed(Profile profile, string error)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(error);
        return new TopologyGroups(profile, null, [], error);
    }

    /// <summary>Boots <paramref name="platform"/> once under <paramref name="profile"/> in the canonical order.</summary>
    public static TopologyGroups Boot(Platform platform, Profile profile)
    {
        ArgumentNullException.ThrowIfNull(platform);
        ArgumentNullException.ThrowIfNull(profile);
        var events = new List<ScheduleEvent>();
        foreach (var inst in platform.Instances.OrderBy(i => i.Device))
        {
            events.Add(new ScheduleEvent(EventKind.Reg, platform.Devices[inst.Device]));
        }

        foreach (var d in platform.Devices.Where(d => d.IsConsumer && d.Instance is null))
        {
            events.Add(new ScheduleEvent(EventKind.Probe, d));
        }

        var k = Execution.Run(platform, profile, events).Kernel;
        var groups = k.Devices
            .Where(d => d.Group is { Freed: false })
            .GroupBy(d => d.Group!)
            .OrderBy(g => g.Key.Id)
            .Select(g => new TopologyGroup(g.Key.Id, g.Key.Driver.Name, g.Key.Domain?.ToString() ?? "no domain", [.. g.OrderBy(d => d.Index).Select(d => d.Info.Path)]))
            .ToList();
        return new TopologyGroups(profile, platform, groups, null);
    }
}
