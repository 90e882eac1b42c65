using CsCheck;
using IommuLab.Firmware;
using IommuLab.Firmware.Acpi;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.DeviceTree.Dts;
using IommuLab.Fuzz;
using IommuLab.Tests.Support;

namespace IommuLab.Tests.Robustness;

/// <summary>
/// Properties over generated inputs: the writers and readers agree with each other and with dtc, and damaged
/// blobs give a result or a typed error (the fuzz targets' own check), never another exception.
/// </summary>
public sealed class PropertyTests
{
    private static readonly string Work = Directory.CreateTempSubdirectory("iommulab-properties").FullName;

    [Fact]
    public void Generated_trees_written_as_dtb_read_back_equal()
    {
        TreeGen.Tree.Sample(tree =>
        {
            var back = DtbReader.Read(DtbWriter.Write(tree), "written");
            Assert.Null(DeviceTreeComparer.FirstDifference(tree, back, compareHeader: true));
        }, iter: 2000);
    }

    [Fact]
    public void Generated_trees_printed_as_dts_compile_to_the_same_tree_with_dtc_and_with_us()
    {
        var dir = Directory.CreateTempSubdirectory("iommulab-dts-property").FullName;
        var n = 0;
        TreeGen.Tree.Sample(tree =>
        {
            var text = DtsWriter.Write(tree);
            // DTS has no boot CPU field (dtc takes it from -b), so only the tree and reservations are compared.
            var ours = DtsParser.Parse(text, "printed.dts");
            Assert.Null(DeviceTreeComparer.FirstDifference(tree, ours));
            var path = Path.Combine(dir, $"t{Interlocked.Increment(ref n)}.dts");
            File.WriteAllText(path, text);
            var dtcs = DtbReader.Read(Tools.Dtc("-q", "-I", "dts", "-O", "dtb", path), "dtc");
            Assert.Null(DeviceTreeComparer.FirstDifference(tree, dtcs));
        }, iter: 150, threads: 1);
    }

    [Fact]
    public void Generated_dts_sources_with_labels_references_expressions_and_amendments_compile_to_the_same_tree_with_dtc_and_with_us()
    {
        var dir = Directory.CreateTempSubdirectory("iommulab-dts-source").FullName;
        Gen.Int.Sample(seed =>
        {
            var text = DtsSourceGen.Generate(seed);
            var path = Path.Combine(dir, $"s{seed}.dts");
            File.WriteAllText(path, text);
            var dtcs = DtbReader.Read(Tools.Dtc("-q", "-I", "dts", "-O", "dtb", path), "dtc");
            var ours = DtsParser.ParseFile(path);
            Assert.True(DeviceTreeComparer.FirstDifference(dtcs, ours) is null,
                $"seed {seed}: {DeviceTreeComparer.FirstDifference(dtcs, ours)}\n{text}");
        }, iter: 300, threads: 1);
    }

    [Fact]
    public void Mutated_dtbs_under_tight_limits_give_a_tree_or_a_typed_error_and_limit_errors_say_which_limit()
    {
        var limits = new FirmwareLimits { MaxDepth = 3, MaxNodes = 8, MaxPropertySize = 16, MaxMappings = 1 };
        Gen.Select(TreeGen.Tree, TreeGen.Tree, Mutation.Some).Sample((a, b, mutations) =>
        {
            var blob = Mutation.ApplyAll(mutations, DtbWriter.Write(a), DtbWriter.Write(b));
            try
            {
                DeviceTreeLoader.Load(blob, "tight.dtb", limits);
            }
            catch (FirmwareFormatException e) when (e.Limit is null || e.Detail.Contains($"raise the limit with {FirmwareLimits.Switch(e.Limit.Value)}", StringComparison.Ordinal))
            {
            }
        }, iter: 3000);
    }

    [Fact]
    public void Mutated_dtbs_give_a_tree_or_a_typed_error()
    {
        Gen.Select(TreeGen.Tree, TreeGen.Tree, Mutation.Some).Sample((a, b, mutations) =>
        {
            var blob = Mutation.ApplyAll(mutations, DtbWriter.Write(a), DtbWriter.Write(b));
            FuzzTargets.Run("dtb", blob, Work);
        }, iter: 3000);
    }

    [Fact]
    public void Mutated_dts_text_gives_a_tree_or_a_typed_error()
    {
        Gen.Select(TreeGen.Tree, TreeGen.Tree, Mutation.Some).Sample((a, b, mutations) =>
        {
            var text = Mutation.ApplyAll(mutations, System.Text.Encoding.UTF8.GetBytes(DtsWriter.Write(a)),
                System.Text.Encoding.UTF8.GetBytes(DtsWriter.Write(b)));
            FuzzTargets.Run("dts", text, Work);
        }, iter: 1500);
    }

    [Fact]
    public void Generated_iort_and_viot_tables_load_and_resolve()
    {
        Gen.OneOf(AcpiGen.Iort, AcpiGen.Viot).Sample(table =>
        {
            var loaded = AcpiTable.Load(table, "generated");
            Assert.Equal(table.Length, (int)loaded.Header.Length);
            Assert.True(FuzzTargets.Run("acpi", table, Work));
        }, iter: 1500);
    }

    [Fact]
    public void Mutated_iort_and_viot_tables_give_a_table_or_a_typed_error()
    {
        Gen.Select(Gen.OneOf(AcpiGen.Iort, AcpiGen.Viot), AcpiGen.Iort, Mutation.Some).Sample((table, donor, mutations) =>
        {
            var bytes = Mutation.ApplyAll(mutations, table, donor);
            try
            {
                FuzzTargets.Run("acpi", bytes, Work);
            }
            catch (Exception e) when (e is not FirmwareFormatException)
            {
                throw new InvalidOperationException($"{e.GetType().Name} for {Convert.ToHexString(bytes)}", e);
            }
        }, iter: 5000);
    }

    [Fact]
    [Trait("Category", "Corpus")]
    public void Mutated_corpus_tables_and_qemu_dtbs_give_a_result_or_a_typed_error()
    {
        var tables = new[] { "qemu", "laptops", "malformed" }.SelectMany(s => Corpus.IortFiles(s, "*.dat"))
            .Where(f => f.Contains("IORT", StringComparison.Ordinal) || f.Contains("VIOT", StringComparison.Ordinal) || f.EndsWith(".iort.dat", StringComparison.Ordinal))
            .Select(File.ReadAllBytes).ToArray();
        var dtbs = Corpus.QemuDtbs.Select(File.ReadAllBytes).ToArray();
        Assert.True(tables.Length >= 30, $"{tables.Length} tables");
        Assert.Equal(3, dtbs.Length);
        Gen.Select(Gen.Int[0, tables.Length - 1], Gen.Int[0, tables.Length - 1], Mutation.Some)
            .Sample((i, j, m) => { FuzzTargets.Run("acpi", Mutation.ApplyAll(m, tables[i], tables[j]), Work); }, iter: 5000);
        Gen.Select(Gen.Int[0, dtbs.Length - 1], Gen.Int[0, dtbs.Length - 1], Mutation.Some)
            .Sample((i, j, m) => { FuzzTargets.Run("dtb", Mutation.ApplyAll(m, dtbs[i], dtbs[j]), Work); }, iter: 1500);
    }
}
