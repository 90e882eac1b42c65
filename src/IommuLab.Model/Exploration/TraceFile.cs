using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using IommuLab.Model.Kernel;

namespace IommuLab.Model.Exploration;

/// <summary>Where the firmware came from and how the platform was built: what a trace needs besides the schedule.</summary>
/// <remarks><paramref name="Pci"/> holds the resolved `--pci` device lists (file contents, not names), so a trace
/// replays without them.</remarks>
public sealed record TraceContext(string Input, string Sha256, PlatformKnobs Knobs, IReadOnlyList<string> DeviceKnobs, IReadOnlyList<string>? Pci = null)
{
    public static string Hash(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
}

/// <summary>
/// A reproducible trace (docs/traces.md): the whole configuration (input and its SHA-256, profile and every switch
/// value, knobs, granularity, strategy, seed, budget, cluster) and the step choices, plus the violation it shows.
/// </summary>
public sealed record Trace(
    TraceContext Context,
    string Profile,
    IReadOnlyList<KeyValuePair<string, string>> Switches,
    Granularity Granularity,
    StrategyKind Strategy,
    int Seed,
    int Budget,
    IReadOnlyList<string> Cluster,
    string Invariant,
    string Device,
    string Message,
    IReadOnlyList<string> Schedule,
    IReadOnlyList<string> Steps,
    int Explicit,
    IReadOnlyList<string>? ContrastSchedule,
    IReadOnlyList<string>? ContrastSteps)
{
    public const string Format = "iommulab-trace/1";

    public static Trace Of(TraceContext context, Platform platform, Profile profile, ExplorationOptions options, Counterexample c)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(platform);
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(c);
        return new Trace(
            context,
            profile.Name.TrimEnd('*'),
            [.. SwitchCatalog.All.Select(s => new KeyValuePair<string, string>(s.Name, s.Get(profile.Switches)))],
            options.Granularity,
            options.Strategy,
            options.Seed,
            options.Budget,
            [.. c.Cluster.Consumers.Select(i => platform.Devices[i].Path)],
            c.Invariant,
            c.Device,
            c.Message,
            c.Schedule,
            c.Steps,
            c.Explicit,
            c.Contrast?.Schedule,
            c.Contrast?.Steps);
    }

    public string ToJson()
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("format", Format);
            w.WriteString("input", Context.Input);
            w.WriteString("sha256", Context.Sha256);
            w.WriteString("profile", Profile);
            w.WriteStartObject("switches");
            foreach (var (k, v) in Switches)
            {
                w.WriteString(k, v);
            }

            w.WriteEndObject();
            w.WriteStartObject("knobs");
            w.WriteBoolean("modules", Context.Knobs.Modules);
            w.WriteBoolean("afterLateInitcall", Context.Knobs.AfterLateInitcall);
            w.WriteBoolean("fwDevlinkStrict", Context.Knobs.FwDevlinkStrict);
            if (Context.Knobs.DeferredProbeTimeout is { } timeout)
            {
                w.WriteNumber("deferredProbeTimeout", timeout);
            }
            else
            {
                w.WriteNull("deferredProbeTimeout");
            }

            w.WriteNumber("pageSize", Context.Knobs.PageSize);
            WriteArray(w, "device", Context.DeviceKnobs);
            if (Context.Pci is { Count: > 0 } pci)
            {
                WriteArray(w, "pci", pci);
            }

