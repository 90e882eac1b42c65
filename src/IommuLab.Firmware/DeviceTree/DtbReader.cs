using System.Buffers.Binary;
using System.Text;

namespace IommuLab.Firmware.DeviceTree;

/// <summary>
/// Reads a flattened device tree (DTB) into a <see cref="DeviceTree"/>. Property values are slices
/// of the blob (no copy). Every malformation is a <see cref="DtbFormatException"/> with the offset
/// and what was expected; nothing else escapes.
/// </summary>
public static class DtbReader
{
    /// <summary>True when the bytes start with the FDT magic.</summary>
    public static bool LooksLikeDtb(ReadOnlySpan<byte> bytes) =>
        bytes.Length >= 4 && BinaryPrimitives.ReadUInt32BigEndian(bytes) == Fdt.Magic;

    public static DeviceTree ReadFile(string path, DtbReaderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Read(File.ReadAllBytes(path), path, options);
    }

    public static DeviceTree Read(ReadOnlyMemory<byte> blob, string sourceName, DtbReaderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(sourceName);
        return new Reader(blob, sourceName, options ?? DtbReaderOptions.Default).Run();
    }

    private sealed class Reader(ReadOnlyMemory<byte> blob, string source, DtbReaderOptions options)
    {
        private int _nodes;
        private readonly Dictionary<uint, DtNode> _phandles = [];
        private readonly Dictionary<uint, string> _names = [];
        private DtbSource _source = null!;
        private string?[] _nameCache = [];
        private int _structOff;
        private int _structEnd;
        private int _stringsOff;
        private int _stringsSize;

