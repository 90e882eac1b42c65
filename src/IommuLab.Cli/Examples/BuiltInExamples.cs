using System.Reflection;

namespace IommuLab.Cli.Examples;

/// <summary>Example firmware compiled into the CLI, addressed as <c>example:NAME</c> wherever a FILE is taken.</summary>
public static class BuiltInExamples
{
    public const string Prefix = "example:";

    /// <summary>The example the CLI uses when run without arguments.</summary>
    public const string Default = "t8103-asahi";

    public static IReadOnlyList<string> Names { get; } =
        typeof(BuiltInExamples).Assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith("IommuLab.Examples.", StringComparison.Ordinal) && n.EndsWith(".dts", StringComparison.Ordinal))
            .Select(n => n["IommuLab.Examples.".Length..^".dts".Length])
            .Order(StringComparer.Ordinal)
            .ToArray();

    /// <summary>The DTS text of example <paramref name="name"/>, or null when there is none.</summary>
    public static byte[]? Read(string name)
    {
        using var stream = typeof(BuiltInExamples).Assembly.GetManifestResourceStream($"IommuLab.Examples.{name}.dts");
        if (stream is null)
        {
            return null;
        }

        using var ms = new MemoryStream();
        stream.CopyTo(ms);
        return ms.ToArray();
    }
}
