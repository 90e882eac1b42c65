using System.Buffers.Binary;
using CsCheck;

namespace IommuLab.Tests.Robustness;

/// <summary>Damage as it happens in transit or on a broken board: bit flips, truncations, splices, overwritten words.</summary>
internal sealed record Mutation(int Kind, int Position, int Other, uint Word)
{
    private static readonly uint[] Interesting = [0, 1, 4, 0x10, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff, 0xd00d_feed];

    public static readonly Gen<Mutation> Gen =
        CsCheck.Gen.Select(CsCheck.Gen.Int[0, 5], CsCheck.Gen.Int[0, int.MaxValue], CsCheck.Gen.Int[0, int.MaxValue], CsCheck.Gen.UInt)
            .Select((k, p, o, w) => new Mutation(k, p, o, w));

    /// <summary>One to four mutations applied in turn.</summary>
    public static readonly Gen<Mutation[]> Some = Gen.Array[1, 4];

    public byte[] Apply(byte[] input, byte[] donor)
    {
        if (input.Length == 0)
        {
            return donor.Length == 0 ? [] : donor[..(Position % donor.Length)];
        }

        var at = Position % input.Length;
        var bytes = (byte[])input.Clone();
        switch (Kind)
        {
            case 0: // one bit
                bytes[at] ^= (byte)(1 << (Other % 8));
                return bytes;
            case 1: // cut short
                return bytes[..at];
            case 2: // the head of one blob, the tail of another
                return donor.Length == 0 ? bytes : [.. bytes[..at], .. donor[(Other % donor.Length)..]];
            case 3: // a word set to an edge value, big- or little-endian
                if (at + 4 <= bytes.Length)
                {
                    var word = Interesting[Other % Interesting.Length];
                    if (Word % 2 == 0)
                    {
                        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(at), word);
                    }
                    else
                    {
                        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at), word);
                    }
                }

                return bytes;
            case 4: // a random word
                if (at + 4 <= bytes.Length)
                {
                    BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(at), Word);
                }

                return bytes;
            default: // a run of bytes removed (shifts everything after it)
                return [.. bytes[..at], .. bytes[Math.Min(bytes.Length, at + 1 + (Other % 16))..]];
        }
    }

    public static byte[] ApplyAll(IEnumerable<Mutation> mutations, byte[] input, byte[] donor) =>
        mutations.Aggregate(input, (current, m) => m.Apply(current, donor));
}
