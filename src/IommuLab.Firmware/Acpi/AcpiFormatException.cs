namespace IommuLab.Firmware.Acpi;

/// <summary>What is wrong with an ACPI IORT or VIOT table.</summary>
public enum AcpiTableError
{
    /// <summary>Fewer bytes than the 36-byte ACPI header, or than the table's own fixed header.</summary>
    TruncatedHeader,

    /// <summary>The signature is neither IORT nor VIOT.</summary>
    UnsupportedSignature,

    /// <summary>The header's Length field claims more bytes than the input holds.</summary>
    LengthBeyondData,

    /// <summary>The header's Length field is smaller than the table's fixed header.</summary>
    LengthTooSmall,

    /// <summary>The node array offset points into the header or past the end of the table.</summary>
    NodeOffsetOutOfRange,

    /// <summary>The node count cannot fit in the table (each node is at least a node header long).</summary>
    NodeCountImpossible,

    /// <summary>A node header or node runs past the end of the table.</summary>
    NodeOverrunsTable,

    /// <summary>A node's length is smaller than the fixed part its type requires.</summary>
    NodeTooShort,

    /// <summary>An ID mapping array lies (partly) outside its node or over the node's fixed fields.</summary>
    MappingsOutsideNode,

    /// <summary>A variable-length array (ITS identifiers, SMMU interrupts, RMR descriptors) lies outside its node.</summary>
    ArrayOutsideNode,

    /// <summary>A namespace object name has no NUL terminator inside its node.</summary>
    UnterminatedName,

    /// <summary>A reference (ID mapping output, PMCG node reference, VIOT output node) is not the offset of a node.</summary>
    ReferenceToNoNode,

    /// <summary>A reference names a node of a type that cannot be there.</summary>
    ReferenceToWrongType,

    /// <summary>Following ID mapping output references from some node leads back to it.</summary>
    MappingCycle,

    /// <summary>More nodes than <see cref="AcpiTableOptions.MaxNodes"/> allows.</summary>
    TooManyNodes,

    /// <summary>More IORT ID mappings, or VIOT endpoint nodes, than <see cref="AcpiTableOptions.MaxIdMappings"/> allows.</summary>
    TooManyMappings,
}

/// <summary>A malformed ACPI table: the kind of error, the byte offset in the table, and what was expected.</summary>
public sealed class AcpiFormatException : FirmwareFormatException
{
    public AcpiFormatException(string source, AcpiTableError kind, long offset, string message)
        : base(source, $"offset 0x{offset:x}", message)
    {
        Kind = kind;
        Offset = offset;
    }

    public AcpiTableError Kind { get; }

    /// <summary>Byte offset from the start of the table.</summary>
    public long Offset { get; }
}
