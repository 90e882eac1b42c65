using System.Buffers.Binary;
using IommuLab.Firmware.Acpi.Iort;
using IommuLab.Firmware.Acpi.Viot;
using IommuLab.Firmware.Topology;

namespace IommuLab.Firmware.Acpi;

/// <summary>
/// A decoded ACPI table that describes IOMMU topology: an <see cref="IortTable"/> or a <see cref="ViotTable"/>.
/// Immutable; built once per input.
/// </summary>
public abstract class AcpiTable
{
    private protected AcpiTable(string source, AcpiTableHeader header, IReadOnlyList<AcpiProblem> problems)
    {
        Source = source;
        Header = header;
        Problems = problems;
    }

    /// <summary>The input's name (usually a file path).</summary>
    public string Source { get; }

    public AcpiTableHeader Header { get; }

    /// <summary>Problems Linux tolerates, in table order (a bad checksum first).</summary>
    public IReadOnlyList<AcpiProblem> Problems { get; }

    /// <summary>True when the bytes start with a signature <see cref="Load"/> accepts.</summary>
    public static bool LooksLikeAcpiTable(ReadOnlySpan<byte> bytes) =>
        bytes.Length >= 4 && (bytes[..4].SequenceEqual("IORT"u8) || bytes[..4].SequenceEqual("VIOT"u8));

    public static AcpiTable LoadFile(string path, AcpiTableOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Load(File.ReadAllBytes(path), path, options);
    }

    /// <summary>
    /// Decodes an IORT or VIOT table, chosen by its signature. Every malformation is an
    /// <see cref="AcpiFormatException"/> naming the offset; nothing else escapes.
    /// </summary>
    public static AcpiTable Load(ReadOnlySpan<byte> bytes, string sourceName, AcpiTableOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(sourceName);
        options ??= AcpiTableOptions.Default;
        if (bytes.Length < 4)
        {
            throw new AcpiFormatException(sourceName, AcpiTableError.TruncatedHeader, bytes.Length,
                $"expected a 4-byte table signature, found {bytes.Length} bytes");
        }

        var signature = bytes[..4];
        if (signature.SequenceEqual("IORT"u8))
        {
            return IortReader.Read(bytes, sourceName, options);
        }

        if (signature.SequenceEqual("VIOT"u8))
        {
            return ViotReader.Read(bytes, sourceName, options);
        }

        throw new AcpiFormatException(sourceName, AcpiTableError.UnsupportedSignature, 0,
            $"expected an IORT or VIOT table signature, found \"{AcpiTableHeader.Printable(signature)}\"");
    }

    /// <summary>
    /// Checks the common header and returns it with the table's bytes (cut to its Length field) and the
    /// checksum problem, if any. <paramref name="fixedSize"/> is the table's own fixed header size.
    /// </summary>
    internal static (AcpiTableHeader Header, int Length) ReadHeader(
        ReadOnlySpan<byte> bytes, string source, int fixedSize, List<AcpiProblem> problems)
    {
        if (bytes.Length < AcpiTableHeader.Size)
        {
            throw new AcpiFormatException(source, AcpiTableError.TruncatedHeader, bytes.Length,
                $"expected a {AcpiTableHeader.Size}-byte ACPI table header, found {bytes.Length} bytes");
        }

        var length = BinaryPrimitives.ReadUInt32LittleEndian(bytes[4..]);
        if (length > (uint)bytes.Length)
        {
            throw new AcpiFormatException(source, AcpiTableError.LengthBeyondData, 4,
                $"expected a table length of at most {bytes.Length} (the bytes available), found {length} (0x{length:x})");
        }

        if (length < fixedSize)
        {
            throw new AcpiFormatException(source, AcpiTableError.LengthTooSmall, 4,
                $"expected a table length of at least {fixedSize} (the {AcpiTableHeader.Printable(bytes[..4])} fixed header), found {length}");
        }

        var header = AcpiTableHeader.Read(bytes, (int)length);
        if (!header.ChecksumValid)
        {
            problems.Add(new AcpiProblem(AcpiRules.BadChecksum, ProblemSeverity.Warning, 9,
                $"checksum 0x{header.Checksum:x2} does not make the table sum to zero (0x{header.ExpectedChecksum:x2} would); Linux warns and uses the table",
                header.ChecksumWarning));
        }

        return (header, (int)length);
    }
}
