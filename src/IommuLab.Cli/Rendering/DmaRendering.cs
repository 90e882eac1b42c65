using System.Text.Json;
using IommuLab.Model.Dma;
using IommuLab.Model.Kernel;

namespace IommuLab.Cli.Rendering;

/// <summary>The end-to-end DMA results of `run`, in text and in JSON (the "dma" member, docs/run-json.md).</summary>
public static class DmaRendering
{
    /// <summary>One line per path, with the stream's registers under it.</summary>
    public static void WriteText(TextWriter o, Kernel k)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(k);
        var results = k.Dma.EndToEnd();
        if (results.Count == 0)
        {
            return;
        }

        o.WriteLine();
        o.WriteLine($"DMA after quiescence (each bound consumer reads a {DmaCheck.PatternLength}-byte pattern through every IOMMU reference)");
        foreach (var r in results)
        {
            o.WriteLine($"  {(r.Ok ? "ok  " : "FAIL")} {r.Describe()}");
            if (r.Registers.Length > 0)
            {
                o.WriteLine($"       {r.Iommu} sid {r.Stream}: {r.Registers}");
            }
        }
    }

    /// <summary>The "dma" array: one object per path.</summary>
    public static void WriteJson(Utf8JsonWriter w, Kernel k)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(k);
        w.WriteStartArray("dma");
        foreach (var r in k.Dma.EndToEnd())
        {
            w.WriteStartObject();
            w.WriteString("device", r.DevicePath);
            w.WriteString("name", r.Device);
            if (r.Iommu is null)
            {
                w.WriteNull("iommu");
                w.WriteNull("stream");
            }
            else
            {
                w.WriteString("iommu", r.Iommu);
                w.WriteNumber("stream", r.Stream!.Value);
            }

            w.WriteString("dmaOps", r.Mode == DmaMode.IommuDma ? "iommu-dma" : "direct");
            w.WriteString("outcome", r.Kind switch
            {
                DmaOutcomeKind.Reached => "reached",
                DmaOutcomeKind.Bypassed => "bypassed",
                DmaOutcomeKind.Fault => "fault",
                DmaOutcomeKind.WrongBuffer => "wrong-buffer",
                _ => "mapping-failed",
            });
            w.WriteBoolean("ok", r.Ok);
            w.WriteString("busAddress", $"0x{r.BusAddress:x}");
            w.WriteString("buffer", $"0x{r.BufferAddress:x}");
            if (r.PhysicalAddress is { } pa)
            {
                w.WriteString("physical", $"0x{pa:x}");
            }
            else
            {
                w.WriteNull("physical");
            }

            if (r.Kind == DmaOutcomeKind.Fault)
            {
                w.WriteString("fault", FaultName(r.Fault));
                w.WriteNumber("level", r.Level);
            }
            else
            {
                w.WriteNull("fault");
                w.WriteNull("level");
            }

            w.WriteString("detail", r.Detail);
            w.WriteString("registers", r.Registers);
            w.WriteString("message", r.Describe());
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    private static string FaultName(Model.PageTables.WalkFaultKind f) => f switch
    {
        Model.PageTables.WalkFaultKind.StreamDisabled => "stream-disabled",
        Model.PageTables.WalkFaultKind.Translation => "translation",
        Model.PageTables.WalkFaultKind.Permission => "permission",
        Model.PageTables.WalkFaultKind.AccessFlag => "access-flag",
        Model.PageTables.WalkFaultKind.AddressSize => "address-size",
        Model.PageTables.WalkFaultKind.BadTtbr => "bad-ttbr",
        Model.PageTables.WalkFaultKind.WalkExternalAbort => "walk-external-abort",
        _ => "output-outside-memory",
    };
}
