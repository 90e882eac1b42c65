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

    /// <summary>The deferred-probe timeout expires.</summary>
    Timeout,
}

/// <summary>One scheduled event; <see cref="Device"/> is null for global events.</summary>
public sealed record ScheduleEvent(EventKind Kind, PlatformDevice? Device)
{
    public override string ToString() => Device is null
        ? Kind.ToString().ToUpperInvariant()
        : $"{Kind.ToString().ToUpperInvariant()}({Device.Labels.FirstOrDefault() ?? Device.Path})";
}

/// <summary>Parses the spec §0.3 notation: "REG(dart_a) BIND(dart_a) PROBE(display) REG(dart_b) TIMEOUT".</summary>
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
                _ => null,
            };
            if (kind is null)
            {
                return (null, $"unknown event '{name}' (REG, BIND, PROBE, ADD, WORK, LATE, TIMEOUT)");
            }

            var needsDevice = kind is EventKind.Reg or EventKind.Bind or EventKind.Probe or EventKind.Add;
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
