using IommuLab.Model.Dma;

namespace IommuLab.Model.Exploration;

/// <summary>
/// IDMA: I3 and I4 observed through DMA. Every bound consumer's DMA of a known pattern, issued with the DMA ops
/// it was bound with, reaches its buffer through every IOMMU reference of F(D) (translated, or bypassed onto
/// it). A stream left disabled (I3: configured but not programmed), a walk fault (I4: direct DMA into a
/// translating stream), the wrong memory or a failed mapping is a violation, one per device with one fact per path.
/// </summary>
public sealed class IdmaDmaReachesBuffer : IInvariant
{
    public string Id => "IDMA";

    public string Title => "DMA reaches its buffer";

    public IEnumerable<Violation> Check(Kernel.Kernel k)
    {
        ArgumentNullException.ThrowIfNull(k);
        foreach (var device in k.Dma.EndToEnd().GroupBy(r => r.DevicePath))
        {
            var failed = device.Where(r => !r.Ok).ToList();
            if (failed.Count == 0)
            {
                continue;
            }

            var total = device.Count();
            yield return new Violation(Id, device.Key, [.. failed.Select(r => r.Describe())],
                $"DMA does not reach the buffer through {failed.Count} of {total} path{(total == 1 ? "" : "s")} ({Summary(failed)})");
        }
    }

    private static string Summary(IEnumerable<DmaPathResult> failed) =>
        string.Join(", ", failed.Select(r => r.Kind switch
        {
            DmaOutcomeKind.Fault => r.Fault == PageTables.WalkFaultKind.StreamDisabled ? "stream disabled" : "fault",
            DmaOutcomeKind.WrongBuffer => "wrong memory",
            _ => "mapping failed",
        }).Distinct());
}
