using System.Text.RegularExpressions;

namespace IommuLab.Model.Kernel;

/// <summary>The coarse events of spec §0.3 plus the driver-core events of §2.8.</summary>
public enum EventKind
{
    /// <summary>The IOMMU instance's driver probe: iommu_device_register() and its bus walk.</summary>
    Reg,

    /// <summary>driver_bound() of an IOMMU instance: triggers deferred probing.</summary>
    Bind,

    /// <summary>One driver-probe attempt of a device.</summary>
    Probe,

    /// <summary>device_add() → iommu_probe_device().</summary>
    Add,

    /// <summary>One pass of the deferred-probe work (pops the active list).</summary>
    Work,

    /// <summary>deferred_probe_initcall() (late_initcall).</summary>
    Late,

    /// <summary>The deferred-probe timeout expires: the clock advances to the armed deadline (nothing happens if none is armed).</summary>
    Timeout,

    /// <summary>The module of a device's driver loads: driver_register(), which extends an armed timeout.</summary>
    Load,

    /// <summary><see cref="ScheduleEvent.Seconds"/> seconds pass (the timeout fires on the way if its deadline is reached).</summary>
    Wait,

    /// <summary>device_del(): unbind, BUS_NOTIFY_REMOVED_DEVICE → iommu_release_device(); an IOMMU's remove unregisters it.</summary>
    Remove,
}

/// <summary>One scheduled event; <see cref="Device"/> is null for global events.</summary>
public sealed record ScheduleEvent(EventKind Kind, PlatformDevice? Device)
{
    /// <summary>How long a WAIT lasts, in seconds of the model clock.</summary>
    public int Seconds { get; init; }

    public override string ToString() => Kind == EventKind.Wait
        ? $"WAIT({Seconds})"
        : Device is null
            ? Kind.ToString().ToUpperInvariant()
            : $"{Kind.ToString().ToUpperInvariant()}({Device.Labels.FirstOrDefault() ?? Device.Path})";
}

/// <summary>
/// Parses the spec §0.3 notation plus the driver-core events: "REG(dart_a) BIND(dart_a) PROBE(display) LOAD(dart_b)
/// WAIT(5) TIMEOUT".
/// </summary>
public static partial class ScheduleParser
{
    [GeneratedRegex(@"^\s*([A-Za-z_]+)\s*(?:\(\s*([^)\s]+)\s*\))?\s*$")]
    private static partial Regex EventPattern();

    public static (IReadOnlyList<ScheduleEvent>? Events, string? Error) Parse(string text, Platform platform)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(platform);
        var events = new List<ScheduleEvent>();
        foreach (var raw in Tokens(text))
        {
            var m = EventPattern().Match(raw);
            if (!m.Success)
            {
                return (null, $"cannot read schedule event '{raw}'");
            }

            var name = m.Groups[1].Value.ToUpperInvariant();
            var arg = m.Groups[2].Success ? m.Groups[2].Value : null;
            EventKind? kind = name switch
            {
                "REG" => EventKind.Reg,
                "BIND" => EventKind.Bind,
                "PROBE" => EventKind.Probe,
                "ADD" => EventKind.Add,
                "WORK" => EventKind.Work,
                "LATE" or "LATE_INITCALL" => EventKind.Late,
                "TIMEOUT" => EventKind.Timeout,
                "LOAD" or "MODPROBE" => EventKind.Load,
                "REMOVE" => EventKind.Remove,
                "WAIT" => EventKind.Wait,
                _ => null,
            };
            if (kind is null)
            {
                return (null, $"unknown event '{name}' (REG, BIND, PROBE, ADD, WORK, LATE, TIMEOUT, LOAD, WAIT, REMOVE)");
            }

            if (kind == EventKind.Wait)
            {
                if (arg is null || !int.TryParse(arg.TrimEnd('s'), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seconds))
                {
                    return (null, "WAIT needs whole seconds: WAIT(5)");
                }

                events.Add(new ScheduleEvent(EventKind.Wait, null) { Seconds = seconds });
                continue;
            }

            var needsDevice = kind is EventKind.Reg or EventKind.Bind or EventKind.Probe or EventKind.Add or EventKind.Load or EventKind.Remove;
            if (needsDevice != (arg is not null))
            {
                return (null, needsDevice ? $"{name} needs a device: {name}(label)" : $"{name} takes no device");
            }

            PlatformDevice? dev = null;
            if (arg is not null)
            {
                dev = platform.Resolve(arg);
                if (dev is null)
                {
                    return (null, $"no device '{arg}' (use a DTS label, a node name or a DT path)");
                }

                if (kind is EventKind.Reg or EventKind.Bind && dev.Instance is null)
                {
                    return (null, $"{name}({arg}): not an IOMMU instance (an enabled #iommu-cells provider)");
                }

                if (kind == EventKind.Load && dev.DriverAvailability != DriverAvailability.Module)
                {
                    return (null, dev.DriverAvailability == DriverAvailability.BuiltIn
                        ? $"LOAD({arg}): its driver {dev.DriverName} is built in (registered at its initcall)"
                        : $"LOAD({arg}): no driver for it (driver=absent)");
                }
            }

            events.Add(new ScheduleEvent(kind.Value, dev));
        }

        return (events, null);
    }

    private static IEnumerable<string> Tokens(string text)
    {
        var depth = 0;
        var start = 0;
        for (var i = 0; i <= text.Length; i++)
        {
            var c = i < text.Length ? text[i] : ' ';
            if (c == '(')
            {
                depth++;
            }
            else if (c == ')')
            {
                depth--;
            }
            else if (depth == 0 && (char.IsWhiteSpace(c) || c is ';' or ','))
            {
                var t = text[start..i].Trim();
                if (t.Length > 0)
                {
                    yield return t;
                }

                start = i + 1;
            }
        }
    }
}