            w.WriteEndObject();
            w.WriteString("granularity", Granularity == Granularity.Fine ? "fine" : "coarse");
            w.WriteString("strategy", StrategyNames.GetName(Strategy));
            w.WriteNumber("seed", Seed);
            w.WriteNumber("budget", Budget);
            WriteArray(w, "cluster", Cluster);
            w.WriteString("invariant", Invariant);
            w.WriteString("device", Device);
            w.WriteString("message", Message);
            w.WriteNumber("explicit", Explicit);
            WriteArray(w, "schedule", Schedule);
            WriteArray(w, "steps", Steps);
            if (ContrastSchedule is not null)
            {
                WriteArray(w, "contrastSchedule", ContrastSchedule);
                WriteArray(w, "contrastSteps", ContrastSteps ?? []);
            }

            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }

    /// <summary>Reads a trace; the error names what is missing or malformed.</summary>
    public static (Trace? Trace, string? Error) Parse(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            using var doc = JsonDocument.Parse(json);
            var r = doc.RootElement;
            if (r.GetProperty("format").GetString() != Format)
            {
                return (null, $"not an {Format} trace");
            }

            var knobs = r.GetProperty("knobs");
            var context = new TraceContext(
                r.GetProperty("input").GetString()!,
                r.GetProperty("sha256").GetString()!,
                new PlatformKnobs
                {
                    Modules = knobs.GetProperty("modules").GetBoolean(),
                    AfterLateInitcall = knobs.GetProperty("afterLateInitcall").GetBoolean(),
                    FwDevlinkStrict = knobs.GetProperty("fwDevlinkStrict").GetBoolean(),
                    DeferredProbeTimeout = knobs.GetProperty("deferredProbeTimeout") is { ValueKind: JsonValueKind.Number } t ? t.GetInt32() : null,
                    PageSize = knobs.GetProperty("pageSize").GetInt32(),
                },
                Strings(knobs.GetProperty("device")),
                knobs.TryGetProperty("pci", out var pci) ? Strings(pci) : []);
            var strategy = StrategyNames.FromName(r.GetProperty("strategy").GetString() ?? "");
            if (strategy is null)
            {
                return (null, "unknown strategy");
            }

            return (new Trace(
                context,
                r.GetProperty("profile").GetString()!,
                [.. r.GetProperty("switches").EnumerateObject().Select(p => new KeyValuePair<string, string>(p.Name, p.Value.GetString()!))],
                r.GetProperty("granularity").GetString() == "fine" ? Granularity.Fine : Granularity.Coarse,
                strategy.Value,
                r.GetProperty("seed").GetInt32(),
                r.GetProperty("budget").GetInt32(),
                Strings(r.GetProperty("cluster")),
                r.GetProperty("invariant").GetString()!,
                r.GetProperty("device").GetString()!,
                r.GetProperty("message").GetString()!,
                Strings(r.GetProperty("schedule")),
                Strings(r.GetProperty("steps")),
                r.GetProperty("explicit").GetInt32(),
                r.TryGetProperty("contrastSchedule", out var cs) ? Strings(cs) : null,
                r.TryGetProperty("contrastSteps", out var ct) ? Strings(ct) : null), null);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return (null, $"malformed trace: {ex.Message}");
        }
    }

    /// <summary>The profile the trace ran: its base profile with every recorded switch value applied.</summary>
    public (Profile? Profile, string? Error) RestoreProfile()
    {
        var p = Kernel.Profiles.Find(Profile);
        if (p is null)
        {
            return (null, $"unknown profile '{Profile}'");
        }

        var switches = p.Switches;
        foreach (var (k, v) in Switches)
        {
            var (next, err) = SwitchCatalog.Apply(switches, $"{k}={v}");
            if (next is null)
            {
                return (null, err);
            }

            switches = next;
        }

        return (switches == p.Switches ? p : p with { Name = p.Name + "*", Switches = switches }, null);
    }

    /// <summary>Replays the trace on a platform built from the same firmware and knobs; reports whether the violation reproduces.</summary>
    public TraceReplay Replay(Platform platform, Profile profile)
    {
        ArgumentNullException.ThrowIfNull(platform);
        ArgumentNullException.ThrowIfNull(profile);
        var cluster = Exploration.Clusters.Find(platform, Cluster) ?? Exploration.Clusters.Whole(platform);
        var system = new KernelSystem(platform, profile, Granularity, cluster, narrate: true);
        var executor = new Executor();
        var rec = executor.Replay(system, Schedule);
        ExecutionRecord? contrast = ContrastSchedule is null ? null : executor.Replay(system, ContrastSchedule);
        bool reproduced;
        if (Invariant == "I5")
        {
            var j = cluster.Consumers.IndexOf(cluster.Consumers.FirstOrDefault(c => platform.Devices[c].Path == Device));
            reproduced = contrast is not null && j >= 0 && rec.Outcome.Facts[j] != contrast.Outcome.Facts[j];
        }
        else
        {
            reproduced = rec.Outcome.Violations.Any(v => v.Invariant == Invariant && v.Device == Device && v.Message == Message);
        }

        return new TraceReplay(this, rec, contrast, reproduced);
    }

    private static void WriteArray(Utf8JsonWriter w, string name, IEnumerable<string> items)
    {
        w.WriteStartArray(name);
        foreach (var s in items)
        {
            w.WriteStringValue(s);
        }

        w.WriteEndArray();
    }

    private static List<string> Strings(JsonElement e) => [.. e.EnumerateArray().Select(x => x.GetString()!)];
}

/// <summary>The result of replaying a trace: the execution (and for I5 the contrasting one) and whether the violation came back.</summary>
public sealed record TraceReplay(Trace Trace, ExecutionRecord Execution, ExecutionRecord? Contrast, bool Reproduced);
