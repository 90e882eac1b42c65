using System.Text.Json;
using IommuLab.Cli.Commands;
using IommuLab.Model.Kernel;

namespace IommuLab.Cli.Rendering;

/// <summary>The JSON form of `run` (schema in docs/run-json.md; property order is part of the contract).</summary>
public static class RunJson
{
    public const int SchemaVersion = 1;

    public static void Write(TextWriter o, RunCommand.RunRequest request, RunResult r)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(r);
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            var x = r.Execution;
            var k = x.Kernel;
            w.WriteStartObject();
            w.WriteNumber("schema", SchemaVersion);
            w.WriteString("input", Path.GetFileName(request.File));
            w.WriteStartObject("profile");
            w.WriteString("name", x.Profile.Name);
            w.WriteString("kernel", x.Profile.Kernel);
            w.WriteStartObject("switches");
            foreach (var s in SwitchCatalog.All)
            {
                w.WriteString(s.Name, s.Get(x.Profile.Switches));
            }

            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteStartArray("schedule");
            foreach (var e in x.Schedule)
            {
                w.WriteStringValue(e.ToString());
            }

            w.WriteEndArray();
            w.WriteStartArray("steps");
            foreach (var s in x.Steps)
            {
                w.WriteStartObject();
                w.WriteNumber("index", s.Index);
                w.WriteString("event", s.Event);
                w.WriteStartArray("log");
                foreach (var e in k.Events.Skip(s.FirstEvent).Take(s.EventCount))
                {
                    w.WriteStartObject();
                    w.WriteString("level", e.Level.ToString().ToLowerInvariant());
                    w.WriteString("thread", e.Thread);
                    if (e.Device is null)
                    {
                        w.WriteNull("device");
                    }
                    else
                    {
                        w.WriteString("device", e.Device);
                    }

                    w.WriteString("function", e.Function);
                    w.WriteString("message", e.Message);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartArray("devices");
            foreach (var d in r.Devices)
            {
                w.WriteStartObject();
                w.WriteString("path", d.Path);
                w.WriteString("name", d.Name);
                w.WriteString("class", d.Class.ToString());
                w.WriteString("driverState", d.DriverState);
                w.WriteString("dma", d.Dma);
                Refs(w, "firmware", d.Firmware);
                Refs(w, "configured", d.Configured);
                Refs(w, "groupCoverage", d.GroupCoverage);
                w.WriteString("devIommu", d.DevIommu);
                w.WriteString("fwspec", d.Fwspec);
                w.WriteString("priv", d.Priv);
                NullableString(w, "iommuDev", d.PrimaryIommu);
                if (d.Group is { } g)
                {
                    w.WriteNumber("group", g);
                }
                else
                {
                    w.WriteNull("group");
                }

                NullableString(w, "domain", d.Domain);
                w.WriteStartArray("warnings");
                foreach (var s in d.Warnings)
                {
                    w.WriteStringValue(s);
                }

                w.WriteEndArray();
                w.WriteString("driver", d.DriverAvailability.ToString().ToLowerInvariant());
                w.WriteStartArray("dmaAliases");
                foreach (var a in d.DmaAliases)
                {
                    w.WriteStartObject();
                    w.WriteString("rid", PciFunction.Format(a.Rid));
                    w.WriteString("source", a.Source);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartArray("instances");
            foreach (var (inst, streams) in r.InstanceStreams)
            {
                w.WriteStartObject();
                w.WriteString("path", inst.Info.Path);
                w.WriteString("name", inst.Name);
                w.WriteString("compatible", inst.Info.Compatible);
                w.WriteBoolean("registered", inst.Registered);
                w.WriteBoolean("registrationFailed", inst.RegistrationFailed);
                w.WriteStartArray("streams");
                foreach (var s in streams)
                {
                    w.WriteStartObject();
                    w.WriteNumber("sid", s.Sid);
                    w.WriteString("mode", s.Mode.ToString().ToLowerInvariant());
                    NullableString(w, "ttbr", s.Ttbr);
                    if (s.Group is { } sg)
                    {
                        w.WriteNumber("group", sg);
                    }
                    else
                    {
                        w.WriteNull("group");
                    }

                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartArray("leaks");
            foreach (var l in r.Leaks)
            {
                w.WriteStartObject();
                w.WriteString("kind", l.Kind.ToString());
                w.WriteNumber("id", l.Id);
                w.WriteString("owner", l.Owner);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartArray("violations");
            foreach (var v in r.Violations)
            {
                w.WriteStartObject();
                w.WriteString("invariant", v.Invariant);
                w.WriteString("device", v.Device);
                w.WriteString("message", v.Message);
                w.WriteStartArray("facts");
                foreach (var f in v.Facts)
                {
                    w.WriteStringValue(f);
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartArray("platformNotes");
            foreach (var n in k.Platform.Notes)
            {
                w.WriteStringValue(n);
            }

            w.WriteEndArray();
            w.WriteNumber("clock", k.Clock);
            w.WriteStartObject("deferredProbeTimeout");
            w.WriteNumber("seconds", k.DeferredProbeTimeout);
            if (k.TimeoutDeadline is { } deadline)
            {
                w.WriteNumber("deadline", deadline);
            }
            else
            {
                w.WriteNull("deadline");
            }

            w.WriteBoolean("expired", k.TimeoutExpired);
            w.WriteBoolean("initcallsDone", k.InitcallsDone);
            w.WriteEndObject();
            w.WriteStartArray("drivers");
            foreach (var d in r.Drivers)
            {
                w.WriteStartObject();
                w.WriteString("name", d.Name);
                w.WriteString("availability", d.Availability.ToString().ToLowerInvariant());
                w.WriteBoolean("registered", d.Registered);
                w.WriteNumber("moduleRefs", d.ModuleRefs);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            DmaRendering.WriteJson(w, k);
            w.WriteEndObject();
        }

        o.WriteLine(System.Text.Encoding.UTF8.GetString(ms.ToArray()));
    }

    private static void Refs(Utf8JsonWriter w, string name, IReadOnlyList<StreamRef> refs)
    {
        w.WriteStartArray(name);
        foreach (var r in refs)
        {
            w.WriteStartObject();
            w.WriteString("iommu", r.Instance);
            w.WriteNumber("id", r.Id);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    private static void NullableString(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, value);
        }
    }
}
