using System.Buffers.Binary;

namespace IommuLab.Firmware.DeviceTree.Dts;

/// <summary>A growable byte buffer reused for every property value, so building values does not allocate per byte.</summary>
internal sealed class DtsByteBuffer(int capacity)
{
    private byte[] _bytes = new byte[Math.Max(capacity, 16)];

    public int Length { get; private set; }

    public ReadOnlySpan<byte> Span => _bytes.AsSpan(0, Length);

    public void Clear() => Length = 0;

    public void Append(byte b)
    {
        if (Length == _bytes.Length)
        {
            Grow(1);
        }

        _bytes[Length++] = b;
    }

    public void Append(ReadOnlySpan<byte> bytes)
    {
        if (Length + bytes.Length > _bytes.Length)
        {
            Grow(bytes.Length);
        }

        bytes.CopyTo(_bytes.AsSpan(Length));
        Length += bytes.Length;
    }

    /// <summary>Appends the low <paramref name="bits"/> bits of <paramref name="value"/> big-endian.</summary>
    public void AppendInteger(ulong value, int bits)
    {
        if (Length + 8 > _bytes.Length)
        {
            Grow(8);
        }

        var span = _bytes.AsSpan(Length);
        switch (bits)
        {
            case 8: span[0] = unchecked((byte)value); break;
            case 16: BinaryPrimitives.WriteUInt16BigEndian(span, unchecked((ushort)value)); break;
            case 32: BinaryPrimitives.WriteUInt32BigEndian(span, unchecked((uint)value)); break;
            default: BinaryPrimitives.WriteUInt64BigEndian(span, value); break;
        }

        Length += bits / 8;
    }

    public byte[] ToArray() => Length == 0 ? [] : _bytes.AsSpan(0, Length).ToArray();

    private void Grow(int more) => Array.Resize(ref _bytes, Math.Max(_bytes.Length * 2, checked(Length + more)));
}