        public DeviceTree Run()
        {
            var span = blob.Span;
            if (span.Length < 8)
            {
                throw Error(DtbError.TooSmall, 0, $"expected at least a {Fdt.HeaderSizeV16}-byte FDT header, found {span.Length} bytes");
            }

            var magic = U32(span, 0);
            if (magic != Fdt.Magic)
            {
                throw Error(DtbError.BadMagic, 0, $"expected FDT magic 0xd00dfeed, found 0x{magic:x8}");
            }

            var totalSize = U32(span, 4);
            if (span.Length < Fdt.HeaderSizeV16)
            {
                throw Error(DtbError.TooSmall, span.Length, $"expected a {Fdt.HeaderSizeV16}-byte header, file ends after {span.Length} bytes");
            }

            var version = U32(span, 20);
            var lastComp = U32(span, 24);
            if (version < 16 || lastComp > 17)
            {
                throw Error(DtbError.UnsupportedVersion, 20, $"expected header version 16 or 17 (last compatible <= 17), found version {version}, last compatible {lastComp}");
            }

            var headerSize = version >= 17 ? Fdt.HeaderSizeV17 : Fdt.HeaderSizeV16;
            if (totalSize > (uint)span.Length)
            {
                throw Error(DtbError.TotalSizeBeyondFile, 4, $"expected totalsize at most the file's {span.Length} bytes, found totalsize {totalSize}: the blob runs past the end of the file");
            }

            if (totalSize < headerSize)
            {
                throw Error(DtbError.TooSmall, 4, $"expected totalsize of at least the {headerSize}-byte header, found totalsize {totalSize}");
            }

            var size = (int)totalSize;
            var structOff = U32(span, 8);
            var stringsOff = U32(span, 12);
            var rsvOff = U32(span, 16);
            var bootCpu = U32(span, 28);
            var stringsSize = U32(span, 32);
            uint? structSize = version >= 17 ? U32(span, 36) : null;

            CheckBlock("structure block", 8, structOff, structSize ?? 0, size, headerSize);
            CheckBlock("strings block", 12, stringsOff, stringsSize, size, headerSize);
            if (structOff % 4 != 0)
            {
                throw Error(DtbError.Misaligned, 8, $"expected the structure block 4-byte aligned, found offset 0x{structOff:x}");
            }

            if (rsvOff % 8 != 0)
            {
                throw Error(DtbError.Misaligned, 16, $"expected the memory reservation block 8-byte aligned, found offset 0x{rsvOff:x}");
            }

            if (rsvOff < headerSize || rsvOff > totalSize)
            {
                throw Error(DtbError.BlockOutOfBounds, 16, $"expected the memory reservation block offset between 0x{headerSize:x} and 0x{totalSize:x}, found 0x{rsvOff:x}");
            }

            _structOff = (int)structOff;
            _structEnd = structSize is uint ss ? (int)(structOff + ss) : size;
            _stringsOff = (int)stringsOff;
            _stringsSize = (int)stringsSize;
            if (structSize is uint s2 && Overlap(structOff, s2, stringsOff, stringsSize))
            {
                throw Error(DtbError.BlocksOverlap, 12, $"expected the structure and strings blocks not to overlap, found structure block 0x{structOff:x}+0x{s2:x} and strings block 0x{stringsOff:x}+0x{stringsSize:x}");
            }

            var reservations = ReadReservations(span, (int)rsvOff, size, out var rsvEnd);
            if (Overlap(rsvOff, (uint)(rsvEnd - rsvOff), structOff, structSize ?? 1)
                || Overlap(rsvOff, (uint)(rsvEnd - rsvOff), stringsOff, stringsSize))
            {
                throw Error(DtbError.BlocksOverlap, 16, $"expected the memory reservation block not to overlap the structure or strings block, found it at 0x{rsvOff:x}..0x{rsvEnd:x}");
            }

            // Names are cached by strings-block offset; the cache is pooled because a fresh
            // array per blob would allocate eight bytes per strings-block byte.
            _source = new DtbSource(blob[..size], _names);
            _nameCache = System.Buffers.ArrayPool<string?>.Shared.Rent(_stringsSize);
            DtNode root;
            try
            {
                root = ReadStructure(span);
            }
            finally
            {
                Array.Clear(_nameCache, 0, _stringsSize);
                System.Buffers.ArrayPool<string?>.Shared.Return(_nameCache);
                _nameCache = [];
            }

            var tree = new DeviceTree(root, source)
            {
                BootCpuId = bootCpu,
                Version = version,
                LastCompatibleVersion = lastComp,
                TrailingPadding = TrailingZeros(span, size, structSize),
            };
            tree.MemoryReservations.AddRange(reservations);
            tree.SetPhandleIndex(_phandles);
            return tree;
        }

        /// <summary>Padding dtc adds after the last block (-p/-S); only when it is all zeros and after every block.</summary>
        private int TrailingZeros(ReadOnlySpan<byte> span, int size, uint? structSize)
        {
            var end = Math.Max(_stringsOff + _stringsSize, structSize is null ? 0 : _structEnd);
            if (end >= size)
            {
                return 0;
            }

            return span[end..size].ContainsAnyExcept((byte)0) ? 0 : size - end;
        }

        private static bool Overlap(uint aOff, uint aSize, uint bOff, uint bSize) =>
            aSize > 0 && bSize > 0 && (ulong)aOff < (ulong)bOff + bSize && (ulong)bOff < (ulong)aOff + aSize;

        private void CheckBlock(string what, int field, uint off, uint len, int total, int headerSize)
        {
            if (off < headerSize || (ulong)off + len > (ulong)total)
            {
                throw Error(DtbError.BlockOutOfBounds, field, $"expected the {what} between the header's end 0x{headerSize:x} and totalsize 0x{total:x}, found 0x{off:x}+0x{len:x}");
            }
        }

