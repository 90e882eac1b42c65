using IommuLab.Cli;
using IommuLab.Firmware;
using IommuLab.Firmware.Acpi;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Tests.Support;

namespace IommuLab.Tests.Robustness;

/// <summary>Real boards cut short or overwritten, and the malformed laptop table, give one clean error line.</summary>
[Trait("Category", "Corpus")]
public sealed class CorpusRejectionTests
{
    /// <summary>"SOURCE: LOCATION: what was expected, what was found", on one line, with no stack trace.</summary>
    private static void AssertCleanError(string message, string source)
    {
        Assert.StartsWith($"{source}: offset 0x", message);
        Assert.DoesNotContain("\n", message.TrimEnd());
        Assert.DoesNotContain(" at IommuLab", message);
    }

    [Fact]
    public void Corpus_dtbs_truncated_anywhere_are_rejected_with_a_clean_error()
    {
        var boards = Corpus.QemuDtbs.Concat(Corpus.AppleDtbs.Take(5)).Concat(Corpus.SidDtbs.Where((_, i) => i % 50 == 0)).ToArray();
        var checkedCuts = 0;
        foreach (var path in boards)
        {
            var blob = File.ReadAllBytes(path);
            foreach (var cut in new[] { 0, 3, 8, 39, 40, 41, blob.Length / 3, blob.Length / 2, blob.Length - 5, blob.Length - 1 })
            {
                var e = Assert.Throws<DtbFormatException>(() => DtbReader.Read(blob.AsMemory(0, cut), "cut.dtb"));
                AssertCleanError(e.Message, "cut.dtb");
                checkedCuts++;
            }
        }

        Assert.True(checkedCuts >= 300, $"{checkedCuts} cuts");
    }

    [Fact]
    public void Random_bytes_behind_a_dtb_magic_are_rejected_with_a_clean_error()
    {
        var random = new Random(9);
        for (var i = 0; i < 2000; i++)
        {
            var blob = new byte[random.Next(4, 4096)];
            random.NextBytes(blob);
            blob[0] = 0xd0; blob[1] = 0x0d; blob[2] = 0xfe; blob[3] = 0xed;
            var e = Assert.Throws<DtbFormatException>(() => DtbReader.Read(blob, "random.dtb"));
            AssertCleanError(e.Message, "random.dtb");
        }
    }

    [Fact]
    public void Truncated_and_random_dtbs_given_to_the_cli_exit_2_with_one_line_on_stderr()
    {
        var dir = Directory.CreateTempSubdirectory("iommulab-rejects").FullName;
        var board = File.ReadAllBytes(Corpus.QemuDtbs[0]);
        var random = new byte[3000];
        new Random(3).NextBytes(random);
        random[0] = 0xd0; random[1] = 0x0d; random[2] = 0xfe; random[3] = 0xed;
        var inputs = new Dictionary<string, byte[]>
        {
            ["truncated.dtb"] = board[..(board.Length / 2)],
            ["random.dtb"] = random,
            ["binary.dat"] = [1, 2, 0, 4],
        };
        foreach (var (name, bytes) in inputs)
        {
            var path = Path.Combine(dir, name);
            File.WriteAllBytes(path, bytes);
            foreach (var command in new[] { new[] { "topology", path }, ["topology", path, "--format", "json"], ["dump", path] })
            {
                var stdout = new StringWriter();
                var stderr = new StringWriter();
                Assert.Equal(CliApp.ExitBadInput, CliApp.Run(command, stdout, stderr));
                Assert.Equal(string.Empty, stdout.ToString());
                AssertCleanError(stderr.ToString(), path);
            }
        }
    }

    [Fact]
    public void The_malformed_laptop_iort_is_rejected_with_a_clean_error()
    {
        var path = Assert.Single(Corpus.IortFiles("malformed", "*.dat"));
        var e = Assert.Throws<AcpiFormatException>(() => AcpiTable.LoadFile(path));
        AssertCleanError(e.Message, path);
        Assert.IsAssignableFrom<FirmwareFormatException>(e);
    }

    [Fact]
    public void The_malformed_laptop_iort_and_cut_corpus_boards_are_refused_cleanly_by_every_command()
    {
        CliErrorTests.AssertEveryCommandRefuses(Assert.Single(Corpus.IortFiles("malformed", "*.dat")), acpi: true);

        var dir = Directory.CreateTempSubdirectory("iommulab-cut-boards").FullName;
        foreach (var board in new[] { Corpus.Apple("t8103-j274.dtb"), Corpus.QemuDtbs[0] })
        {
            var blob = File.ReadAllBytes(board);
            foreach (var cut in new[] { 39, blob.Length / 2, blob.Length - 1 })
            {
                var path = Path.Combine(dir, $"{Path.GetFileNameWithoutExtension(board)}-cut-{cut}.dtb");
                File.WriteAllBytes(path, blob[..cut]);
                CliErrorTests.AssertEveryCommandRefuses(path, acpi: false);
            }
        }
    }
}
