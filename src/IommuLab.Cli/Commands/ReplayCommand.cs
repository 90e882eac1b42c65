using System.CommandLine;
using System.Text.Json;
using IommuLab.Firmware.DeviceTree;
using IommuLab.Model.Exploration;
using IommuLab.Model.Kernel;

namespace IommuLab.Cli.Commands;

/// <summary>`iommulab replay TRACE.json`: restores the configuration from the trace alone and re-runs its schedule.</summary>
public static class ReplayCommand
{
    public static Command Create(Func<string, DeviceTree> load)
    {
        var file = new Argument<string>("trace") { Description = "A trace written by `check --traces DIR`" };
        var format = new Option<string>("--format") { Description = "text, json, dot (the final state as Graphviz source) or svg (through Graphviz dot)", DefaultValueFactory = _ => "text" };
        format.AcceptOnlyFromAmong("text", "json", "dot", "svg");
        var cmd = new Command("replay", "Re-run a trace: the narration in kernel vocabulary and the state after every step") { file, format };
        cmd.SetAction(parse =>
        {
            var (replay, err) = Execute(parse.GetValue(file)!, load, FirmwareLimitOptions.Read(parse).Acpi);
            if (replay is null)
            {
                parse.InvocationConfiguration.Error.WriteLine($"iommulab replay: {err}");
                return CheckCommand.ExitBadInput;
            }

            var fmt = parse.GetValue(format);
            if (fmt is "dot" or "svg")
            {
                using var dot = new StringWriter();
                Rendering.ReplayDot.Write(replay, dot);
                if (fmt == "dot")
                {
                    parse.InvocationConfiguration.Output.Write(dot.ToString());
                }
                else if (Rendering.Graphviz.TryRenderSvg(dot.ToString(), out var svg, out var message))
                {
                    parse.InvocationConfiguration.Output.Write(svg);
                }
                else
                {
                    parse.InvocationConfiguration.Error.WriteLine($"iommulab replay: {message} (or use --format dot)");
                    return CheckCommand.ExitBadInput;
                }
            }
            else
            {
                Write(parse.InvocationConfiguration.Output, replay, fmt == "json");
            }

            return replay.Reproduced ? CheckCommand.ExitViolations : CheckCommand.ExitOk;
        });
        return cmd;
    }

    /// <summary>Replays the trace at <paramref name="path"/>; an ACPI input is read under <paramref name="acpiOptions"/> (the --max-* switches).</summary>
    public static (TraceReplay? Replay, string? Error) Execute(string path, Func<string, DeviceTree> load, IommuLab.Firmware.Acpi.AcpiTableOptions? acpiOptions = null)
    {
        ArgumentNullException.ThrowIfNull(load);
        string json;
        try
        {
            json = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return (null, ex.Message);
        }

        var (trace, err) = Trace.Parse(json);
        if (trace is null)
        {
            return (null, err);
        }

        var bytes = CheckCommand.InputBytes(trace.Context.Input);
        if (bytes is null)
        {
            return (null, $"cannot read the trace's input {trace.Context.Input}");
        }

        if (TraceContext.Hash(bytes) != trace.Context.Sha256)
        {
            return (null, $"{trace.Context.Input} changed since the trace was written (SHA-256 differs)");
        }

        var (profile, perr) = trace.RestoreProfile();
        if (profile is null)
        {
            return (null, perr);
        }

        var (platform, berr) = PlatformInput.Build(trace.Context.Input, load, trace.Context.Knobs, trace.Context.DeviceKnobs, trace.Context.Pci ?? [], acpiOptions);
        return platform is null ? (null, berr) : (trace.Replay(platform, profile), null);
    }

    private static void Write(TextWriter o, TraceReplay r, bool json)
    {
        var run = (KernelSystemRun)r.Execution.Run;
        var k = run.Kernel;
        if (json)
        {
            using var ms = new MemoryStream();
            using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteString("profile", r.Trace.Profile);
                w.WriteString("invariant", r.Trace.Invariant);
                w.WriteString("device", r.Trace.Device);
                w.WriteBoolean("reproduced", r.Reproduced);
                w.WriteStartArray("steps");
                foreach (var s in run.Narration)
                {
                    w.WriteStartObject();
                    w.WriteString("step", s.Name);
                    w.WriteString("phase", s.Phase);
                    w.WriteStartArray("log");
                    foreach (var e in k.Events.Skip(s.FirstEvent).Take(s.EventCount))
                    {
                        w.WriteStringValue($"{e.Level} {e.Device}: {e.Function}: {e.Message}");
                    }

                    w.WriteEndArray();
                    w.WriteStartArray("state");
                    foreach (var line in s.State)
                    {
                        w.WriteStringValue(line);
                    }

                    w.WriteEndArray();
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteStartArray("violations");
                foreach (var v in r.Execution.Outcome.Violations)
                {
                    w.WriteStringValue($"{v.Invariant} {v.Device}: {v.Message}");
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            o.WriteLine(System.Text.Encoding.UTF8.GetString(ms.ToArray()));
            return;
        }

        o.WriteLine($"replay {r.Trace.Context.Input} under {r.Trace.Profile} ({(r.Trace.Granularity == Granularity.Fine ? "fine" : "coarse")}): {r.Trace.Invariant} {r.Trace.Device} {(r.Reproduced ? "reproduced" : "NOT reproduced")}");
        foreach (var s in run.Narration)
        {
            var events = k.Events.Skip(s.FirstEvent).Take(s.EventCount).Where(e => e.Level != EventLevel.Trace || s.Phase != "boot").ToList();
            o.WriteLine($"[{s.Index}] {s.Name}");
            foreach (var e in events)
            {
                o.WriteLine($"    {(e.Level is EventLevel.Warn ? "WARN" : e.Level is EventLevel.Error ? "ERR" : ""),-4} {(e.Device is null ? "" : e.Device + ": ")}{e.Function}: {e.Message}");
            }

            foreach (var line in s.State)
            {
                o.WriteLine($"      = {line}");
            }
        }

        o.WriteLine();
        foreach (var v in r.Execution.Outcome.Violations)
        {
            o.WriteLine($"{v.Invariant} {v.Device}: {v.Message}");
        }
    }
}