        private List<MemoryReservation> ReadReservations(ReadOnlySpan<byte> span, int off, int size, out int end)
        {
            var list = new List<MemoryReservation>();
            for (var p = off; ; p += Fdt.ReservationEntrySize)
            {
                if (p + Fdt.ReservationEntrySize > size)
                {
                    throw Error(DtbError.UnterminatedReservations, p, "expected a zero address/size entry ending the memory reservation block, reached totalsize");
                }

                var addr = BinaryPrimitives.ReadUInt64BigEndian(span.Slice(p, 8));
                var len = BinaryPrimitives.ReadUInt64BigEndian(span.Slice(p + 8, 8));
                if (addr == 0 && len == 0)
                {
                    end = p + Fdt.ReservationEntrySize;
                    return list;
                }

                list.Add(new MemoryReservation(addr, len));
            }
        }

        /// <summary>One open node: its properties gather in a reused scratch list until the first child or its end.</summary>
        private sealed class Frame
        {
            public readonly List<string> Properties = new(16);
            public HashSet<string>? PropertyNames;
            public int FirstPropertyToken = -1;
            public bool HasPhandle;
            public HashSet<string>? ChildNames;
            public DtNode Node = null!;
            public bool PropertiesDone;

            public void Reset(DtNode node)
            {
                Node = node;
                Properties.Clear();
                FirstPropertyToken = -1;
                HasPhandle = false;
                PropertyNames?.Clear();
                ChildNames?.Clear();
                PropertiesDone = false;
            }

            public void FinishProperties(DtbSource source)
            {
                if (!PropertiesDone)
                {
                    PropertiesDone = true;
                    if (Properties.Count > 0)
                    {
                        Node.SetLazyProperties(source, FirstPropertyToken, Properties.Count);
                    }
                }
            }
        }

        // Linear duplicate checks are cheapest for ordinary nodes; hostile ones with
        // thousands of entries switch to a hash set so a blob cannot cost quadratic time.
        private const int LinearCheckLimit = 16;

        private DtNode ReadStructure(ReadOnlySpan<byte> span)
        {
            var p = _structOff;
            var frames = new List<Frame>(16);
            var depth = 0;
            DtNode? root = null;
            var ended = false;
            while (!ended)
            {
                if (p + 4 > _structEnd)
                {
                    throw Error(DtbError.UnbalancedNode, p, "expected FDT_END, reached the end of the structure block");
                }

                var tokenAt = p;
                var token = U32(span, p);
                p += 4;
                switch (token)
                {
                    case Fdt.BeginNode:
                    {
                        if (root is not null && depth == 0)
                        {
                            throw Error(DtbError.UnbalancedNode, tokenAt, "expected FDT_END after the root node, found a second FDT_BEGIN_NODE");
                        }

                        var rest = span[p.._structEnd];
                        var nul = rest.IndexOf((byte)0);
                        if (nul < 0)
                        {
                            throw Error(DtbError.UnterminatedName, p, "expected a NUL-terminated node name, reached the end of the structure block");
                        }

                        var name = nul == 0 ? string.Empty : Encoding.UTF8.GetString(rest[..nul]);
                        if (depth == 0 && name.Length != 0)
                        {
                            throw Error(DtbError.UnbalancedNode, p, $"expected the root node's empty name, found '{name}'");
                        }

                        if (++_nodes > options.MaxNodes)
                        {
                            throw FirmwareFormatException.Exceeds(Error(DtbError.TooManyNodes, tokenAt, $"expected at most {options.MaxNodes} nodes, found node number {_nodes} ('{name}'){FirmwareLimits.Hint(FirmwareLimit.Nodes, "DtbReaderOptions.MaxNodes")}"), FirmwareLimit.Nodes);
                        }

                        var node = new DtNode(name) { DtbOffset = tokenAt };
                        if (depth > 0)
                        {
                            var parent = frames[depth - 1];
                            if (name.Length == 0)
                            {
                                throw Error(DtbError.UnterminatedName, p, $"expected a node name below {parent.Node.Path}, found an empty name");
                            }

                            parent.FinishProperties(_source);
                            CheckUniqueChild(parent, name, tokenAt);
                            parent.Node.AddChild(node);
                        }
                        else
                        {
                            root = node;
                        }

                        if (depth >= options.MaxDepth)
                        {
                            throw FirmwareFormatException.Exceeds(Error(DtbError.TooDeep, tokenAt, $"{node.Path}: expected at most {options.MaxDepth} levels of nodes counting the root, found one at level {depth + 1}{FirmwareLimits.Hint(FirmwareLimit.Depth, "DtbReaderOptions.MaxDepth")}"), FirmwareLimit.Depth);
                        }

                        if (depth == frames.Count)
                        {
                            frames.Add(new Frame());
                        }

                        frames[depth++].Reset(node);
                        p = Fdt.Align4(p + nul + 1);
                        break;
                    }

                    case Fdt.EndNode:
                        if (depth == 0)
                        {
                            throw Error(DtbError.UnbalancedNode, tokenAt, "expected FDT_BEGIN_NODE, FDT_PROP or FDT_END, found FDT_END_NODE with no open node");
                        }

                        frames[--depth].FinishProperties(_source);
                        break;

                    case Fdt.Prop:
                        if (depth == 0)
                        {
                            throw Error(DtbError.UnbalancedNode, tokenAt, "expected FDT_BEGIN_NODE, found FDT_PROP outside any node");
                        }

                        p = ReadProperty(span, p, tokenAt, frames[depth - 1]);
                        break;

                    case Fdt.Nop:
                        break;

                    case Fdt.End:
                        if (depth != 0 || root is null)
                        {
                            throw Error(DtbError.UnbalancedNode, tokenAt, root is null
                                ? "expected the root FDT_BEGIN_NODE, found FDT_END"
                                : $"expected FDT_END_NODE, found FDT_END with {depth} node(s) still open ({frames[depth - 1].Node.Path})");
                        }

                        ended = true;
                        break;

                    default:
                        throw Error(DtbError.UnknownToken, tokenAt, $"expected a structure token (1, 2, 3, 4 or 9), found 0x{token:x8}");
                }
            }

            return root!;
        }

