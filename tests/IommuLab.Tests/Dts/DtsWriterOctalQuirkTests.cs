using System.Text;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.DeviceTree.Dts;
using IommuLab.Tests.Support;

namespace IommuLab.Tests.Dts;

using DeviceTree = IommuLab.Firmware.DeviceTree.DeviceTree;

/// <summary>
/// The one loss in dtc's own DTB -> DTS -> DTB round trip, which byte-identical output has to inherit: a NUL
/// inside a guessed string is printed "\0", and when the next character is an octal digit dtc's parser reads
/// both (up to three digits) as one octal escape. "0\0-1\00\0" (a mount-matrix) comes back as "0", "-1", "", "",
/// and "Speaker\07J4" (audio-widgets) as "Speaker", BEL, "J4". 179 of the 1749 corpus DTBs hit it.
/// </summary>
public sealed class DtsWriterOctalQuirkTests
{
    [Theory]
    [InlineData("30 00 2d 31 00 30 00 30 00", "\"0\\0-1\\00\\00\"", "30 00 2d 31 00 00 00")]
    [InlineData("61 00 37 4a 00", "\"a\\07J\"", "61 07 4a 00")]
    [InlineData("61 00 31 32 33 00", "\"a\\0123\"", "61 0a 33 00")]
    [InlineData("61 00 38 00", "\"a\\08\"", "61 00 38 00")]
    public void A_nul_before_an_octal_digit_prints_as_dtc_prints_it_and_dtc_reads_it_back_as_one_escape(
        string hex, string text, string readBackHex)
    {
        var value = DtsWriterTests.Bytes(hex);
        var root = new DtNode("");
        root.AppendProperty(new DtProperty("v", value));
        var tree = new DeviceTree(root, hex);

        var ours = DtsWriter.Write(tree);
        var dtcText = Tools.Run("dtc", ["-q", "-I", "dtb", "-O", "dts", "-"], DtbWriter.Write(tree));
        Assert.Equal(Encoding.UTF8.GetString(dtcText.Stdout), ours);
        Assert.Contains($"\tv = {text};\n", ours, StringComparison.Ordinal);

        var back = Tools.Run("dtc", ["-q", "-I", "dts", "-O", "dtb", "-"], Encoding.UTF8.GetBytes(ours));
        Assert.Equal(0, back.ExitCode);
        var recompiled = DtbReader.Read(back.Stdout, "recompiled").Root.FindProperty("v")!.Value.ToArray();
        Assert.Equal(DtsWriterTests.Bytes(readBackHex), recompiled);
        Assert.Equal(recompiled, AsDtcReadsItBack(value));
    }

    /// <summary>
    /// The bytes dtc compiles from our literal for a string-guessed <paramref name="value"/>: every inner NUL
    /// takes up to two following octal digits into its escape ("\0" + "12" is octal 012).
    /// </summary>
    internal static byte[] AsDtcReadsItBack(ReadOnlySpan<byte> value)
    {
        var result = new List<byte>(value.Length);
        var text = value[..^1];
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != 0)
            {
                result.Add(text[i]);
                continue;
            }

            var octal = 0;
            for (var digits = 0; digits < 2 && i + 1 < text.Length && text[i + 1] is >= (byte)'0' and <= (byte)'7'; digits++)
            {
                octal = (octal * 8) + (text[++i] - '0');
            }

            result.Add((byte)octal);
        }

        result.Add(0);
        return [.. result];
    }
}
