using IommuLab.Tests.Support;

namespace IommuLab.Benchmarks;

/// <summary>The sid corpus loaded into memory once, so benchmarks measure parsing, not the disk.</summary>
public sealed class CorpusSet
{
    private CorpusSet(IReadOnlyList<string> paths)
    {
        Paths = paths;
        Blobs = paths.Select(File.ReadAllBytes).ToArray();
        TotalBytes = Blobs.Sum(b => (long)b.Length);
    }

    public IReadOnlyList<string> Paths { get; }

    public byte[][] Blobs { get; }

    public long TotalBytes { get; }

    public static CorpusSet Sid() => new(Corpus.SidDtbs);
}