        private void CheckUniqueChild(Frame parent, string name, int tokenAt)
        {
            var kids = parent.Node.Children;
            var duplicate = false;
            if (kids.Count < LinearCheckLimit)
            {
                duplicate = parent.Node.FindChild(name) is not null;
            }
            else
            {
                if (parent.ChildNames is null || parent.ChildNames.Count == 0)
                {
                    parent.ChildNames ??= new HashSet<string>(StringComparer.Ordinal);
                    foreach (var k in kids)
                    {
                        parent.ChildNames.Add(k.Name);
                    }
                }

                duplicate = !parent.ChildNames.Add(name);
            }

            if (duplicate)
            {
                throw Error(DtbError.DuplicateName, tokenAt, $"{parent.Node.Path}: expected unique child names, found a second '{name}'");
            }
        }

        private int ReadProperty(ReadOnlySpan<byte> span, int p, int tokenAt, Frame frame)
        {
            if (frame.PropertiesDone)
            {
                // The spec puts all properties before the first child; a late one would be
                // silently reordered by any rewrite, so it is an error, as libfdt's checker says.
                throw Error(DtbError.UnbalancedNode, tokenAt, $"{frame.Node.Path}: expected FDT_BEGIN_NODE or FDT_END_NODE, found FDT_PROP after a child node");
            }

            if (p + 8 > _structEnd)
            {
                throw Error(DtbError.PropertyPastBlock, p, "expected a property length and name offset, reached the end of the structure block");
            }

            var len = U32(span, p);
            var nameOff = U32(span, p + 4);
            var valueAt = p + 8;
            if (len > (uint)(_structEnd - valueAt))
            {
                throw Error(DtbError.PropertyPastBlock, p, $"expected a property value ending within the structure block (end 0x{_structEnd:x}), found a length of {len} bytes");
            }

            if (len > (uint)options.MaxPropertyLength)
            {
                throw FirmwareFormatException.Exceeds(Error(DtbError.PropertyTooLong, p, $"{frame.Node.Path}: expected a property value of at most {options.MaxPropertyLength} bytes, found {len}{FirmwareLimits.Hint(FirmwareLimit.PropertySize, "DtbReaderOptions.MaxPropertyLength")}"), FirmwareLimit.PropertySize);
            }

            var name = PropertyName(span, nameOff, p + 4);
            var props = frame.Properties;
            bool duplicate;
            if (props.Count < LinearCheckLimit)
            {
                duplicate = false;
                foreach (var other in props)
                {
                    if (ReferenceEquals(other, name) || other == name)
                    {
                        duplicate = true;
                        break;
                    }
                }
            }
            else
            {
                if (frame.PropertyNames is null || frame.PropertyNames.Count == 0)
                {
                    frame.PropertyNames ??= new HashSet<string>(StringComparer.Ordinal);
                    foreach (var other in props)
                    {
                        frame.PropertyNames.Add(other);
                    }
                }

                duplicate = !frame.PropertyNames.Add(name);
            }

            if (duplicate)
            {
                throw Error(DtbError.DuplicateName, tokenAt, $"{frame.Node.Path}: expected unique property names, found a second '{name}'");
            }

            props.Add(name);
            if (frame.FirstPropertyToken < 0)
            {
                frame.FirstPropertyToken = tokenAt;
            }

            if (name is "phandle" or "linux,phandle")
            {
                CheckPhandle(span.Slice(valueAt, (int)len), name, frame, valueAt);
            }

            return Fdt.Align4(valueAt + (int)len);
        }

