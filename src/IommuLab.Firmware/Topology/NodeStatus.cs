using IommuLab.Firmware.DeviceTree;

namespace IommuLab.Firmware.Topology;

/// <summary>How a node's <c>status</c> property reads.</summary>
public enum StatusKind
{
    /// <summary>No <c>status</c>, or "okay" / "ok".</summary>
    Okay,
    Disabled,
    Reserved,
    /// <summary>"fail" or "fail-&lt;code&gt;".</summary>
    Fail,
    /// <summary>Anything else, including an empty value.</summary>
    Other,
}

/// <summary>A node's status as <c>of_device_is_available()</c> sees it.</summary>
/// <remarks>
/// <para><c>Value</c>: The raw string (up to its first NUL), or null when the node has no <c>status</c>.</para>
/// </remarks>
public sealed record NodeStatus(string? Value, StatusKind Kind, bool IsAvailable)
{
    public static NodeStatus Absent { get; } = new(null, StatusKind.Okay, true);

    /// <summary>Text for reports: "okay" for an absent status, else the value.</summary>
    public string Display => Value ?? "okay";

    /// <summary>
    /// Models of_device_is_available() (drivers/of/base.c): available when <c>status</c> is absent, or has a
    /// non-empty value comparing equal (as a C string) to "okay" or "ok". Every other value, including
    /// "disabled", "reserved", "fail" and "fail-xxx", makes the node unavailable.
    /// </summary>
    public static NodeStatus Of(DtNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var prop = node.FindProperty("status");
        if (prop is null)
        {
            return Absent;
        }

        // strcmp() stops at the first NUL; a value without one is compared over its whole length here.
        var span = prop.Value.Span;
        var nul = span.IndexOf((byte)0);
        var value = System.Text.Encoding.UTF8.GetString(nul < 0 ? span : span[..nul]);
        var available = prop.Length > 0 && (value == "okay" || value == "ok");
        var kind = available ? StatusKind.Okay
            : value == "disabled" ? StatusKind.Disabled
            : value == "reserved" ? StatusKind.Reserved
            : value == "fail" || value.StartsWith("fail-", StringComparison.Ordinal) ? StatusKind.Fail
            : StatusKind.Other;
        return new NodeStatus(value, kind, available);
    }
}
