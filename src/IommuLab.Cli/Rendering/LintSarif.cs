using System.Text.Json;
using IommuLab.Firmware.Lint;
using IommuLab.Firmware.Topology;
using IommuLab.Model.Lint;

namespace IommuLab.Cli.Rendering;

/// <summary>
/// Lint reports as one SARIF 2.1.0 run (OASIS sarif-v2.1.0), so code-review tools show the findings: every rule in
/// <c>tool.driver.rules</c>, one result per finding with the file as <c>artifactLocation.uri</c>, the DT path as a
/// logical location and an ACPI offset as <c>region.byteOffset</c>. Deterministic: no timestamps, no absolute paths
/// that the user did not give.
/// </summary>
public static class LintSarif
{
    public const string SchemaUri = "https://json.schemastore.org/sarif-2.1.0.json";

    /// <summary>Where the rules are documented (the tool's documentation, in its repository).</summary>

    public static void Write(IReadOnlyList<LintReport> reports, LintRun run, TextWriter w)
    {
        ArgumentNullException.ThrowIfNull(reports);
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(w);
        var rules = Linter.Rules;
        var ruleIndex = rules.Select((r, i) => (r.Id, i)).ToDictionary(x => x.Id, x => x.i, StringComparer.Ordinal);
        using var buffer = new MemoryStream();
        using (var j = new Utf8JsonWriter(buffer, LintJson.WriterOptions))
        {
            j.WriteStartObject();
            j.WriteString("$schema", SchemaUri);
            j.WriteString("version", "2.1.0");
            j.WriteStartArray("runs");
            j.WriteStartObject();

            j.WriteStartObject("tool");
            j.WriteStartObject("driver");
            j.WriteString("name", "iommulab lint");
            j.WriteString("version", ToolVersion);
            j.WriteStartArray("rules");
            foreach (var r in rules)
            {
                j.WriteStartObject();
                j.WriteString("id", r.Id);
                j.WriteStartObject("shortDescription");
                j.WriteString("text", r.Title);
                j.WriteEndObject();
                j.WriteStartObject("help");
                j.WriteString("text", r.FixHint);
                j.WriteEndObject();
                j.WriteStartObject("defaultConfiguration");
                j.WriteString("level", Level(r.DefaultSeverity));
                j.WriteEndObject();
                j.WriteEndObject();
            }

            j.WriteEndArray();
            j.WriteEndObject();
            j.WriteEndObject();

            j.WriteStartObject("properties");
            j.WriteStartArray("profiles");
            foreach (var p in run.Profiles)
            {
                j.WriteStringValue(p);
            }

            j.WriteEndArray();
            j.WriteString("failOn", Severities.Name(run.FailOn));
            j.WriteEndObject();

            j.WriteStartArray("results");
            foreach (var f in reports.SelectMany(r => r.Findings))
            {
                j.WriteStartObject();
                j.WriteString("ruleId", f.RuleId);
                if (ruleIndex.TryGetValue(f.RuleId, out var index))
                {
                    j.WriteNumber("ruleIndex", index);
                }

                j.WriteString("level", Level(f.Severity));
                j.WriteStartObject("message");
                j.WriteString("text", f.FixHint.Length > 0 ? $"{f.Message}. Fix: {f.FixHint}" : f.Message);
                j.WriteEndObject();
                j.WriteStartArray("locations");
                j.WriteStartObject();
                j.WriteStartObject("physicalLocation");
                j.WriteStartObject("artifactLocation");
                j.WriteString("uri", Uri(f.File));
                j.WriteEndObject();
                if (f.Offset is long offset)
                {
                    j.WriteStartObject("region");
                    j.WriteNumber("byteOffset", offset);
                    j.WriteEndObject();
                }

                j.WriteEndObject();
                if (f.Path is not null)
                {
                    j.WriteStartArray("logicalLocations");
                    j.WriteStartObject();
                    j.WriteString("fullyQualifiedName", f.Path);
                    j.WriteString("kind", "element");
                    j.WriteEndObject();
                    j.WriteEndArray();
                }

                j.WriteEndObject();
                j.WriteEndArray();
                j.WriteStartObject("properties");
                j.WriteString("fixHint", f.FixHint);
                j.WriteEndObject();
                j.WriteEndObject();
            }

            j.WriteEndArray();
            j.WriteEndObject();
            j.WriteEndArray();
            j.WriteEndObject();
        }

        w.Write(System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
        w.Write('\n');
    }

    /// <summary>The assembly's informational version without the source-revision suffix the SDK appends.</summary>
    private static string ToolVersion
    {
        get
        {
            var v = typeof(LintSarif).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
                .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion ?? "0.0.0";
            var plus = v.IndexOf('+', StringComparison.Ordinal);
            return plus < 0 ? v : v[..plus];
        }
    }

    private static string Level(ProblemSeverity s) => s switch
    {
        ProblemSeverity.Error => "error",
        ProblemSeverity.Warning => "warning",
        _ => "note",
    };

    /// <summary>A relative or absolute file path as a URI reference: forward slashes, percent-escaped where needed.</summary>
    private static string Uri(string file)
    {
        var slashed = file.Replace('\\', '/');
        var escaped = string.Join('/', slashed.Split('/').Select(System.Uri.EscapeDataString));
        return slashed.StartsWith('/') ? "file://" + escaped : escaped;
    }
}
