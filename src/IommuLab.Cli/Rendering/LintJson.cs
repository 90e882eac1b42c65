using System.Text.Encodings.Web;
using System.Text.Json;
using IommuLab.Firmware.Lint;
using IommuLab.Firmware.Topology;
using IommuLab.Model.Lint;

namespace IommuLab.Cli.Rendering;

/// <summary>Lint reports as JSON (schema: docs/lint.md). Written key by key so the order is fixed.</summary>
public static class LintJson
{
    /// <summary>Bumped on any incompatible schema change.</summary>
    public const int SchemaVersion = 1;

    /// <summary>Messages hold DTS syntax (&lt;0&gt;, &amp;label): keep it readable; the output is never embedded in HTML.</summary>
    internal static JsonWriterOptions WriterOptions { get; } = new()
    {
        Indented = true,
        NewLine = "\n",
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static void Write(IReadOnlyList<LintReport> reports, LintRun run, TextWriter w)
    {
        ArgumentNullException.ThrowIfNull(reports);
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(w);
        using var buffer = new MemoryStream();
        using (var j = new Utf8JsonWriter(buffer, WriterOptions))
        {
            var all = reports.SelectMany(r => r.Findings).ToList();
            j.WriteStartObject();
            j.WriteNumber("schemaVersion", SchemaVersion);
            j.WriteStartArray("profiles");
            foreach (var p in run.Profiles)
            {
                j.WriteStringValue(p);
            }

            j.WriteEndArray();
            j.WriteString("failOn", Severities.Name(run.FailOn));
            j.WriteStartObject("summary");
            j.WriteNumber("files", reports.Count);
            j.WriteNumber("filesWithFindings", reports.Count(r => r.Findings.Count > 0));
            j.WriteNumber("errors", all.Count(f => f.Severity == ProblemSeverity.Error));
            j.WriteNumber("warnings", all.Count(f => f.Severity == ProblemSeverity.Warning));
            j.WriteNumber("infos", all.Count(f => f.Severity == ProblemSeverity.Info));
            j.WriteEndObject();
            j.WriteStartArray("files");
            foreach (var r in reports)
            {
                j.WriteStartObject();
                j.WriteString("file", r.File);
                j.WriteString("kind", r.Kind.ToString().ToLowerInvariant());
                j.WriteStartArray("findings");
                foreach (var f in r.Findings)
                {
                    j.WriteStartObject();
                    j.WriteString("ruleId", f.RuleId);
                    j.WriteString("severity", Severities.Name(f.Severity));
                    j.WriteString("path", f.Path);
                    if (f.Offset is long offset)
                    {
                        j.WriteNumber("offset", offset);
                    }
                    else
                    {
                        j.WriteNull("offset");
                    }

                    j.WriteString("message", f.Message);
                    j.WriteString("fix", f.FixHint);
                    j.WriteEndObject();
                }

                j.WriteEndArray();
                j.WriteEndObject();
            }

            j.WriteEndArray();
            j.WriteEndObject();
        }

        w.Write(System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
        w.Write('\n');
    }
}
