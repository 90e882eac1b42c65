using System.Text.Json;
using IommuLab.Cli.Commands;
using IommuLab.Model.Exploration;

namespace IommuLab.Cli.Rendering;

/// <summary>The stable JSON of `check` (docs/check-json.md); no wall-clock times, so equal inputs give equal bytes.</summary>
public static class CheckJson
{
    public static void Write(TextWriter o, CheckCommand.CheckReport report)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(report);
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("input", report.Request.File);
            w.WriteString("sha256", report.Context.Sha256);
            w.WriteString("granularity", report.Request.Options.Granularity == Granularity.Fine ? "fine" : "coarse");
            w.WriteNumber("clusters", Clusters.Of(report.Platform).Count);
            w.WriteStartArray("profiles");
            foreach (var r in report.Profiles)
            {
                w.WriteStartObject();
                w.WriteString("profile", r.Profile.Name);
                w.WriteString("verdict", r.Verdict);
                w.WriteString("strategy", StrategyNames.GetName(r.Options.Strategy));
                w.WriteNumber("seed", r.Options.Seed);
                w.WriteBoolean("complete", r.Complete);
                w.WriteNumber("executions", r.Executions);
                w.WriteNumber("traces", r.Traces);
                w.WriteBoolean("tracesCapped", r.TracesCapped);
                w.WriteStartArray("violations");
                foreach (var c in r.Violations)
                {
                    w.WriteStartObject();
                    w.WriteString("invariant", c.Invariant);
                    w.WriteString("device", c.Device);
                    w.WriteString("message", c.Message);
                    w.WriteStartArray("schedule");
                    foreach (var s in c.Steps)
                    {
                        w.WriteStringValue(s);
                    }

                    w.WriteEndArray();
                    w.WriteNumber("chosen", c.Explicit);
                    w.WriteString("divergence", c.DivergenceText);
                    if (report.TraceFiles.TryGetValue(c, out var f))
                    {
                        w.WriteString("trace", f);
                    }
                    else
                    {
                        w.WriteNull("trace");
                    }

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
