using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.DeviceTree.Dts;
using IommuLab.Tests.Support;

namespace IommuLab.Tests.Dts;

/// <summary>Compiles a source with our parser and with dtc (via a temp file) so tests can compare the two.</summary>
internal static class DtsTestSupport
{
    public static string FixtureDir => Path.Combine(AppContext.BaseDirectory, "Fixtures", "dts");

    /// <summary>The tree dtc builds from <paramref name="path"/> ("dtc -I dts -O dtb", read back with DtbReader).</summary>
    public static Firmware.DeviceTree.DeviceTree Dtc(string path, params string[] extra)
    {
        var blob = Tools.Dtc([.. extra, "-q", "-I", "dts", "-O", "dtb", path]);
        return DtbReader.Read(blob, path);
    }

    /// <summary>Writes <paramref name="source"/> to a temp folder, compiles it both ways, and returns both trees.</summary>
    public static (Firmware.DeviceTree.DeviceTree Ours, Firmware.DeviceTree.DeviceTree Dtcs) Both(string source, string name = "test.dts")
    {
        using var dir = new TempDir();
        var path = dir.Write(name, source);
        return (DtsParser.ParseFile(path), Dtc(path));
    }

    /// <summary>Asserts our tree equals dtc's: same nodes, order, property bytes and reservations.</summary>
    public static Firmware.DeviceTree.DeviceTree AssertSameAsDtc(string source)
    {
        var (ours, dtcs) = Both(source);
        Assert.Null(DeviceTreeComparer.FirstDifference(ours, dtcs, compareHeader: true));
        return ours;
    }

    /// <summary>Asserts both compilers reject the source, and returns our error.</summary>
    public static DtsSyntaxException AssertBothReject(string source)
    {
        using var dir = new TempDir();
        var path = dir.Write("bad.dts", source);
        var (code, _, _) = Tools.Run("dtc", ["-q", "-I", "dts", "-O", "dtb", "-o", "/dev/null", path]);
        Assert.NotEqual(0, code);
        return Assert.Throws<DtsSyntaxException>(() => DtsParser.ParseFile(path));
    }

    public static DtsSyntaxException Reject(string source, string fileName = "bad.dts", DtsParserOptions? options = null) =>
        Assert.Throws<DtsSyntaxException>(() => DtsParser.Parse(source, fileName, options));

    public static byte[] Bytes(Firmware.DeviceTree.DeviceTree tree, string path, string property) =>
        (tree.FindByPath(path) ?? throw new InvalidOperationException($"no node {path}")).FindProperty(property)?.Value.ToArray()
        ?? throw new InvalidOperationException($"no property {property} in {path}");

    /// <summary>A temporary folder removed on dispose.</summary>
    public sealed class TempDir : IDisposable
    {
        public TempDir()
        {
            Path = Directory.CreateTempSubdirectory("iommulab-dts-").FullName;
        }

        public string Path { get; }

        public string Write(string name, string content)
        {
            var full = System.IO.Path.Combine(Path, name);
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
            File.WriteAllText(full, content);
            return full;
        }

        public void Dispose()
        {
            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
                // Best effort: a leftover temp folder is harmless.
            }
        }
    }
}
