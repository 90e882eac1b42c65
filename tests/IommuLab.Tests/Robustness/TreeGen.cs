using System.Text;
using CsCheck;
using IommuLab.Firmware.DeviceTree;

namespace IommuLab.Tests.Robustness;

/// <summary>CsCheck generators of device trees that both dtc and the DTB format can express.</summary>
internal static class TreeGen
{
    /// <summary>A node before it is built: properties (name, value) and children.</summary>
    public sealed record NodeSpec(IReadOnlyList<(string Name, byte[] Value)> Properties, IReadOnlyList<NodeSpec> Children, bool WithPhandle)
    {
        public override string ToString() => $"{Properties.Count} properties, {Children.Count} children";
    }

    private const string NameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,._+-";

    private static readonly Gen<string> Word =
        Gen.Char[NameChars].Array[1, 12].Select(c => new string(c));

    /// <summary>Strings start with a letter: dtc reads a NUL followed by a digit back as one octal escape.</summary>
    private static readonly Gen<byte[]> StringList =
        Gen.Select(Gen.Char['a', 'z'], Gen.Char["abcdefghijklmnopqrstuvwxyz0123456789 -_,./"].Array[0, 10]).Array[1, 4]
            .Select(parts => Encoding.ASCII.GetBytes(string.Concat(parts.Select(p => p.Item1 + new string(p.Item2) + "\0"))));

    private static readonly Gen<byte[]> Cells = Gen.UInt.Array[1, 8].Select(cells =>
    {
        var bytes = new byte[cells.Length * 4];
        for (var i = 0; i < cells.Length; i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(i * 4), cells[i]);
        }

        // Cells that look like strings are printed as strings, so the octal quirk applies to them too.
        return NoOctalQuirk(bytes);
    });

    private static readonly Gen<byte[]> Value = Gen.Frequency(
        (1, Gen.Const(Array.Empty<byte>())),
        (3, StringList),
        (4, Cells),
        (3, Gen.Byte.Array[1, 24].Select(NoOctalQuirk)));

    private static readonly Gen<(string, byte[])[]> Properties =
        Gen.Select(Word, Value).Array[0, 6].Select(ps => ps.Select((p, i) => ($"{p.Item1}-p{i}", p.Item2)).ToArray());

    /// <summary>A tree of at most <paramref name="depth"/> levels below the root.</summary>
    public static Gen<NodeSpec> Node(int depth) =>
        Gen.Select(Properties, depth == 0 ? Gen.Const(Array.Empty<NodeSpec>()) : Node(depth - 1).Array[0, 4], Gen.Int[0, 3],
            (props, kids, p) => new NodeSpec(props, kids, p == 0));

    public static readonly Gen<Firmware.DeviceTree.DeviceTree> Tree =
        Gen.Select(Node(4), Gen.Select(Gen.ULong, Gen.ULong).Where(r => r.Item1 != 0 || r.Item2 != 0).Array[0, 3], Gen.UInt)
            .Select((root, reservations, bootCpu) =>
            {
                var next = 1u;
                var tree = new Firmware.DeviceTree.DeviceTree(Build(root, string.Empty, ref next), "generated") { BootCpuId = bootCpu };
                tree.MemoryReservations.AddRange(reservations.Select(r => new MemoryReservation(r.Item1, r.Item2)));
                return tree;
            });

    private static DtNode Build(NodeSpec spec, string name, ref uint nextPhandle)
    {
        var node = new DtNode(name);
        foreach (var (propName, value) in spec.Properties)
        {
            node.SetProperty(new DtProperty(propName, value));
        }

        if (spec.WithPhandle)
        {
            var ph = new byte[4];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(ph, nextPhandle++);
            node.SetProperty(new DtProperty("phandle", ph));
        }

        for (var i = 0; i < spec.Children.Count; i++)
        {
            node.AddChild(Build(spec.Children[i], $"n{i}@{i:x}", ref nextPhandle));
        }

        return node;
    }

    /// <summary>A NUL followed by an octal digit reads back differently through dtc's string syntax.</summary>
    private static byte[] NoOctalQuirk(byte[] value)
    {
        for (var i = 1; i < value.Length; i++)
        {
            if (value[i - 1] == 0 && value[i] is >= (byte)'0' and <= (byte)'9')
            {
                value[i] = (byte)'x';
            }
        }

        return value;
    }
}
