using IommuLab.Firmware.Topology;

namespace IommuLab.Firmware.Acpi;

/// <summary>
/// A firmware problem in an ACPI table that Linux tolerates (it logs and carries on): a stable rule id, how bad it
/// is, the byte offset it concerns, a one-line message, and the line the kernel prints, when it prints one.
/// </summary>
public sealed record AcpiProblem(string RuleId, ProblemSeverity Severity, long Offset, string Message, string? KernelLog = null);

/// <summary>The stable rule ids of <see cref="AcpiProblem"/> (documented in docs/acpi-tables.md).</summary>
public static class AcpiRules
{
    public const string BadChecksum = "acpi-bad-checksum";
    public const string IortRevisionUnknown = "iort-revision-unknown";
    public const string IortUnknownNodeType = "iort-unknown-node-type";
    public const string IortTrailingBytes = "iort-trailing-bytes";
    public const string IortNullOutputReference = "iort-null-output-reference";
    public const string IortSingleMappingRefused = "iort-single-mapping-refused";
    public const string IortDeviceIdIndexOverflow = "iort-deviceid-index-overflow";
    public const string IortDuplicateSegment = "iort-duplicate-segment";
    public const string IortDuplicateName = "iort-duplicate-name";
    public const string IortMissingMemoryLimit = "iort-missing-memory-limit";
    public const string IortEndOfRangeOverlap = "iort-end-of-range-overlap";
    public const string ViotUnknownNodeType = "viot-unknown-node-type";
    public const string ViotTrailingBytes = "viot-trailing-bytes";
}
