using System.Text.Json;
using System.Text.Json.Serialization;
using IommuLab.Firmware.Topology;

namespace IommuLab.Cli.Rendering;

/// <summary>The topology as JSON (schema: docs/topology-json.md). Explicit DTOs keep the schema stable and the key order fixed.</summary>
public static class TopologyJson
{
    /// <summary>Bumped on any incompatible schema change.</summary>
    public const int SchemaVersion = 1;

    public static string Serialize(IommuTopology topology)
    {
        ArgumentNullException.ThrowIfNull(topology);
        return JsonSerializer.Serialize(ToDto(topology), TopologyJsonContext.Default.TopologyDoc);
    }

    public static void Write(IommuTopology topology, TextWriter w)
    {
        ArgumentNullException.ThrowIfNull(w);
        w.Write(Serialize(topology));
        w.Write('\n');
    }

    private static TopologyDoc ToDto(IommuTopology t)
    {
        var c = t.Counts;
        return new TopologyDoc(
            SchemaVersion,
            t.SourceName,
            new CountsDoc(c.Providers, c.EnabledProviders, c.Consumers, c.DisabledConsumers, c.References, c.MapUsers,
                c.EnabledConsumersReferencingDisabledProvider, c.MultiInstanceConsumers, c.Problems),
            [.. t.Providers.Select(p => new ProviderDoc(p.Path, p.Labels, p.Phandle, p.Compatible, Status(p.Status), p.IommuCells,
                p.Reg is { } r ? new RegDoc(r.AddressCells, r.SizeCells, [.. r.Ranges.Select(x => new RangeDoc($"0x{x.Address:x}", $"0x{x.Size:x}"))], r.TrailingCells) : null))],
            [.. t.Consumers.Select(x => new ConsumerDoc(x.Path, x.Labels, x.Compatible, Status(x.Status), x.Cells, x.TrailingBytes,
                [.. x.References.Select(Ref)],
                new EndDoc(Kebab(x.End.Reason.ToString()), x.End.Index, x.End.CellOffset, x.End.Errno.ToString(), x.End.Phandle, x.End.TargetPath, x.End.KernelLog),
                x.IgnoredCells, [.. x.IgnoredReferences.Select(Ref)]))],
            [.. t.MapUsers.Select(m => new MapUserDoc(m.Path, m.Labels, m.Compatible, Status(m.Status), m.Cells, m.ByteLength, m.Mask, m.MaskDeclared,
                m.LayoutsAgree, [Reading(m.FourCell, "before v7.2"), Reading(m.TargetCells, "v7.2+")]))],
            [.. t.Problems.Select(p => new ProblemDoc(p.RuleId, p.Severity.ToString().ToLowerInvariant(), p.Path, p.Message))]);
    }

    private static StatusDoc Status(NodeStatus s) => new(s.Value, Kebab(s.Kind.ToString()), s.IsAvailable);

    private static ReferenceDoc Ref(IommuReference r) =>
        new(r.Index, r.CellOffset, r.Phandle, r.TargetPath, r.TargetLabels, r.TargetAvailable, r.Args, r.DeclaredArgCount);

    private static ReadingDoc Reading(IommuMapReading r, string kernels) => new(
        Kebab(r.Layout.ToString()),
        kernels,
        [.. r.Entries.Select(e => new MapEntryDoc(e.Index, e.CellOffset, e.IdBase, e.Phandle, e.TargetPath, e.TargetAvailable, e.TargetIommuCells,
            e.OutBase, e.Length, e.IdBaseOutsideMask))],
        r.Stop is { } s ? new StopDoc(Kebab(s.Fault.ToString()), s.EntryIndex, s.CellOffset, s.IdBase, s.Errno.ToString(), s.KernelLog.Length > 0 ? s.KernelLog : null) : null,
        r.LegacyOneCellTolerated);

    /// <summary>"TargetNotProvider" -> "target-not-provider".</summary>
    private static string Kebab(string pascal)
    {
        var b = new System.Text.StringBuilder();
        foreach (var ch in pascal)
        {
            if (char.IsUpper(ch) && b.Length > 0)
            {
                b.Append('-');
            }

            b.Append(char.ToLowerInvariant(ch));
        }

        return b.ToString();
    }
}

public sealed record TopologyDoc(int SchemaVersion, string Source, CountsDoc Counts, IReadOnlyList<ProviderDoc> Providers,
    IReadOnlyList<ConsumerDoc> Consumers, IReadOnlyList<MapUserDoc> MapUsers, IReadOnlyList<ProblemDoc> Problems);

public sealed record CountsDoc(int Providers, int EnabledProviders, int Consumers, int DisabledConsumers, int References, int MapUsers,
    int EnabledConsumersReferencingDisabledProvider, int MultiInstanceConsumers, int Problems);

public sealed record StatusDoc(string? Value, string Kind, bool Available);

public sealed record RangeDoc(string Address, string Size);

public sealed record RegDoc(int AddressCells, int SizeCells, IReadOnlyList<RangeDoc> Ranges, int TrailingCells);

public sealed record ProviderDoc(string Path, IReadOnlyList<string> Labels, uint? Phandle, IReadOnlyList<string> Compatible, StatusDoc Status,
    uint? IommuCells, RegDoc? Reg);

public sealed record ReferenceDoc(int Index, int CellOffset, uint Phandle, string Target, IReadOnlyList<string> TargetLabels, bool TargetAvailable,
    IReadOnlyList<uint> Args, uint DeclaredArgCount);

public sealed record EndDoc(string Reason, int Index, int CellOffset, string Errno, uint? Phandle, string? Target, string? KernelLog);

public sealed record ConsumerDoc(string Path, IReadOnlyList<string> Labels, IReadOnlyList<string> Compatible, StatusDoc Status, IReadOnlyList<uint> Cells,
    int TrailingBytes, IReadOnlyList<ReferenceDoc> References, EndDoc End, IReadOnlyList<uint> IgnoredCells, IReadOnlyList<ReferenceDoc> IgnoredReferences);

public sealed record MapEntryDoc(int Index, int CellOffset, uint IdBase, uint Phandle, string? Target, bool TargetAvailable, uint? TargetIommuCells,
    IReadOnlyList<uint> OutBase, uint Length, bool IdBaseOutsideMask);

public sealed record StopDoc(string Fault, int EntryIndex, int CellOffset, uint? IdBase, string Errno, string? KernelLog);

public sealed record ReadingDoc(string Layout, string Kernels, IReadOnlyList<MapEntryDoc> Entries, StopDoc? Stop, bool LegacyOneCellTolerated);

public sealed record MapUserDoc(string Path, IReadOnlyList<string> Labels, IReadOnlyList<string> Compatible, StatusDoc Status, IReadOnlyList<uint> Cells,
    int ByteLength, uint Mask, bool MaskDeclared, bool LayoutsAgree, IReadOnlyList<ReadingDoc> Readings);

public sealed record ProblemDoc(string RuleId, string Severity, string Path, string Message);

/// <summary>Source-generated (reflection-free, AOT friendly) serializer for the topology DTOs.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true, NewLine = "\n")]
[JsonSerializable(typeof(TopologyDoc))]
internal sealed partial class TopologyJsonContext : JsonSerializerContext;
