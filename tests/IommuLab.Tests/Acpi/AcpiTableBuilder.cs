using System.Buffers.Binary;
using System.Text;

namespace IommuLab.Tests.Acpi;

/// <summary>One ID mapping for <see cref="IortBuilder"/>: the output goes to node number <c>Target</c> (an index
/// into the builder's nodes) or, when <c>RawReference</c> is set, to that raw table offset.</summary>
internal sealed record Map(uint InputBase, uint IdCount, uint OutputBase, int Target, uint Flags = 0, uint? RawReference = null)
{
    public static Map Single(uint outputBase, int target) => new(0, 0, outputBase, target, 1);
}

/// <summary>
/// Builds IORT tables byte by byte for tests: nodes are (type, revision, type-specific body, mappings); the
/// builder lays them out after the 48-byte table header, fills in lengths, mapping offsets, output references
/// and the checksum.
/// </summary>
internal sealed class IortBuilder(byte revision = 3)
{
    private readonly List<(byte Type, byte Revision, byte[] Body, Map[] Maps)> _nodes = [];

    public int Add(byte type, byte nodeRevision, byte[] body, params Map[] maps)
    {
        _nodes.Add((type, nodeRevision, body, maps));
        return _nodes.Count - 1;
    }

    /// <summary>The table offset node <paramref name="index"/> will have.</summary>
    public uint OffsetOf(int index) => (uint)(48 + _nodes.Take(index).Sum(n => 16 + n.Body.Length + (20 * n.Maps.Length)));

    public byte[] Build(bool goodChecksum = true)
    {
        var w = new ByteWriter();
        w.Bytes("IORT"u8).U32(0).U8(revision).U8(0).Ascii("IOMLAB", 6).Ascii("TESTIORT", 8).U32(1).Ascii("IMLB", 4).U32(1);
        w.U32((uint)_nodes.Count).U32(48).U32(0);
        foreach (var (type, rev, body, maps) in _nodes)
        {
            var length = 16 + body.Length + (20 * maps.Length);
            w.U8(type).U16((ushort)length).U8(rev).U32(0).U32((uint)maps.Length).U32(maps.Length == 0 ? 0u : (uint)(16 + body.Length));
            w.Bytes(body);
            foreach (var m in maps)
            {
                w.U32(m.InputBase).U32(m.IdCount).U32(m.OutputBase).U32(m.RawReference ?? OffsetOf(m.Target)).U32(m.Flags);
            }
        }

        return w.Finish(goodChecksum);
    }

    public static byte[] Its(params uint[] ids)
    {
        var w = new ByteWriter().U32((uint)ids.Length);
        foreach (var id in ids)
        {
            w.U32(id);
        }

        return w.Raw();
    }

    public static byte[] NamedComponent(string name, byte memoryLimit = 48, uint flags = 0)
    {
        var w = new ByteWriter().U32(flags).U32(1).U8(0).U16(0).U8(3).U8(memoryLimit).Ascii(name, name.Length).U8(0);
        return w.Raw();
    }

    public static byte[] RootComplex(uint segment, uint ats = 0, byte memoryLimit = 48) =>
        new ByteWriter().U32(1).U8(0).U16(0).U8(3).U32(ats).U32(segment).U8(memoryLimit).U8(0).U16(0).Raw();

    public static byte[] Smmu(ulong baseAddress, uint model, params uint[] contextGsivs)
    {
        var w = new ByteWriter().U64(baseAddress).U64(0x10000).U32(model).U32(2)
            .U32(60).U32((uint)contextGsivs.Length).U32(76).U32(0).U32(76 + (8 * (uint)contextGsivs.Length));
        w.U32(100).U32(0).U32(101).U32(0);
        foreach (var g in contextGsivs)
        {
            w.U32(g).U32(1);
        }

        return w.Raw();
    }

    public static byte[] SmmuV3(ulong baseAddress, uint model = 0, uint flags = 0, uint deviceIdIndex = 0, uint gsiv = 0) =>
        new ByteWriter().U64(baseAddress).U32(flags).U32(0).U64(0).U32(model)
            .U32(gsiv).U32(gsiv).U32(gsiv).U32(gsiv).U32(0).U32(deviceIdIndex).Raw();

