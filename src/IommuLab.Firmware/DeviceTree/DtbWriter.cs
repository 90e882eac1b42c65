using System.Buffers.Binary;
using System.Text;

namespace IommuLab.Firmware.DeviceTree;

/// <summary>
/// Writes a <see cref="DeviceTree"/> as a version-17 DTB in dtc's layout: header, reservation
/// block at 0x28, structure block, then strings block, with dtc's string-table sharing (a name
/// that is a suffix of an earlier name reuses its bytes). So a DTB dtc wrote reads and writes
/// back to the same bytes.
/// </summary>
public static class DtbWriter
{
    public static byte[] Write(DeviceTree tree)
    {
        ArgumentNullException.ThrowIfNull(tree);
        var strings = new StringTable();
        var structure = new Buffer(checked(64 + EstimateStructSize(tree.Root)));
        EmitNode(tree.Root, structure, strings);
        structure.U32(Fdt.End);

        var rsvOff = Fdt.HeaderSizeV17;
        var rsvSize = checked((tree.MemoryReservations.Count + 1) * Fdt.ReservationEntrySize);
        var structOff = rsvOff + rsvSize;
        var stringsOff = checked(structOff + structure.Length);
        var totalSize = checked(stringsOff + strings.Length + tree.TrailingPadding);

        var blob = new byte[totalSize];
        var span = blob.AsSpan();
        Put(span, 0, Fdt.Magic);
        Put(span, 4, (uint)totalSize);
        Put(span, 8, (uint)structOff);
        Put(span, 12, (uint)stringsOff);
        Put(span, 16, (uint)rsvOff);
        Put(span, 20, 17);
        Put(span, 24, 16);
        Put(span, 28, tree.BootCpuId);
        Put(span, 32, (uint)strings.Length);
        Put(span, 36, (uint)structure.Length);
        var p = rsvOff;
        foreach (var r in tree.MemoryReservations)
        {
            BinaryPrimitives.WriteUInt64BigEndian(span.Slice(p, 8), r.Address);
            BinaryPrimitives.WriteUInt64BigEndian(span.Slice(p + 8, 8), r.Size);
            p += Fdt.ReservationEntrySize;
        }

        structure.Written.CopyTo(span[structOff..]);
        strings.Written.CopyTo(span[stringsOff..]);
        return blob;
    }

    private static void Put(Span<byte> span, int at, uint value) => BinaryPrimitives.WriteUInt32BigEndian(span.Slice(at, 4), value);

    private static int EstimateStructSize(DtNode node)
    {
        var size = 0;
        foreach (var n in node.DescendantsAndSelf())
        {
            size += 12 + n.Name.Length;
            foreach (var prop in n.Properties)
            {
                size += 16 + prop.Length;
            }
        }

        return size;
    }

    private static void EmitNode(DtNode node, Buffer buf, StringTable strings)
    {
        buf.U32(Fdt.BeginNode);
        buf.Name(node.Name);
        foreach (var prop in node.Properties)
        {
            buf.U32(Fdt.Prop);
            buf.U32((uint)prop.Length);
            buf.U32((uint)strings.Insert(prop.Name));
            buf.Bytes(prop.Value.Span);
        }

        foreach (var child in node.Children)
        {
            EmitNode(child, buf, strings);
        }

        buf.U32(Fdt.EndNode);
    }

    /// <summary>A growable big-endian byte buffer that pads to 4 after names and values.</summary>
    private sealed class Buffer(int capacity)
    {
        private byte[] _data = new byte[capacity];

        public int Length { get; private set; }

        public ReadOnlySpan<byte> Written => _data.AsSpan(0, Length);

        public void U32(uint v)
        {
            Ensure(4);
            BinaryPrimitives.WriteUInt32BigEndian(_data.AsSpan(Length, 4), v);
            Length += 4;
        }

        public void Name(string name)
        {
            var n = Encoding.UTF8.GetByteCount(name);
            Ensure(n + 4);
            Encoding.UTF8.GetBytes(name, _data.AsSpan(Length));
            Length += n;
            _data[Length++] = 0;
            Pad();
        }

        public void Bytes(ReadOnlySpan<byte> value)
        {
            Ensure(value.Length + 3);
            value.CopyTo(_data.AsSpan(Length));
            Length += value.Length;
            Pad();
        }

        private void Pad()
        {
            var aligned = Fdt.Align4(Length);
            _data.AsSpan(Length, aligned - Length).Clear();
            Length = aligned;
        }

        private void Ensure(int more)
        {
            if (Length + more > _data.Length)
            {
                Array.Resize(ref _data, Math.Max(_data.Length * 2, Length + more));
            }
        }
    }

    /// <summary>The strings block. A name equal to the tail of an earlier name reuses it, as dtc does.</summary>
    /// <remarks>
    /// dtc takes the first offset at which the table reads as the name up to a NUL: that is the first
    /// occurrence of the name's bytes plus NUL, which a vectorised search finds directly. That search is linear in
    /// the table, so past <see cref="IndexFrom"/> bytes (real boards stay far below) short names are found in an
    /// index of every string's tails instead: hostile trees with 100k distinct names stay linear.
    /// </remarks>
    private sealed class StringTable
    {
        /// <summary>Table size from which tails are indexed.</summary>
        private const int IndexFrom = 64 << 10;

        /// <summary>Longest tail indexed, in bytes; longer names fall back to the search.</summary>
        private const int MaxIndexedTail = 64;

        private readonly Dictionary<string, int> _offsets = new(StringComparer.Ordinal);
        private Dictionary<string, int>? _tails;
        private byte[] _bytes = new byte[1024];

        public int Length { get; private set; }

        public ReadOnlySpan<byte> Written => _bytes.AsSpan(0, Length);

        public int Insert(string name)
        {
            if (_offsets.TryGetValue(name, out var at))
            {
                return at;
            }

            var size = Encoding.UTF8.GetByteCount(name) + 1;
            if (Length + size > _bytes.Length)
            {
                Array.Resize(ref _bytes, Math.Max(_bytes.Length * 2, Length + size));
            }

            // Encode at the end without committing; search the committed part for it.
            var candidate = _bytes.AsSpan(Length, size);
            Encoding.UTF8.GetBytes(name, candidate);
            candidate[^1] = 0;
            if (_tails is null && Length >= IndexFrom)
            {
                _tails = new Dictionary<string, int>(StringComparer.Ordinal);
                for (var start = 0; start < Length;)
                {
                    var end = start + _bytes.AsSpan(start, Length - start).IndexOf((byte)0);
                    IndexTails(start, end);
                    start = end + 1;
                }
            }

            at = _tails is not null && size - 1 <= MaxIndexedTail
                ? (_tails.TryGetValue(Encoding.Latin1.GetString(candidate[..^1]), out var tail) ? tail : -1)
                : _bytes.AsSpan(0, Length).IndexOf(candidate);
            if (at < 0)
            {
                at = Length;
                Length += size;
                if (_tails is not null)
                {
                    IndexTails(at, Length - 1);
                }
            }

            _offsets[name] = at;
            return at;
        }

        /// <summary>Records the tails of the string at [start, nul) that no earlier string already ends with.</summary>
        private void IndexTails(int start, int nul)
        {
            // Latin-1 maps bytes to chars one to one, so the keys compare as the bytes do (names may not be UTF-8).
            for (var from = Math.Max(start, nul - MaxIndexedTail); from <= nul; from++)
            {
                _tails!.TryAdd(Encoding.Latin1.GetString(_bytes, from, nul - from), from);
            }
        }
    }
}
