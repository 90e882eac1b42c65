using System.Buffers;
using System.Text;

namespace IommuLab.Firmware.DeviceTree.Dts;

/// <summary>
/// Writes a device tree as DTS text, byte for byte as dtc 1.6.1 decompiles a DTB (<c>dtc -I dtb -O dts</c>).
/// </summary>
/// <remarks>
/// <para>A DTB keeps no value types, so each value's form is guessed as dtc guesses it (<see cref="GuessKind"/>).
/// Labels that a DTS source put on nodes, properties and reservations are printed where <c>dtc -I dts -O dts</c>
/// prints them; the model keeps no source value types (string lists, <c>/bits/</c>, phandle references), so those
/// values come out in their guessed form, which compiles back to the same bytes.</para>
/// <para>The text is produced as UTF-8 (ASCII apart from non-ASCII names) one line at a time into a buffer, so
/// decompiling a whole corpus allocates nothing per value; <see cref="Write(DeviceTree, IBufferWriter{byte})"/>
/// is the fast path, the other overloads wrap it.</para>
/// </remarks>
public static partial class DtsWriter
{
    private const int ChunkSize = 64 * 1024;

    /// <summary>The whole DTS text.</summary>
    public static string Write(DeviceTree tree)
    {
        ArgumentNullException.ThrowIfNull(tree);
        var buffer = new ArrayBufferWriter<byte>(ChunkSize);
        Emit(tree, buffer);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Streams the DTS text to <paramref name="writer"/> in chunks (no whole-text string).</summary>
    public static void Write(DeviceTree tree, TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(tree);
        ArgumentNullException.ThrowIfNull(writer);
        using var sink = new ChunkSink(writer);
        Emit(tree, sink);
    }

    /// <summary>Streams the DTS text as UTF-8 bytes to <paramref name="stream"/>.</summary>
    public static void Write(DeviceTree tree, Stream stream)
    {
        ArgumentNullException.ThrowIfNull(tree);
        ArgumentNullException.ThrowIfNull(stream);
        using var sink = new ChunkSink(stream);
        Emit(tree, sink);
    }

    /// <summary>Appends the DTS text as UTF-8 bytes to <paramref name="output"/>: the fast path.</summary>
    public static void Write(DeviceTree tree, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(tree);
        ArgumentNullException.ThrowIfNull(output);
        Emit(tree, output);
    }

    private static void Emit(DeviceTree tree, IBufferWriter<byte> output)
    {
        WriteAscii(output, tree.IsPlugin ? "/dts-v1/;\n/plugin/;\n\n"u8 : "/dts-v1/;\n\n"u8);
        foreach (var reservation in tree.MemoryReservations)
        {
            WriteReservation(output, reservation);
        }

        // Depth-first with an explicit stack: hostile input may nest deeper than the call stack allows.
        // A node's depth is the stack height while it is on top.
        var stack = new Stack<(DtNode Node, int NextChild)>();
        WriteNodeOpening(output, tree.Root, 0);
        stack.Push((tree.Root, 0));
        while (stack.Count > 0)
        {
            var (node, next) = stack.Pop();
            if (next < node.Children.Count)
            {
                stack.Push((node, next + 1));
                var child = node.Children[next];
                WriteAscii(output, "\n"u8);
                WriteNodeOpening(output, child, stack.Count);
                stack.Push((child, 0));
            }
            else
            {
                WriteNodeClosing(output, stack.Count);
            }
        }
    }

    private static void WriteReservation(IBufferWriter<byte> output, MemoryReservation reservation)
    {
        var span = output.GetSpan(LabelsBound(reservation.Labels) + 64);
        var pos = WriteLabels(span, reservation.Labels);
        "/memreserve/\t0x"u8.CopyTo(span[pos..]);
        pos += 15;
        pos += WriteHex64(span[pos..], reservation.Address);
        " 0x"u8.CopyTo(span[pos..]);
        pos += 3;
        pos += WriteHex64(span[pos..], reservation.Size);
        ";\n"u8.CopyTo(span[pos..]);
        output.Advance(pos + 2);
    }

    private static void WriteNodeOpening(IBufferWriter<byte> output, DtNode node, int depth)
    {
        var span = output.GetSpan(depth + LabelsBound(node.Labels) + Encoding.UTF8.GetMaxByteCount(node.Name.Length) + 4);
        span[..depth].Fill((byte)'\t');
        var pos = depth;
        pos += WriteLabels(span[pos..], node.Labels);
        if (node.Name.Length == 0)
        {
            span[pos++] = (byte)'/';
        }
        else
        {
            pos += Encoding.UTF8.GetBytes(node.Name, span[pos..]);
        }

        " {\n"u8.CopyTo(span[pos..]);
        output.Advance(pos + 3);

        foreach (var property in node.Properties)
        {
            if (!IsRedundantName(node, property))
            {
                WriteProperty(output, property, depth + 1);
            }
        }
    }

    private static void WriteNodeClosing(IBufferWriter<byte> output, int depth)
    {
        var span = output.GetSpan(depth + 3);
        span[..depth].Fill((byte)'\t');
        "};\n"u8.CopyTo(span[depth..]);
        output.Advance(depth + 3);
    }

    private static void WriteProperty(IBufferWriter<byte> output, DtProperty property, int depth)
    {
        var value = property.Value.Span;
        var span = output.GetSpan(checked(depth + LabelsBound(property.Labels)
            + Encoding.UTF8.GetMaxByteCount(property.Name.Length) + ValueBound(value.Length) + 8));
        span[..depth].Fill((byte)'\t');
        var pos = depth;
        pos += WriteLabels(span[pos..], property.Labels);
        pos += Encoding.UTF8.GetBytes(property.Name, span[pos..]);
        if (value.Length != 0)
        {
            " = "u8.CopyTo(span[pos..]);
            pos += 3;
            pos += WriteValue(span[pos..], value);
        }

        ";\n"u8.CopyTo(span[pos..]);
        output.Advance(pos + 2);
    }

    /// <summary>
    /// dtc deletes a "name" property that only repeats the node's base name (a check that runs on every input,
    /// DTB or DTS), so such a property never reaches its output.
    /// </summary>
    private static bool IsRedundantName(DtNode node, DtProperty property)
    {
        if (property.Name != "name")
        {
            return false;
        }

        var value = property.Value.Span;
        var baseName = node.BaseName;
        if (value.Length == 0 || value[^1] != 0 || value.Length - 1 != Encoding.UTF8.GetByteCount(baseName))
        {
            return false;
        }

        Span<byte> encoded = value.Length <= 256 ? stackalloc byte[value.Length - 1] : new byte[value.Length - 1];
        Encoding.UTF8.GetBytes(baseName, encoded);
        return encoded.SequenceEqual(value[..^1]);
    }

    private static int LabelsBound(IReadOnlyList<string> labels)
    {
        var bound = 0;
        foreach (var label in labels)
        {
            bound = checked(bound + Encoding.UTF8.GetMaxByteCount(label.Length) + 2);
        }

        return bound;
    }

    /// <summary>"a: b: ", the form dtc prints before a labelled node, property or reservation.</summary>
    private static int WriteLabels(Span<byte> span, IReadOnlyList<string> labels)
    {
        var pos = 0;
        foreach (var label in labels)
        {
            pos += Encoding.UTF8.GetBytes(label, span[pos..]);
            span[pos++] = (byte)':';
            span[pos++] = (byte)' ';
        }

        return pos;
    }

    private static void WriteAscii(IBufferWriter<byte> output, ReadOnlySpan<byte> text)
    {
        text.CopyTo(output.GetSpan(text.Length));
        output.Advance(text.Length);
    }

    /// <summary>
    /// A buffer writer that hands full chunks to a stream or text writer. Every span the emitter asks for
    /// holds whole lines, so a chunk never ends inside a UTF-8 sequence and can be decoded on its own.
    /// </summary>
    private sealed class ChunkSink : IBufferWriter<byte>, IDisposable
    {
        private readonly Stream? _stream;
        private readonly TextWriter? _writer;
        private byte[] _buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        private char[]? _chars;
        private int _used;

        public ChunkSink(Stream stream) => _stream = stream;

        public ChunkSink(TextWriter writer) => _writer = writer;

        public void Advance(int count) => _used = checked(_used + count);

        public Memory<byte> GetMemory(int sizeHint = 0)
        {
            Reserve(sizeHint);
            return _buffer.AsMemory(_used);
        }

        public Span<byte> GetSpan(int sizeHint = 0)
        {
            Reserve(sizeHint);
            return _buffer.AsSpan(_used);
        }

        public void Dispose()
        {
            Flush();
            ArrayPool<byte>.Shared.Return(_buffer);
            if (_chars is not null)
            {
                ArrayPool<char>.Shared.Return(_chars);
            }
        }

        private void Reserve(int sizeHint)
        {
            var needed = Math.Max(sizeHint, 1);
            if (_buffer.Length - _used >= needed)
            {
                return;
            }

            Flush();
            if (_buffer.Length < needed)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = ArrayPool<byte>.Shared.Rent(needed);
            }
        }

        private void Flush()
        {
            if (_used == 0)
            {
                return;
            }

            var bytes = _buffer.AsSpan(0, _used);
            if (_stream is not null)
            {
                _stream.Write(bytes);
            }
            else if (_writer is not null)
            {
                var max = Encoding.UTF8.GetMaxCharCount(bytes.Length);
                if (_chars is null || _chars.Length < max)
                {
                    if (_chars is not null)
                    {
                        ArrayPool<char>.Shared.Return(_chars);
                    }

                    _chars = ArrayPool<char>.Shared.Rent(max);
                }

                var n = Encoding.UTF8.GetChars(bytes, _chars);
                _writer.Write(_chars.AsSpan(0, n));
            }

            _used = 0;
        }
    }
}
