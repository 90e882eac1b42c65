using System.Buffers.Binary;
using IommuLab.Firmware.Acpi;
using IommuLab.Firmware.Acpi.Iort;
using IommuLab.Firmware.Acpi.Viot;
using IommuLab.Tests.Support;
using Xunit.Abstractions;

namespace IommuLab.Tests.Acpi;

/// <summary>
/// Every single-byte corruption and every truncation of valid tables gives a table or an
/// <see cref="AcpiFormatException"/>, never another exception; and every table that loads can be walked.
/// </summary>
public sealed class AcpiHostileInputTests(ITestOutputHelper output)
{
    private static readonly byte[] Replacements = [0x00, 0x01, 0x7f, 0x80, 0xff];

    /// <summary>Loads, then exercises every resolver; returns the error kind, or null for a table.</summary>
    private static AcpiTableError? LoadAndWalk(byte[] bytes)
    {
        AcpiTable table;
        try
        {
            table = AcpiTable.Load(bytes, "sweep");
        }
        catch (AcpiFormatException e)
        {
            Assert.StartsWith($"sweep: offset 0x{e.Offset:x}: expected ", e.Message);
            Assert.InRange(e.Offset, 0, Math.Max(bytes.Length, 0x30));
            return e.Kind;
        }

        if (table is IortTable iort)
        {
            foreach (var node in iort.Nodes)
            {
                foreach (var id in new uint[] { 0, 0x10, 0xff, 0x100, 0xffff_ffff })
                {
                    iort.MapId(node, id, IortTargets.Iommu);
                    iort.MapId(node, id, IortTargets.Msi);
                }

                if (node is IortNamedComponent nc)
                {
                    iort.ResolveNamedComponent(nc.ObjectName);
                }
            }

            foreach (var rc in iort.RootComplexes)
            {
                iort.ResolvePci(rc.PciSegment, 0x10);
            }
        }
        else if (table is ViotTable viot)
        {
            for (ushort bdf = 0; bdf < 0x40; bdf++)
            {
                viot.ResolvePci(0, bdf);
            }

            viot.ResolveMmio(0x0a00_3e00);
        }

        return null;
    }

    private void Sweep(string name, byte[] valid)
    {
        Assert.Null(LoadAndWalk(valid));
        var kinds = new Dictionary<string, int>();
        var loaded = 0;
        var corrupt = (byte[])valid.Clone();
        for (var i = 0; i < valid.Length; i++)
        {
            foreach (var v in Replacements)
            {
                if (v == valid[i])
                {
                    continue;
                }

                corrupt[i] = v;
                var kind = LoadAndWalk(corrupt);
                if (kind is null)
                {
                    loaded++;
                }
                else
                {
                    kinds[kind.Value.ToString()] = kinds.GetValueOrDefault(kind.Value.ToString()) + 1;
                }
            }

            corrupt[i] = valid[i];
        }

        for (var n = 0; n < valid.Length; n++)
        {
            Assert.NotNull(LoadAndWalk(valid[..n]));
        }

        output.WriteLine($"{name}: {valid.Length} bytes; corruptions loaded {loaded}, refused {string.Join(", ", kinds.OrderBy(k => k.Key).Select(k => $"{k.Key} {k.Value}"))}");
        Assert.True(kinds.Count >= 3, "the sweep should reach several error kinds");
    }

    [Fact]
    public void Corrupting_any_byte_or_truncating_a_hand_made_iort_gives_a_table_or_a_typed_error()
    {
        Sweep("all node types", IortReaderTests.AllTypes().Bytes);
    }

    [Fact]
    public void Corrupting_any_byte_or_truncating_a_hand_made_viot_gives_a_table_or_a_typed_error()
    {
        Sweep("viot", ViotTests.Sample().Bytes);
    }

    [Fact]
    [Trait("Category", "Corpus")]
    public void Corrupting_any_byte_or_truncating_corpus_tables_gives_a_table_or_a_typed_error()
    {
        Sweep("iasl template", File.ReadAllBytes(Corpus.IortFiles("iasl", "*.aml").Single()));
        Sweep("qemu smmuv3-dev", File.ReadAllBytes(Corpus.IortFiles("qemu", "qemu10.2-IORT.smmuv3-dev.dat").Single()));
        Sweep("qemu x86 viot", File.ReadAllBytes(Corpus.IortFiles("qemu", "qemu10.2-x86-VIOT.viot.dat").Single()));
        Sweep("acer-aspire-1", File.ReadAllBytes(Corpus.IortFiles("laptops", "acer-aspire-1.iort.dat").Single()));
    }

    [Fact]
    public void Random_bytes_after_a_valid_header_never_escape_as_another_exception()
    {
        var rng = new Random(6);
        var header = IortReaderTests.AllTypes().Bytes[..48];
        for (var i = 0; i < 3000; i++)
        {
            var bytes = new byte[48 + rng.Next(0, 400)];
            rng.NextBytes(bytes);
            header.CopyTo(bytes, 0);
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), (uint)bytes.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(36), (uint)rng.Next(0, 8));
            LoadAndWalk(bytes);
        }
    }
}
