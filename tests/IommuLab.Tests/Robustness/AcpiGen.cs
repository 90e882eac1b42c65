using CsCheck;
using IommuLab.Tests.Acpi;

namespace IommuLab.Tests.Robustness;

/// <summary>CsCheck generators of well-formed IORT and VIOT tables, built with the ACPI tests' builders.</summary>
internal static class AcpiGen
{
    private static Gen<Map[]> MapsTo(int firstTarget, int targets) =>
        Gen.Select(Gen.UInt[0, 0x1_0000], Gen.UInt[0, 0xffff], Gen.UInt[0, 0x1_0000], Gen.Int[0, targets - 1], Gen.Int[0, 7])
            .Select((input, count, output, target, single) => new Map(input, count, output, firstTarget + target, single == 0 ? 1u : 0u))
            .Array[0, 3];

    /// <summary>ITS groups, then SMMUs (v1/v2 or v3) mapping to them, then root complexes and named components
    /// mapping to the SMMUs or straight to an ITS group.</summary>
    public static readonly Gen<byte[]> Iort =
        Gen.Int[1, 2].SelectMany(itsCount => Gen.Int[0, 3].SelectMany(smmuCount =>
            Gen.Select(
                Gen.UInt.Array[0, 3].Array[itsCount],
                Gen.Select(Gen.Bool, Gen.ULong, MapsTo(0, itsCount)).Array[smmuCount],
                Gen.Select(Gen.Bool, Gen.UInt[0, 3], Gen.Char['A', 'Z'].Array[1, 8], MapsTo(itsCount, Math.Max(1, smmuCount)), MapsTo(0, itsCount)).Array[0, 5],
                Gen.Byte[0, 7])
            .Select((its, smmus, clients, revision) =>
            {
                var b = new IortBuilder(revision);
                foreach (var ids in its)
                {
                    b.Add(0, 0, IortBuilder.Its(ids));
                }

                foreach (var (v3, address, maps) in smmus)
                {
                    if (v3)
                    {
                        b.Add(4, 3, IortBuilder.SmmuV3(address), maps);
                    }
                    else
                    {
                        b.Add(3, 0, IortBuilder.Smmu(address, 1), maps);
                    }
                }

                foreach (var (rc, segment, name, toSmmu, toIts) in clients)
                {
                    var maps = smmuCount > 0 ? toSmmu : toIts;
                    if (rc)
                    {
                        b.Add(2, 1, IortBuilder.RootComplex(segment), maps);
                    }
                    else
                    {
                        b.Add(1, 4, IortBuilder.NamedComponent("\\_SB." + new string(name)), maps);
                    }
                }

                return b.Build();
            })));

    /// <summary>Virtio-iommu nodes first, then PCI ranges and MMIO endpoints behind them.</summary>
    public static readonly Gen<byte[]> Viot =
        Gen.Select(
            Gen.Select(Gen.Bool, Gen.UShort, Gen.ULong).Array[1, 3],
            Gen.Select(Gen.Bool, Gen.UShort, Gen.UShort, Gen.ULong, Gen.Int[0, 2]).Array[0, 5])
        .Select((iommus, endpoints) =>
        {
            var b = new ViotBuilder();
            foreach (var (pci, bdf, address) in iommus)
            {
                if (pci)
                {
                    b.VirtioPci(0, bdf);
                }
                else
                {
                    b.VirtioMmio(address);
                }
            }

            foreach (var (pci, start, length, address, iommu) in endpoints)
            {
                var target = iommu % iommus.Length;
                if (pci)
                {
                    b.PciRange(start, 0, 0, start, (ushort)Math.Min(ushort.MaxValue, start + (length % 256)), target);
                }
                else
                {
                    b.Mmio(start, address, target);
                }
            }

            return b.Build();
        });
}
