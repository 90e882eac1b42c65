using System.Buffers.Binary;
using System.Text;

namespace IommuLab.Firmware.Acpi;

/// <summary>
/// The 36-byte header every ACPI system description table starts with (ACPI spec "System Description Table
/// Header"; <c>struct acpi_table_header</c> in include/acpi/actbl.h).
/// </summary>
/// <remarks>
/// <para><c>ChecksumValid</c>: the bytes of the first <c>Length</c> bytes sum to zero modulo 256, the test
/// acpi_tb_verify_checksum() makes; Linux only warns when it fails and uses the table anyway.</para>
/// <para><c>ExpectedChecksum</c>: the checksum byte that would make the sum zero.</para>
/// </remarks>
public sealed record AcpiTableHeader(
    string Signature,
    uint Length,
    byte Revision,
    byte Checksum,
    string OemId,
    string OemTableId,
    uint OemRevision,
    string CreatorId,
    uint CreatorRevision,
    bool ChecksumValid,
    byte ExpectedChecksum)
{
    /// <summary>Size of the common header in bytes.</summary>
    public const int Size = 36;

    /// <summary>Reads the header fields; the caller has checked that <paramref name="table"/> holds
    /// <see cref="Size"/> bytes and that the checksum range (<c>Length</c> bytes) is inside it.</summary>
    internal static AcpiTableHeader Read(ReadOnlySpan<byte> table, int checksumLength)
    {
        byte sum = 0;
        foreach (var b in table[..checksumLength])
        {
            sum = unchecked((byte)(sum + b));
        }

        var checksum = table[9];
        return new AcpiTableHeader(
            Text(table.Slice(0, 4)),
            BinaryPrimitives.ReadUInt32LittleEndian(table[4..]),
            table[8],
            checksum,
            Text(table.Slice(10, 6)),
            Text(table.Slice(16, 8)),
            BinaryPrimitives.ReadUInt32LittleEndian(table[24..]),
            Text(table.Slice(28, 4)),
            BinaryPrimitives.ReadUInt32LittleEndian(table[32..]),
            sum == 0,
            unchecked((byte)(checksum - sum)));
    }

    /// <summary>What Linux prints for a bad checksum (acpi_tb_verify_checksum(), ACPICA tbprint.c).</summary>
    public string ChecksumWarning =>
        $"ACPI BIOS Warning (bug): Incorrect checksum in table [{Signature}] - 0x{Checksum:X2}, should be 0x{ExpectedChecksum:X2}";

    /// <summary>Fixed-width ASCII fields; bytes outside printable ASCII are kept as Latin-1 so nothing is lost.</summary>
    internal static string Text(ReadOnlySpan<byte> bytes) => Encoding.Latin1.GetString(bytes);

    /// <summary>A signature as it appears in an error message: printable ASCII verbatim, other bytes as \xNN.</summary>
    internal static string Printable(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder();
        foreach (var b in bytes)
        {
            _ = b is >= 0x20 and < 0x7f and not (byte)'\\' ? sb.Append((char)b) : sb.Append($"\\x{b:x2}");
        }

        return sb.ToString();
    }
}
