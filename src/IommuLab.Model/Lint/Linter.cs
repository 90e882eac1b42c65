using IommuLab.Firmware;
using IommuLab.Firmware.Acpi;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Firmware.Lint;
using IommuLab.Firmware.Topology;
using IommuLab.Model.Kernel;

namespace IommuLab.Model.Lint;

/// <summary>What lint checks under: the profiles whose switches the per-profile rules read (default: all).</summary>
public sealed record LintOptions
{
    public IReadOnlyList<Profile> Profiles { get; init; } = Kernel.Profiles.All;

    /// <summary>Size limits for reading the input (the CLI's --max-* switches).</summary>
    public FirmwareLimits Limits { get; init; } = FirmwareLimits.Default;

    public static LintOptions Default { get; } = new();
}

/// <summary>What kind of input a file turned out to be.</summary>
public enum LintInputKind
{
    Dtb,
    Dts,
    Iort,
    Viot,

    /// <summary>The file could not be read, or not decoded: its findings say why.</summary>
    Unreadable,
}

/// <summary>The findings for one input, sorted by where they are (tree order, or offset), then by rule.</summary>
public sealed record LintReport(string File, LintInputKind Kind, IReadOnlyList<LintFinding> Findings)
{
    /// <summary>The highest severity among the findings, or null when there are none.</summary>
    public ProblemSeverity? MaxSeverity => Findings.Count == 0 ? null : Findings.Max(f => f.Severity);
}

/// <summary>
/// Static firmware lint for one file at a time: DTB, DTS, IORT or VIOT. Every entry point is a pure function of
/// its inputs (no shared state), never throws for bad input (an unreadable or malformed file is a finding), and
/// gives the same report for the same bytes: callers (the CLI, scan) may lint many files in parallel.
/// </summary>
public static class Linter
{
    /// <summary>Every rule lint can report, firmware-only rules first.</summary>
    public static IReadOnlyList<LintRule> Rules { get; } = [.. FirmwareLintRules.All, .. DriverLintRules.All];

    public static LintRule? Rule(string id) => Rules.FirstOrDefault(r => r.Id == id);

    /// <summary>Reads and lints one file; an I/O failure is a <c>file-unreadable</c> finding.</summary>
    public static LintReport LintFile(string path, LintOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            return new LintReport(path, LintInputKind.Unreadable,
                [FirmwareLint.Make(FirmwareLintRules.FileUnreadable, ProblemSeverity.Error, path, null, $"cannot read the file: {ex.Message}")]);
        }

