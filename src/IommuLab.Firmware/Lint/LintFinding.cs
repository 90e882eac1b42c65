using IommuLab.Firmware.Topology;

namespace IommuLab.Firmware.Lint;

/// <summary>
/// One lint finding: a stable rule id, how bad it is, where (the file, and a DT path or a byte offset), a one-line
/// message saying what the kernel does with it, and a one-line fix hint.
/// </summary>
/// <remarks>
/// <para><c>File</c>: The input's name as the user gave it (a path, or <c>example:NAME</c>).</para>
/// <para><c>Path</c>: The DT node the finding is about, or null for ACPI tables and whole-file findings.</para>
/// <para><c>Offset</c>: A byte offset in the file (ACPI tables, DTB format errors), or null.</para>
/// </remarks>
public sealed record LintFinding(string RuleId, ProblemSeverity Severity, string File, string? Path, long? Offset, string Message, string FixHint)
{
    /// <summary>Where, as reports print it: the DT path, else <c>offset 0x..</c>, else <c>file</c>.</summary>
    public string Location => Path ?? (Offset is long o ? $"offset 0x{o:x}" : "file");
}

/// <summary>Severity names as the reports and the <c>--fail-on</c> option spell them.</summary>
public static class Severities
{
    public static string Name(ProblemSeverity s) => s switch
    {
        ProblemSeverity.Error => "error",
        ProblemSeverity.Warning => "warning",
        _ => "info",
    };

    public static ProblemSeverity? Parse(string name) => name switch
    {
        "error" => ProblemSeverity.Error,
        "warning" => ProblemSeverity.Warning,
        "info" => ProblemSeverity.Info,
        _ => null,
    };
}
