using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;

namespace IommuLab.Firmware.DeviceTree.Dts;

public static partial class DtsWriter
{
    /// <summary>The form dtc chooses for a property value it has no type information for.</summary>
    public enum ValueKind
    {
        /// <summary>No bytes: <c>name;</c>.</summary>
        Empty,

        /// <summary>NUL-terminated printable text: <c>"a\0b"</c> (the NULs between strings are escaped, not split).</summary>
        Strings,

        /// <summary>Whole big-endian 32-bit cells: <c>&lt;0x01 0x100&gt;</c>.</summary>
        Cells,

        /// <summary>Anything else: <c>[01 02 03]</c>.</summary>
        Bytes,
    }

    /// <summary>Bytes dtc accepts inside a guessed string: NUL, the C escapes \a..\r, and printable ASCII.</summary>
    private static readonly SearchValues<byte> StringBytes = SearchValues.Create(
        [0, 7, 8, 9, 10, 11, 12, 13, .. Enumerable.Range(0x20, 0x7f - 0x20).Select(b => (byte)b)]);

    /// <summary>Bytes copied into a string literal as they are (printable ASCII except the quote and backslash).</summary>
    private static readonly SearchValues<byte> PlainStringBytes = SearchValues.Create(
        [.. Enumerable.Range(0x20, 0x7f - 0x20).Where(b => b != '"' && b != '\\').Select(b => (byte)b)]);

    /// <summary>Two lowercase hex digits per byte, as one little-endian ushort ready to store.</summary>
    private static readonly ushort[] HexPairs = BuildHexPairs();

    /// <summary>
    /// How dtc prints <paramref name="value"/> when it has no type information (a DTB): a string (list) when the
    /// value ends in NUL, holds only NUL, printable ASCII and \a..\r, and at most half of it is NUL; else cells
    /// when the length is a multiple of 4; else bytes.
    /// </summary>
    public static ValueKind GuessKind(ReadOnlySpan<byte> value)
    {
        if (value.IsEmpty)
        {
            return ValueKind.Empty;
        }

        if (value[^1] == 0 && !value.ContainsAnyExcept(StringBytes) && value.Count((byte)0) * 2 <= value.Length)
        {
            return ValueKind.Strings;
        }

        return value.Length % 4 == 0 ? ValueKind.Cells : ValueKind.Bytes;
    }

    /// <summary>
    /// The DTS text of <paramref name="value"/> alone, as dtc prints it after <c>name = </c>
    /// (empty for an empty value, which dtc prints as <c>name;</c>).
    /// </summary>
    public static string FormatValue(ReadOnlySpan<byte> value)
    {
        var buffer = value.Length <= 1024 ? stackalloc byte[ValueBound(value.Length)] : new byte[ValueBound(value.Length)];
        var n = value.IsEmpty ? 0 : WriteValue(buffer, value);
        return System.Text.Encoding.ASCII.GetString(buffer[..n]);
    }

    /// <summary>Upper bound of a value's text: a byte becomes at most "\xNN" in a string, "NN " in bytes.</summary>
    private static int ValueBound(int length) => checked((length * 4) + 8);

    private static int WriteValue(Span<byte> span, ReadOnlySpan<byte> value) => GuessKind(value) switch
    {
        ValueKind.Strings => WriteStrings(span, value),
        ValueKind.Cells => WriteCells(span, value),
        _ => WriteBytes(span, value),
    };

    /// <summary>One quoted literal; the NULs between strings are printed as \0, the final NUL is implied.</summary>
    private static int WriteStrings(Span<byte> span, ReadOnlySpan<byte> value)
    {
        var text = value[..^1];
        span[0] = (byte)'"';
        var pos = 1;
        while (true)
        {
            var run = text.IndexOfAnyExcept(PlainStringBytes);
            if (run < 0)
            {
                text.CopyTo(span[pos..]);
                pos += text.Length;
                break;
            }

            text[..run].CopyTo(span[pos..]);
            pos += run;
            pos += WriteEscape(span[pos..], text[run]);
            text = text[(run + 1)..];
        }

        span[pos++] = (byte)'"';
        return pos;
    }

