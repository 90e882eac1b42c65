using System.Text.Json;
using IommuLab.Cli.Commands;
using IommuLab.Firmware.Lint;
using IommuLab.Model.Exploration;
using IommuLab.Model.Scan;

namespace IommuLab.Cli.Rendering;

/// <summary>The stable JSON of `scan` (docs/scan.md): options, summary, then every file; no times, so equal inputs give equal bytes.</summary>
public static class ScanJson
{
    public static void Write(TextWriter o, ScanCommand.ScanReport report)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(report);
        var s = report.Summary;
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartObject("options");
            w.WriteStartArray("profiles");
            foreach (var p in report.Options.Profiles)
            {
                w.WriteStringValue(p.Name);
            }

            w.WriteEndArray();
            w.WriteString("granularity", report.Options.Granularity == Granularity.Fine ? "fine" : "coarse");
            w.WriteNumber("exhaustiveBudget", report.Options.ExhaustiveBudget);
            w.WriteNumber("sampleBudget", report.Options.SampleBudget);
            w.WriteNumber("seed", report.Options.Seed);
            w.WriteEndObject();

            w.WriteStartObject("summary");
            w.WriteNumber("files", s.Files);
            w.WriteStartObject("kinds");
            foreach (var (k, n) in s.Kinds)
            {
                w.WriteNumber(k, n);
            }

            w.WriteEndObject();
            w.WriteNumber("consumers", s.Consumers);
            w.WriteNumber("clusters", s.Clusters);
            w.WriteNumber("largestCluster", s.LargestCluster);
            w.WriteStartArray("profiles");
            foreach (var p in s.Profiles)
            {
                w.WriteStartObject();
                w.WriteString("profile", p.Profile);
                w.WriteNumber("files", p.Files);
                w.WriteNumber("cleanFiles", p.CleanFiles);
                w.WriteNumber("devices", p.Devices);
                w.WriteNumber("cleanDevices", p.CleanDevices);
                w.WriteNumber("provedFiles", p.ProvedFiles);
                w.WriteNumber("clusters", p.Clusters);
                w.WriteNumber("provedClusters", p.ProvedClusters);
                w.WriteNumber("executions", p.Executions);
                w.WriteStartArray("byInvariant");
                foreach (var i in p.ByInvariant)
                {
                    w.WriteStartObject();
                    w.WriteString("invariant", i.Invariant);
                    w.WriteNumber("devices", i.Devices);
                    w.WriteNumber("files", i.Files);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteStartArray("patterns");
                foreach (var pat in p.Patterns)
                {
                    w.WriteStartObject();
                    w.WriteString("pattern", pat.Pattern);
                    w.WriteNumber("devices", pat.Devices);
                    w.WriteNumber("files", pat.Files);
                    w.WriteStartArray("invariants");
                    foreach (var i in pat.Invariants)
                    {
                        w.WriteStringValue(i);
                    }

                    w.WriteEndArray();
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartArray("multiInstance");
            foreach (var m in s.MultiInstance)
            {
                w.WriteStartObject();
                w.WriteString("pattern", m.Pattern);
                w.WriteNumber("devices", m.Devices);
                w.WriteNumber("files", m.Files);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartArray("lint");
            foreach (var l in s.Lint)
            {
                w.WriteStartObject();
                w.WriteString("rule", l.Rule);
                w.WriteString("severity", l.Severity);
                w.WriteNumber("findings", l.Findings);
                w.WriteNumber("locations", l.Locations);
                w.WriteNumber("files", l.Files);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartArray("unreadable");
            foreach (var (file, error) in s.Unreadable)
            {
                w.WriteStartObject();
                w.WriteString("file", file);
                w.WriteString("error", error);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();

            w.WriteStartArray("files");
            foreach (var f in report.Files.OrderBy(f => f.Path, StringComparer.Ordinal))
            {
                w.WriteStartObject();
                w.WriteString("file", f.Path);
                w.WriteString("kind", f.Kind.ToString().ToLowerInvariant());
                if (f.Error is not null)
                {
                    w.WriteString("error", f.Error);
                }

                w.WriteNumber("consumers", f.Consumers);
                w.WriteNumber("clusters", f.Clusters);
                w.WriteNumber("largestCluster", f.LargestCluster);
                w.WriteStartArray("profiles");
                foreach (var p in f.Profiles)
                {
                    w.WriteStartObject();
                    w.WriteString("profile", p.Profile);
                    w.WriteString("result", p.Proof ? "proof" : "sample");
                    w.WriteNumber("provedClusters", p.Proved);
                    w.WriteNumber("sampledClusters", p.Sampled);
                    w.WriteNumber("executions", p.Executions);
                    w.WriteStartArray("violations");
                    foreach (var v in p.Violations)
                    {
                        w.WriteStartObject();
                        w.WriteString("invariant", v.Invariant);
                        w.WriteString("device", v.Device);
                        w.WriteString("pattern", v.Pattern);
                        w.WriteString("message", v.Message);
                        w.WriteEndObject();
                    }

                    w.WriteEndArray();
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteStartArray("multiInstance");
                foreach (var (device, pattern) in f.MultiInstance)
                {
                    w.WriteStartObject();
                    w.WriteString("device", device);
                    w.WriteString("pattern", pattern);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteStartArray("lint");
                foreach (var l in f.Lint)
                {
                    w.WriteStartObject();
                    w.WriteString("rule", l.RuleId);
                    w.WriteString("severity", Severities.Name(l.Severity));
                    w.WriteString("location", l.Location);
                    w.WriteString("message", l.Message);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        o.Write(System.Text.Encoding.UTF8.GetString(ms.ToArray()));
        o.WriteLine();
    }
}