        return LintBytes(bytes, path, options);
    }

    /// <summary>Lints bytes already in memory: an IORT/VIOT table by its signature, else a DTB or DTS.</summary>
    public static LintReport LintBytes(byte[] bytes, string sourceName, LintOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        ArgumentNullException.ThrowIfNull(sourceName);
        var limits = (options ?? LintOptions.Default).Limits;
        try
        {
            if (AcpiTable.LooksLikeAcpiTable(bytes))
            {
                return LintAcpi(AcpiTable.Load(bytes, sourceName, limits.Acpi), sourceName);
            }

            var tree = DeviceTreeLoader.Load(bytes, sourceName, limits);
            return LintTree(tree, sourceName, options) with { Kind = DtbReader.LooksLikeDtb(bytes) ? LintInputKind.Dtb : LintInputKind.Dts };
        }
        catch (FirmwareFormatException ex)
        {
            long? offset = ex is AcpiFormatException acpi ? acpi.Offset : OffsetIn(ex.Location);
            var where = ex.Location.StartsWith('/') ? ex.Location : null;
            var message = offset is null && where is null ? $"{ex.Location}: {ex.Detail}" : ex.Detail;
            return new LintReport(sourceName, LintInputKind.Unreadable,
                [FirmwareLint.Make(FirmwareLintRules.FirmwareMalformed, ProblemSeverity.Error, sourceName, where, message, offset)]);
        }
    }

    /// <summary>The byte offset of a DTB error's "offset 0x1c" location, or null for other locations.</summary>
    private static long? OffsetIn(string location) =>
        location.StartsWith("offset 0x", StringComparison.Ordinal)
        && long.TryParse(location.AsSpan("offset 0x".Length), System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out var v)
            ? v
            : null;

    /// <summary>Lints a decoded device tree: firmware rules, then the driver rules on the platform the model builds.</summary>
    public static LintReport LintTree(DeviceTree tree, string file, LintOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(tree);
        return LintTree(tree, file, options, IommuTopology.Decode(tree), () => DtPlatformBuilder.Build(tree, new PlatformKnobs(), []));
    }

    /// <summary>
    /// The same, with the topology already decoded and the model's platform from <paramref name="buildPlatform"/>
    /// (called only when the driver rules need it; a scan passes the platform it builds anyway).
    /// </summary>
    public static LintReport LintTree(DeviceTree tree, string file, LintOptions? options, IommuTopology topology, Func<(Platform? Platform, string? Error)> buildPlatform)
    {
        ArgumentNullException.ThrowIfNull(tree);
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(buildPlatform);
        options ??= LintOptions.Default;
        var findings = new List<LintFinding>(FirmwareLint.Check(tree, topology, file));
        var (platform, error) = NeedsDriverFacts(topology) ? BuildPlatform(buildPlatform) : (null, null);
        if (platform is not null)
        {
            findings.AddRange(DriverLint.Check(tree, topology, platform, options.Profiles, file));
        }
        else if (error is not null)
        {
            findings.Add(new LintFinding(DriverLintRules.KnobInvalid, ProblemSeverity.Warning, file, null, null,
                $"the model cannot read the tree's iommulab,* properties ({error}): the apple-dart and arm-smmu-v3 rules were skipped",
                DriverLintRules.All.First(r => r.Id == DriverLintRules.KnobInvalid).FixHint));
        }

        var order = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var node in tree.AllNodes())
        {
            order.TryAdd(node.Path, order.Count);
        }

        var sorted = findings
            .OrderBy(f => f.Path is null ? -1 : order.GetValueOrDefault(f.Path, int.MaxValue))
            .ThenBy(f => f.Path, StringComparer.Ordinal)
            .ToArray();
        return new LintReport(file, LintInputKind.Dtb, sorted);
    }

    /// <summary>Lints a decoded IORT or VIOT table.</summary>
    public static LintReport LintAcpi(AcpiTable table, string file)
    {
        ArgumentNullException.ThrowIfNull(table);
        var findings = FirmwareLint.Check(table, file).OrderBy(f => f.Offset ?? -1).ToArray();
        var kind = table is Firmware.Acpi.Viot.ViotTable ? LintInputKind.Viot : LintInputKind.Iort;
        return new LintReport(file, kind, findings);
    }

    /// <summary>
    /// Lints <paramref name="inputs"/> with <paramref name="lintOne"/> on up to <paramref name="parallelism"/>
    /// threads; the reports come back in input order, whatever order the threads finish in.
    /// </summary>
    public static IReadOnlyList<LintReport> LintMany(IReadOnlyList<string> inputs, Func<string, LintReport> lintOne, int parallelism)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(lintOne);
        var reports = new LintReport[inputs.Count];
        Parallel.For(0, inputs.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, parallelism) }, i => reports[i] = lintOne(inputs[i]));
        return reports;
    }

    /// <summary>
    /// True when a provider may get the apple-dart or arm-smmu-v3 driver model, the only ones the driver rules
    /// check. The model picks the driver by the first <c>compatible</c> string: apple-dart only for "apple,..."
    /// names, arm-smmu-v3 only for "arm,smmu-v3"; so this test admits every tree those rules can apply to (a
    /// corpus test checks it) and spares the others the platform build, most of lint's time on large trees.
    /// </summary>
    public static bool NeedsDriverFacts(IommuTopology topology) =>
        topology.Providers.Any(p => p.Compatible.Count > 0
            && (p.Compatible[0].StartsWith("apple,", StringComparison.Ordinal) || p.Compatible[0] == "arm,smmu-v3"));

    /// <summary>
    /// The model's platform, for the driver facts (DART variants and <c>iommulab,*</c> parameters, which driver an
    /// IOMMU gets). The builder parses those properties with int.Parse, so a malformed one is reported, not thrown.
    /// </summary>
    private static (Platform? Platform, string? Error) BuildPlatform(Func<(Platform? Platform, string? Error)> build)
    {
        try
        {
            return build();
        }
        catch (Exception ex) when (ex is FormatException or OverflowException)
        {
            return (null, ex.Message);
        }
    }
}