    public static byte[] Pmcg(ulong page0, uint overflowGsiv, uint nodeReference, ulong page1) =>
        new ByteWriter().U64(page0).U32(overflowGsiv).U32(nodeReference).U64(page1).Raw();

    public static byte[] Rmr(uint flags, params (ulong Base, ulong Length)[] ranges)
    {
        var w = new ByteWriter().U32(flags).U32((uint)ranges.Length).U32(28);
        foreach (var (b, l) in ranges)
        {
            w.U64(b).U64(l).U32(0);
        }

        return w.Raw();
    }

    public static byte[] Iwb(ulong baseAddress, ushort index, string name) =>
        new ByteWriter().U64(baseAddress).U16(index).Ascii(name, name.Length).U8(0).Raw();
}

/// <summary>Builds VIOT tables: nodes are raw bodies after a 4-byte node header the builder writes.</summary>
/// <remarks>Endpoints reference IOMMU nodes by index, so tests add the IOMMU nodes first.</remarks>
internal sealed class ViotBuilder
{
    private readonly List<(byte Type, byte[] Body)> _nodes = [];

    public int Add(byte type, byte[] body)
    {
        _nodes.Add((type, body));
        return _nodes.Count - 1;
    }

    public ushort OffsetOf(int index) => (ushort)(48 + _nodes.Take(index).Sum(n => 4 + n.Body.Length));

    public int PciRange(uint endpointStart, ushort segStart, ushort segEnd, ushort bdfStart, ushort bdfEnd, int iommu) =>
        Add(1, new ByteWriter().U32(endpointStart).U16(segStart).U16(segEnd).U16(bdfStart).U16(bdfEnd).U16(OffsetOf(iommu)).Zero(6).Raw());

    public int Mmio(uint endpoint, ulong address, int iommu) =>
        Add(2, new ByteWriter().U32(endpoint).U64(address).U16(OffsetOf(iommu)).Zero(6).Raw());

    public int VirtioPci(ushort segment, ushort bdf) => Add(3, new ByteWriter().U16(segment).U16(bdf).Zero(8).Raw());

    public int VirtioMmio(ulong address) => Add(4, new ByteWriter().Zero(4).U64(address).Raw());

    public byte[] Build()
    {
        var w = new ByteWriter();
        w.Bytes("VIOT"u8).U32(0).U8(0).U8(0).Ascii("IOMLAB", 6).Ascii("TESTVIOT", 8).U32(1).Ascii("IMLB", 4).U32(1);
        w.U16((ushort)_nodes.Count).U16(48).Zero(8);
        foreach (var (type, body) in _nodes)
        {
            w.U8(type).U8(0).U16((ushort)(4 + body.Length)).Bytes(body);
        }

        return w.Finish(goodChecksum: true);
    }
}

/// <summary>Little-endian byte writer.</summary>
internal sealed class ByteWriter
{
    private readonly List<byte> _bytes = [];

    public ByteWriter U8(byte v)
    {
        _bytes.Add(v);
        return this;
    }

    public ByteWriter U16(ushort v)
    {
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, v);
        return Bytes(b);
    }

    public ByteWriter U32(uint v)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        return Bytes(b);
    }

    public ByteWriter U64(ulong v)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, v);
        return Bytes(b);
    }

    public ByteWriter Zero(int n) => Bytes(new byte[n]);

    public ByteWriter Ascii(string s, int width) => Bytes(Encoding.ASCII.GetBytes(s.PadRight(width)[..width]));

    public ByteWriter Bytes(ReadOnlySpan<byte> b)
    {
        foreach (var x in b)
        {
            _bytes.Add(x);
        }

        return this;
    }

    public byte[] Raw() => [.. _bytes];

    /// <summary>Sets the ACPI length field and the checksum (deliberately off by one when asked).</summary>
    public byte[] Finish(bool goodChecksum)
    {
        var t = Raw();
        BinaryPrimitives.WriteUInt32LittleEndian(t.AsSpan(4), (uint)t.Length);
        t[9] = 0;
        byte sum = 0;
        foreach (var b in t)
        {
            sum = unchecked((byte)(sum + b));
        }

        t[9] = unchecked((byte)(-sum + (goodChecksum ? 0 : 1)));
        return t;
    }
}
