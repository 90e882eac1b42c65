namespace IommuLab.Firmware.DeviceTree;

/// <summary>What is wrong with a flattened device tree blob.</summary>
public enum DtbError
{
    TooSmall,
    BadMagic,
    TotalSizeBeyondFile,
    UnsupportedVersion,
    BlockOutOfBounds,
    BlocksOverlap,
    Misaligned,
    UnterminatedReservations,
    UnterminatedName,
    UnterminatedString,
    PropertyPastBlock,
    UnknownToken,
    UnbalancedNode,
    TooDeep,
    DuplicateName,
    DuplicatePhandle,
    InvalidPhandle,
    TooManyNodes,
    PropertyTooLong,
}

/// <summary>A malformed DTB: the kind of error, the byte offset in the file, and what was expected.</summary>
public sealed class DtbFormatException : FirmwareFormatException
{
    public DtbFormatException(string source, DtbError kind, long offset, string message)
        : base(source, $"offset 0x{offset:x}", message)
    {
        Kind = kind;
        Offset = offset;
    }

    public DtbError Kind { get; }

    /// <summary>Byte offset from the start of the blob.</summary>
    public long Offset { get; }
}
