using System.Diagnostics;
using System.Security.Cryptography;

namespace IommuLab.Tests.Support;

/// <summary>
/// The real firmware corpus in ../shared/corpus (or $IOMMULAB_CORPUS). Corpus tests carry
/// [Trait("Category", "Corpus")]: the README test command leaves them out, .ci/run runs them
/// and fails when the corpus is missing.
/// </summary>
public static class Corpus
{
    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, string> Extracted = [];

    /// <summary>The corpus folder; throws (failing the test) when it cannot be found.</summary>
    public static string Root
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("IOMMULAB_CORPUS");
            if (!string.IsNullOrEmpty(env))
            {
                return Directory.Exists(env) ? env : throw new DirectoryNotFoundException($"IOMMULAB_CORPUS={env} does not exist");
            }

            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "shared", "corpus");
                if (Directory.Exists(candidate))
                {
                    return candidate;
                }
            }

            throw new DirectoryNotFoundException("corpus not found: set IOMMULAB_CORPUS or place it at ../shared/corpus");
        }
    }

    /// <summary>All Debian arm64 DTBs (1649 in the shared corpus), sorted by relative path.</summary>
    public static IReadOnlyList<string> SidDtbs => Dtbs("debian-*.tar.xz");

    /// <summary>The Apple DTBs (97 in the shared corpus), sorted by relative path.</summary>
    public static IReadOnlyList<string> AppleDtbs => Dtbs("apple-*.tar.xz");

    /// <summary>The QEMU virt DTBs.</summary>
    public static IReadOnlyList<string> QemuDtbs =>
        Directory.GetFiles(Path.Combine(Root, "qemu"), "*.dtb").Order(StringComparer.Ordinal).ToArray();

    /// <summary>Every DTB of the corpus (sid, Apple, QEMU).</summary>
    public static IReadOnlyList<string> AllDtbs => [.. SidDtbs, .. AppleDtbs, .. QemuDtbs];

    /// <summary>One Apple DTB by file name, e.g. "t8103-j274.dtb".</summary>
    public static string Apple(string fileName) =>
        AppleDtbs.Single(p => Path.GetFileName(p) == fileName);

    /// <summary>The files under iort/&lt;sub&gt; ("qemu", "laptops", "malformed", "iasl") with the given pattern,
    /// sorted by name.</summary>
    public static IReadOnlyList<string> IortFiles(string sub, string pattern = "*") =>
        Directory.GetFiles(Path.Combine(Root, "iort", sub), pattern).Order(StringComparer.Ordinal).ToArray();

    private static IReadOnlyList<string> Dtbs(string pattern)
    {
        var matches = Directory.GetFiles(Path.Combine(Root, "dtb"), pattern);
        if (matches.Length != 1)
        {
            throw new FileNotFoundException($"expected one {pattern} in {Root}/dtb, found {matches.Length}");
        }

        var dir = Extract(matches[0]);
        return Directory.GetFiles(dir, "*.dtb", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();
    }

    /// <summary>Extracts a .tar.xz once per content hash into a cache folder under the temp directory.</summary>
    private static string Extract(string tarball)
    {
        lock (Gate)
        {
            if (Extracted.TryGetValue(tarball, out var done))
            {
                return done;
            }

            string hash;
            using (var s = File.OpenRead(tarball))
            {
                hash = Convert.ToHexString(SHA256.HashData(s))[..16];
            }

            var dest = Path.Combine(Path.GetTempPath(), "iommulab-corpus", hash);
            var marker = Path.Combine(dest, ".complete");
            if (!File.Exists(marker))
            {
                if (Directory.Exists(dest))
                {
                    Directory.Delete(dest, recursive: true);
                }

                Directory.CreateDirectory(dest);
                var psi = new ProcessStartInfo("tar", ["-xJf", tarball, "-C", dest]) { RedirectStandardError = true };
                using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start tar");
                var err = p.StandardError.ReadToEnd();
                p.WaitForExit();
                if (p.ExitCode != 0)
                {
                    throw new InvalidOperationException($"tar -xJf {tarball} failed: {err}");
                }

                File.WriteAllText(marker, tarball);
            }

            Extracted[tarball] = dest;
            return dest;
        }
    }
}
