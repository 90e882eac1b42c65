using System.Collections.Immutable;
using IommuLab.Firmware.DeviceTree;

namespace IommuLab.Model.Kernel;

/// <summary>
/// Stand-in for IommuLab.Firmware.Topology's <c>iommus</c> decoding until it is on main: the kernel's
/// <c>while (!of_parse_phandle_with_args(np, "iommus", "#iommu-cells", idx, &amp;spec))</c> loop over a flat cell array.
/// </summary>
internal static class InterimIommusDecoder
{
    private const int MaxPhandleArgs = 16;

    public static FwRefList Decode(DeviceTree tree, DtProperty iommus, IReadOnlyDictionary<DtNode, int> instances)
    {
        var cells = iommus.Length / 4;
        var refs = ImmutableArray.CreateBuilder<FwRef>();
        var pos = 0;
        while (true)
        {
            if (pos >= cells)
            {
                return new(refs.ToImmutable(), Errno.ENOENT, null);
            }

            var phandle = iommus.GetCell(pos);
            if (phandle == 0)
            {
                return new(refs.ToImmutable(), Errno.ENOENT, null);
            }

            var target = tree.FindByPhandle(phandle);
            if (target is null)
            {
                return new(refs.ToImmutable(), Errno.EINVAL, $"could not find phandle {phandle}");
            }

            if (target.FindProperty("#iommu-cells") is not { } c || !c.TryGetU32(out var count))
            {
                return new(refs.ToImmutable(), Errno.EINVAL, $"could not get #iommu-cells for {target.Path}");
            }

            if (pos + 1 + (long)count > cells)
            {
                return new(refs.ToImmutable(), Errno.EINVAL, $"#iommu-cells = {count} found {cells - pos - 1}");
            }

            var args = ImmutableArray.CreateBuilder<uint>();
            for (var a = 0; a < Math.Min(count, MaxPhandleArgs); a++)
            {
                args.Add(iommus.GetCell(pos + 1 + a));
            }

            int? instance = instances.TryGetValue(target, out var ix) ? ix : null;
            refs.Add(new FwRef(refs.Count, target.Path, instance, DtPlatformBuilder.IsAvailable(target), args.ToImmutable()));
            pos = checked(pos + 1 + (int)count);
        }
    }
}
