using System.Text;
using System.Text.RegularExpressions;
using IommuLab.Cli;
using IommuLab.Firmware;
using IommuLab.Firmware.Acpi;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Tests.Acpi;

namespace IommuLab.Tests.Robustness;

/// <summary>
/// The README's error style, end to end: every regression input and every malformed input, given to every command
/// that reads firmware, gives exit 2 (lint: exit 1 and a firmware-malformed finding), nothing on stdout, and one
/// line "FILE: WHERE: expected ..., found ..." (plus the source line and a caret for DTS), never a stack trace.
/// </summary>
public sealed class CliErrorTests
{
    private static readonly string[][] DeviceTreeCommands =
    [
        ["topology"], ["topology", "--format", "json"], ["dump"], ["run", "--schedule", "WORK"],
        ["check", "--profile", "K616", "--budget", "10", "--format", "json"],
    ];

    private static readonly string[][] AcpiCommands = [["topology"], ["run"]];

    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = CliApp.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>The style guide as a pattern: optional "iommulab CMD: ", the file, where, then what.</summary>
    internal static void AssertCleanError(string err, string file)
    {
        var lines = err.TrimEnd('\n').Split('\n');
        Assert.Matches(
            $@"^(iommulab \w+: )?{Regex.Escape(file)}(:\d+:\d+|: offset 0x[0-9a-f]+|: /\S*|: file|: name|: --format): \S.*$",
            lines[0]);
        Assert.True(lines.Length is 1 or 3, $"expected one line (three with a DTS excerpt), found {lines.Length}:\n{err}");
        Assert.All(lines.Skip(1), l => Assert.StartsWith("    ", l));
        Assert.DoesNotContain("Exception", err);
        Assert.DoesNotMatch(@"(?m)^\s+at \S+\(", err);
    }

    /// <summary>Runs every command on <paramref name="file"/>: each refuses it cleanly.</summary>
    internal static void AssertEveryCommandRefuses(string file, bool acpi)
    {
        foreach (var command in acpi ? AcpiCommands : DeviceTreeCommands)
        {
            string[] args = [command[0], file, .. command[1..]];
            var (code, output, err) = Cli(args);
            Assert.True(code == CliApp.ExitBadInput, $"iommulab {string.Join(' ', args)} exited {code}: {err}");
            Assert.Equal(string.Empty, output);
            AssertCleanError(err, file);
        }

        var (lintCode, lintOut, lintErr) = Cli("lint", file, "--format", "json");
        Assert.Equal((1, string.Empty), (lintCode, lintErr));
        Assert.Contains("\"ruleId\": \"firmware-malformed\"", lintOut);
    }

    /// <summary>True when the library refuses the file (then the CLI must too); an accepted file must not give exit 2.</summary>
    private static bool Malformed(string file, bool acpi)
    {
        try
        {
            if (acpi)
            {
                AcpiTable.LoadFile(file);
            }
            else
            {
                CliApp.LoadDeviceTree(file);
            }

            return false;
        }
        catch (FirmwareFormatException)
        {
            return true;
        }
    }

    [Fact]
    public void Every_regression_input_is_either_accepted_or_refused_with_a_clean_error_by_every_command()
    {
        var files = Directory.GetFiles(Regressions.Folder).Order(StringComparer.Ordinal).ToArray();
        Assert.True(files.Length >= 7, $"{files.Length} regression inputs");
        var refused = 0;
        foreach (var file in files)
        {
            var acpi = AcpiTable.LooksLikeAcpiTable(File.ReadAllBytes(file));
            if (Malformed(file, acpi))
            {
                AssertEveryCommandRefuses(file, acpi);
                refused++;
                continue;
            }

            foreach (var command in acpi ? AcpiCommands : DeviceTreeCommands)
            {
                string[] args = [command[0], file, .. command[1..]];
                var (code, _, err) = Cli(args);
                Assert.True(code is 0 or 1, $"iommulab {string.Join(' ', args)} exited {code}: {err}");
                Assert.DoesNotContain("Exception", err);
            }
        }

        // The /dev/zero include and incbin, the overflowing /incbin/ range and its data file.
        Assert.True(refused >= 4, $"{refused} refused");
    }

    public static TheoryData<string, byte[]> MalformedInputs()
    {
        var example = DtbWriter.Write(CliApp.LoadDeviceTree("example:t8103-asahi"));
        var random = new byte[2048];
        new Random(11).NextBytes(random);
        var magic = (byte[])random.Clone();
        magic[0] = 0xd0; magic[1] = 0x0d; magic[2] = 0xfe; magic[3] = 0xed;
        var b = new IortBuilder();
        var its = b.Add(0, 0, IortBuilder.Its(0));
        b.Add(2, 1, IortBuilder.RootComplex(0), new Map(0, 0xff, 0, its), new Map(0x100, 0xff, 0, 7, RawReference: 0x999));
        var badReference = b.Build();
        var iort = new IortBuilder();
        iort.Add(0, 0, IortBuilder.Its(0));
        var table = iort.Build();
        var dmar = Encoding.ASCII.GetBytes("DMAR").Concat(BitConverter.GetBytes(48)).Concat(new byte[40]).ToArray();
        return new TheoryData<string, byte[]>
        {
            { "dtb-cut-in-header.dtb", example[..20] },
            { "dtb-cut-in-structure.dtb", example[..(example.Length / 2)] },
            { "dtb-cut-one-short.dtb", example[..^1] },
            { "dtb-random-behind-magic.dtb", magic },
            { "random.bin", random },
            { "empty.dtb", [] },
            { "other-acpi-table.dat", dmar },
            { "dts-missing-semicolon.dts", Encoding.UTF8.GetBytes("/dts-v1/;\n/ { a = <1> };\n") },
            { "dts-undefined-label.dts", Encoding.UTF8.GetBytes("/dts-v1/;\n/ { iommus = <&nowhere 0>; };\n") },
            { "dts-cpp-directive.dts", Encoding.UTF8.GetBytes("#include <dt-bindings/gpio/gpio.h>\n/dts-v1/;\n/ { };\n") },
            { "iort-truncated.iort", table[..40] },
            { "iort-length-past-data.iort", table[..^4] },
            { "iort-mapping-to-no-node.iort", badReference },
        };
    }

    [Theory]
    [MemberData(nameof(MalformedInputs))]
    public void A_malformed_input_is_refused_by_every_command_with_one_clean_line(string name, byte[] bytes)
    {
        var file = Path.Combine(Directory.CreateTempSubdirectory("iommulab-malformed").FullName, name);
        File.WriteAllBytes(file, bytes);
        AssertEveryCommandRefuses(file, acpi: AcpiTable.LooksLikeAcpiTable(bytes));
    }

    [Fact]
    public void A_missing_file_is_refused_with_a_clean_error()
    {
        var file = Path.Combine(Directory.CreateTempSubdirectory("iommulab-missing").FullName, "nothing.dtb");
        foreach (var command in DeviceTreeCommands)
        {
            var (code, _, err) = Cli([command[0], file, .. command[1..]]);
            Assert.Equal(CliApp.ExitBadInput, code);
            AssertCleanError(err, file);
        }
    }
}
