using System.Globalization;
using System.Text.RegularExpressions;
using IommuLab.Firmware.Acpi;
using IommuLab.Firmware.Acpi.Iort;
using IommuLab.Tests.Support;
using Xunit.Abstractions;

namespace IommuLab.Tests.Acpi;

/// <summary>
/// Our IORT field values against <c>iasl -d</c> (ACPICA's disassembler, a separate implementation): every node's
/// type, length, revision and mapping fields, and the type-specific fields iasl prints, matched by byte offset.
/// </summary>
[Trait("Category", "Corpus")]
public sealed partial class IaslAgreementTests(ITestOutputHelper output)
{
    /// <summary>"[0F8h 0248   1]   Type : 02" (iasl 2020) or "[0F8h 0248 001h]   Type : 02" (newer).</summary>
    [GeneratedRegex(@"^\[(?<hex>[0-9A-F]+)h \d+\s+[0-9A-Fh]+\]\s+(?<name>.+?) : (?<value>.*)$")]
    private static partial Regex FieldLine();

    private static Dictionary<int, List<(string Name, string Value)>> Disassemble(string table)
    {
        var dir = Directory.CreateTempSubdirectory("iommulab-iasl-");
        try
        {
            var copy = Path.Combine(dir.FullName, "table.dat");
            File.Copy(table, copy);
            var (code, _, stderr) = Tools.Run("iasl", ["-d", copy]);
            Assert.True(code == 0, $"iasl -d {table} failed ({code}): {stderr}");
            var fields = new Dictionary<int, List<(string, string)>>();
            foreach (var line in File.ReadLines(Path.Combine(dir.FullName, "table.dsl")))
            {
                var m = FieldLine().Match(line);
                if (m.Success)
                {
                    var at = int.Parse(m.Groups["hex"].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    (fields.TryGetValue(at, out var l) ? l : fields[at] = []).Add((m.Groups["name"].Value.Trim(), m.Groups["value"].Value.Trim()));
                }
            }

            return fields;
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>QEMU's IORTs, the iasl template and the 25 laptop tables (a fact, not a theory, so that test
    /// discovery never touches the corpus).</summary>
    [Fact]
    public void Field_values_agree_with_iasl_on_every_corpus_iort()
    {
        var files = Corpus.IortFiles("qemu", "*IORT*.dat").Concat(Corpus.IortFiles("iasl", "*.aml")).Concat(Corpus.IortFiles("laptops", "*.dat")).ToList();
        Assert.Equal(34, files.Count);
        foreach (var file in files)
        {
            Agree(Path.GetRelativePath(Path.Combine(Corpus.Root, "iort"), file));
        }
    }

    private void Agree(string relative)
    {
        var file = Path.Combine(Corpus.Root, "iort", relative);
        var t = Assert.IsType<IortTable>(AcpiTable.LoadFile(file));
        var dsl = Disassemble(file);
        var compared = 0;

        void Expect(int offset, string name, ulong value)
        {
            Assert.True(dsl.TryGetValue(offset, out var list), $"iasl printed nothing at 0x{offset:x} (expected {name})");
            var hit = list.FirstOrDefault(f => f.Name.StartsWith(name, StringComparison.Ordinal));
            Assert.True(hit.Name is not null, $"iasl has no {name} at 0x{offset:x}: {string.Join(", ", list.Select(f => f.Name))}");
            var digits = hit.Value.Split(' ')[0];
            Assert.Equal(value, ulong.Parse(digits, NumberStyles.HexNumber, CultureInfo.InvariantCulture));
            compared++;
        }

        Expect(8, "Revision", t.Header.Revision);
        Expect(9, "Checksum", t.Header.Checksum);
        Expect(36, "Node Count", (ulong)t.Nodes.Count);
        foreach (var n in t.Nodes)
        {
            Expect(n.Offset, "Type", n.Header.RawType);
            Expect(n.Offset + 1, "Length", n.Header.Length);
            Expect(n.Offset + 3, "Revision", n.Revision);
            Expect(n.Offset + 8, "Mapping Count", n.Header.MappingCount);
            Expect(n.Offset + 12, "Mapping Offset", n.Header.MappingOffset);
            foreach (var m in n.Mappings)
            {
                Expect(m.Offset, "Input base", m.InputBase);
                Expect(m.Offset + 4, "ID Count", m.IdCount);
                Expect(m.Offset + 8, "Output Base", m.OutputBase);
                Expect(m.Offset + 12, "Output Reference", m.OutputReference);
                Expect(m.Offset + 16, "Flags", m.Flags);
            }

            switch (n)
            {
                case IortItsGroup its:
                    Expect(n.Offset + 16, "ItsCount", (ulong)its.ItsIdentifiers.Count);
                    break;
                case IortNamedComponent nc:
                    Expect(n.Offset + 16, "Node Flags", nc.NodeFlags);
                    Expect(n.Offset + 28, "Memory Size Limit", nc.MemoryAddressLimit);
                    Assert.Contains(("Device Name", $"\"{nc.ObjectName}\""), dsl[n.Offset + 29]);
                    compared++;
                    break;
                case IortRootComplex rc:
                    Expect(n.Offset + 24, "ATS Attribute", rc.AtsAttribute);
                    Expect(n.Offset + 28, "PCI Segment Number", rc.PciSegment);
                    if (rc.MemoryAddressLimit is { } limit)
                    {
                        Expect(n.Offset + 32, "Memory Size Limit", limit);
                    }

                    break;
                case IortSmmu s:
                    Expect(n.Offset + 16, "Base Address", s.BaseAddress);
                    Expect(n.Offset + 24, "Span", s.Span);
                    Expect(n.Offset + 32, "Model", s.Model);
                    Expect(n.Offset + 36, "Flags", s.Flags);
                    Expect(n.Offset + 44, "Context Interrupt Count", (ulong)s.ContextInterrupts.Count);
                    break;
                case IortSmmuV3 s:
                    Expect(n.Offset + 16, "Base Address", s.BaseAddress);
                    Expect(n.Offset + 24, "Flags", s.Flags);
                    Expect(n.Offset + 40, "Model", s.Model);
                    if (s.DeviceIdMappingIndex is { } index)
                    {
                        Expect(n.Offset + 64, "Device ID Mapping Index", index);
                    }

                    break;
                case IortPmcg p:
                    Expect(n.Offset + 24, "Overflow Interrupt GSIV", p.OverflowGsiv);
                    Expect(n.Offset + 28, "Node Reference", p.NodeReference);
                    break;
            }
        }

        output.WriteLine($"{relative}: {t.Nodes.Count} nodes, {compared} fields equal to iasl's");
    }
}
