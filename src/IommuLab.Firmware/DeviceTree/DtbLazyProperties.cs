using System.Buffers.Binary;
using System.Collections.Concurrent;

namespace IommuLab.Firmware.DeviceTree;

/// <summary>
/// A validated blob's names and bytes, shared by every node read from it, so a node's property
/// list can be built on first use instead of at read time.
/// </summary>
internal sealed class DtbSource(ReadOnlyMemory<byte> blob, Dictionary<uint, string> names)
{
    public ReadOnlyMemory<byte> Blob { get; } = blob;

    /// <summary>Property names by strings-block offset (complete after the read: only reads follow).</summary>
    public Dictionary<uint, string> Names { get; } = names;

    private readonly ConcurrentDictionary<string, uint[]> _offsets = new(StringComparer.Ordinal);

    /// <summary>
    /// The strings-block offsets whose name is <paramref name="name"/> (usually one; none when no property has that
    /// name), so that looking for a property compares offsets instead of looking each name up.
    /// </summary>
    public uint[] OffsetsOf(string name) => _offsets.GetOrAdd(name, static (n, names) =>
    {
        var found = new List<uint>(1);
        foreach (var (offset, s) in names)
        {
            if (s == n)
            {
                found.Add(offset);
            }
        }

        return [.. found];
    }, Names);
}

/// <summary>Reads a node's properties from its blob: the first FDT_PROP token and how many follow.</summary>
/// <remarks>The reader validated every token, so building the list cannot fail.</remarks>
internal static class DtbLazyProperties
{
    public static List<DtProperty> Build(DtbSource source, int firstToken, int count)
    {
        var list = new List<DtProperty>(count);
        var span = source.Blob.Span;
        var p = firstToken;
        while (list.Count < count)
        {
            var token = BinaryPrimitives.ReadUInt32BigEndian(span.Slice(p, 4));
            if (token == Fdt.Nop)
            {
                p += 4;
                continue;
            }

            var len = (int)BinaryPrimitives.ReadUInt32BigEndian(span.Slice(p + 4, 4));
            var name = source.Names[BinaryPrimitives.ReadUInt32BigEndian(span.Slice(p + 8, 4))];
            list.Add(new DtProperty(name, source.Blob.Slice(p + 12, len)) { DtbOffset = p });
            p = Fdt.Align4(p + 12 + len);
        }

        return list;
    }

    /// <summary>True when a property called <paramref name="name"/> is among these, without building anything.</summary>
    public static bool Contains(DtbSource source, int firstToken, int count, string name)
    {
        var offsets = source.OffsetsOf(name);
        if (offsets.Length == 0)
        {
            return false;
        }

        var span = source.Blob.Span;
        var p = firstToken;
        for (var seen = 0; seen < count;)
        {
            var token = BinaryPrimitives.ReadUInt32BigEndian(span.Slice(p, 4));
            if (token == Fdt.Nop)
            {
                p += 4;
                continue;
            }

            var len = (int)BinaryPrimitives.ReadUInt32BigEndian(span.Slice(p + 4, 4));
            if (Array.IndexOf(offsets, BinaryPrimitives.ReadUInt32BigEndian(span.Slice(p + 8, 4))) >= 0)
            {
                return true;
            }

            seen++;
            p = Fdt.Align4(p + 12 + len);
        }

        return false;
    }
}