    private static int WriteEscape(Span<byte> span, byte b)
    {
        span[0] = (byte)'\\';
        var letter = b switch
        {
            0 => (byte)'0',
            7 => (byte)'a',
            8 => (byte)'b',
            9 => (byte)'t',
            10 => (byte)'n',
            11 => (byte)'v',
            12 => (byte)'f',
            13 => (byte)'r',
            (byte)'"' or (byte)'\\' => b,
            _ => (byte)0,
        };
        if (letter != 0)
        {
            span[1] = letter;
            return 2;
        }

        // Unreachable from a guessed string (every other byte rules the string form out); kept so the
        // literal stays valid DTS whatever it is handed.
        span[1] = (byte)'x';
        BinaryPrimitives.WriteUInt16LittleEndian(span[2..], HexPairs[b]);
        return 4;
    }

    /// <summary>"&lt;0x01 0xffffffff&gt;": each cell as 0x%02x (at least two digits, no other padding).</summary>
    private static int WriteCells(Span<byte> span, ReadOnlySpan<byte> value)
    {
        span[0] = (byte)'<';
        var pos = 1;
        for (var i = 0; i < value.Length; i += 4)
        {
            if (i != 0)
            {
                span[pos++] = (byte)' ';
            }

            pos += WriteHex(span[pos..], BinaryPrimitives.ReadUInt32BigEndian(value[i..]));
        }

        span[pos++] = (byte)'>';
        return pos;
    }

    /// <summary>"[01 02 03]": each byte as two lowercase hex digits.</summary>
    private static int WriteBytes(Span<byte> span, ReadOnlySpan<byte> value)
    {
        span[0] = (byte)'[';
        var pos = 1;
        for (var i = 0; i < value.Length; i++)
        {
            if (i != 0)
            {
                span[pos++] = (byte)' ';
            }

            BinaryPrimitives.WriteUInt16LittleEndian(span[pos..], HexPairs[value[i]]);
            pos += 2;
        }

        span[pos++] = (byte)']';
        return pos;
    }

    /// <summary>
    /// "0x" and <paramref name="cell"/> in lowercase hex with at least two digits. All eight digits are made at
    /// once (each nibble spread into its own byte, then turned into ASCII without branches) and stored as one
    /// 8-byte write with the wanted digits first; the bytes after them are scratch that later text overwrites,
    /// which is why <see cref="ValueBound"/> leaves room for 8 bytes after the last cell's "0x".
    /// </summary>
    private static int WriteHex(Span<byte> span, uint cell)
    {
        var digits = cell <= 0xff ? 2 : (32 - BitOperations.LeadingZeroCount(cell) + 3) >> 2;
        ulong v = cell;
        v = (v | (v << 16)) & 0x0000_FFFF_0000_FFFFUL;
        v = (v | (v << 8)) & 0x00FF_00FF_00FF_00FFUL;
        v = (v | (v << 4)) & 0x0F0F_0F0F_0F0F_0F0FUL;
        var letters = ((v + 0x0606_0606_0606_0606UL) >> 4) & 0x0101_0101_0101_0101UL;
        var ascii = unchecked(v + 0x3030_3030_3030_3030UL + (letters * 0x27));
        span[0] = (byte)'0';
        span[1] = (byte)'x';
        BinaryPrimitives.WriteUInt64BigEndian(span[2..], ascii << ((8 - digits) * 8));
        return 2 + digits;
    }

    /// <summary>Exactly 16 lowercase hex digits (the /memreserve/ form, %016llx).</summary>
    private static int WriteHex64(Span<byte> span, ulong value)
    {
        for (var i = 7; i >= 0; i--)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(span[(i * 2)..], HexPairs[value & 0xff]);
            value >>= 8;
        }

        return 16;
    }

    private static byte HexDigit(uint nibble) => (byte)(nibble < 10 ? '0' + nibble : 'a' + nibble - 10);

    private static ushort[] BuildHexPairs()
    {
        var table = new ushort[256];
        for (uint b = 0; b < 256; b++)
        {
            table[b] = (ushort)(HexDigit(b >> 4) | (HexDigit(b & 0xf) << 8));
        }

        return table;
    }
}
