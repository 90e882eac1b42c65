using IommuLab.Cli.Rendering;

namespace IommuLab.Tests.Kernel;

/// <summary>Approval tests of the `run` narration, stored next to this file (Snapshots/*.txt).</summary>
public sealed class RunSnapshotTests
{
    private static string SnapshotDir([System.Runtime.CompilerServices.CallerFilePath] string here = "") =>
        Path.Combine(Path.GetDirectoryName(here)!, "Snapshots");

    [Theory]
    [InlineData("run-s1-k68", "K68")]
    [InlineData("run-s1-jgg2-f1", "JGG2+F1")]
    [InlineData("run-s1-k616", "K616")]
    public void Run_narration_of_s1_matches_the_approved_snapshot(string name, string profile)
    {
        var r = KernelRun.Run("usb-two-darts.dts", profile, "REG(dwc3_0_dart_0) PROBE(usb_drd0) REG(dwc3_0_dart_1)");
        var writer = new StringWriter { NewLine = "\n" };
        RunText.Write(writer, r);
        var actual = writer.ToString();
        var approved = Path.Combine(SnapshotDir(), name + ".txt");
        if (!File.Exists(approved) || File.ReadAllText(approved) != actual)
        {
            File.WriteAllText(Path.Combine(SnapshotDir(), name + ".received.txt"), actual);
        }

        Assert.True(File.Exists(approved), $"no approved snapshot {approved}; review {name}.received.txt and rename it");
        Assert.Equal(File.ReadAllText(approved), actual);
    }
}