        /// <summary>Like unflattening, the first of "phandle"/"linux,phandle" names the node; both must be valid and unique.</summary>
        private void CheckPhandle(ReadOnlySpan<byte> value, string name, Frame frame, int valueAt)
        {
            var node = frame.Node;
            if (value.Length != 4)
            {
                throw Error(DtbError.InvalidPhandle, valueAt, $"{node.Path}: expected a 4-byte {name}, found {value.Length} bytes");
            }

            var ph = BinaryPrimitives.ReadUInt32BigEndian(value);
            if (ph is 0 or uint.MaxValue)
            {
                throw Error(DtbError.InvalidPhandle, valueAt, $"{node.Path}: expected a {name} other than 0 and 0xffffffff (they never name a node), found 0x{ph:x}: it is reserved");
            }

            if (_phandles.TryGetValue(ph, out var other) && !ReferenceEquals(other, node))
            {
                throw Error(DtbError.DuplicatePhandle, valueAt, $"{node.Path}: expected a unique phandle, found phandle 0x{ph:x}, which is already used by {other.Path}");
            }

            if (!frame.HasPhandle)
            {
                frame.HasPhandle = true;
                _phandles[ph] = node;
            }
        }

        private string PropertyName(ReadOnlySpan<byte> span, uint nameOff, int fieldAt)
        {
            if (nameOff >= (uint)_stringsSize)
            {
                throw Error(DtbError.BlockOutOfBounds, fieldAt, $"expected a property name offset inside the strings block (size 0x{_stringsSize:x}), found 0x{nameOff:x}");
            }

            if (_nameCache[nameOff] is string cached)
            {
                return cached;
            }

            var start = _stringsOff + (int)nameOff;
            var rest = span[start..(_stringsOff + _stringsSize)];
            var nul = rest.IndexOf((byte)0);
            if (nul < 0)
            {
                throw Error(DtbError.UnterminatedString, start, "expected a NUL-terminated property name, reached the end of the strings block");
            }

            var name = Encoding.UTF8.GetString(rest[..nul]);
            _nameCache[nameOff] = name;
            _names[nameOff] = name;
            return name;
        }

        private static uint U32(ReadOnlySpan<byte> span, int at) => BinaryPrimitives.ReadUInt32BigEndian(span.Slice(at, 4));

        private DtbFormatException Error(DtbError kind, long offset, string message) => new(source, kind, offset, message);
    }
}
