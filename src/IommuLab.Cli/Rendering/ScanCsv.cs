using IommuLab.Cli.Commands;

namespace IommuLab.Cli.Rendering;

/// <summary>The CSV of `scan` (RFC 4180): one row per file and profile; an unreadable file is one row with its error.</summary>
public static class ScanCsv
{
    public static void Write(TextWriter o, ScanCommand.ScanReport report)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(report);
        o.Write("file,kind,profile,result,clusters,proved_clusters,sampled_clusters,executions,consumers,violating_devices,invariants,lint_findings,error\r\n");
        foreach (var f in report.Files.OrderBy(f => f.Path, StringComparer.Ordinal))
        {
            var kind = f.Kind.ToString().ToLowerInvariant();
            if (f.Profiles.Count == 0)
            {
                Row(o, f.Path, kind, "", "", "", "", "", "", f.Consumers.ToString(System.Globalization.CultureInfo.InvariantCulture), "", "", f.Lint.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), f.Error ?? "");
                continue;
            }

            foreach (var p in f.Profiles)
            {
                var invs = string.Join(" ", p.Violations.Select(v => v.Invariant).Distinct(StringComparer.Ordinal));
                Row(o, f.Path, kind, p.Profile, p.Proof ? "proof" : "sample", N(f.Clusters), N(p.Proved), N(p.Sampled), N(p.Executions), N(f.Consumers), N(p.ViolatingDevices), invs, N(f.Lint.Count), f.Error ?? "");
            }
        }
    }

    private static string N(long n) => n.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static void Row(TextWriter o, params string[] fields)
    {
        o.Write(string.Join(",", fields.Select(Quote)));
        o.Write("\r\n");
    }

    private static string Quote(string field) =>
        field.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? "\"" + field.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : field;
}
