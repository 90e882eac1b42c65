namespace IommuLab.Firmware.DeviceTree;

/// <summary>Structural comparison of two trees: names, order, property values, reservations.</summary>
/// <remarks>Labels and source positions are not part of a tree's content (a DTB has none), so they are ignored.</remarks>
public static class DeviceTreeComparer
{
    /// <summary>The first difference as one line naming the DT path, or null when the trees are equal.</summary>
    public static string? FirstDifference(DeviceTree a, DeviceTree b, bool compareHeader = false)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (!a.MemoryReservations.Select(r => (r.Address, r.Size)).SequenceEqual(b.MemoryReservations.Select(r => (r.Address, r.Size))))
        {
            return $"memory reservations differ ({a.MemoryReservations.Count} vs {b.MemoryReservations.Count} entries)";
        }

        if (compareHeader && a.BootCpuId != b.BootCpuId)
        {
            return $"boot cpu id differs ({a.BootCpuId} vs {b.BootCpuId})";
        }

        return CompareNode(a.Root, b.Root);
    }

    private static string? CompareNode(DtNode a, DtNode b)
    {
        if (a.Name != b.Name)
        {
            return $"{a.Path}: node name differs ('{a.Name}' vs '{b.Name}')";
        }

        if (a.Properties.Count != b.Properties.Count)
        {
            return $"{a.Path}: {a.Properties.Count} vs {b.Properties.Count} properties "
                + $"({string.Join(",", a.Properties.Select(p => p.Name))} vs {string.Join(",", b.Properties.Select(p => p.Name))})";
        }

        for (var i = 0; i < a.Properties.Count; i++)
        {
            var pa = a.Properties[i];
            var pb = b.Properties[i];
            if (pa.Name != pb.Name)
            {
                return $"{a.Path}: property #{i} is '{pa.Name}' vs '{pb.Name}'";
            }

            if (!pa.Value.Span.SequenceEqual(pb.Value.Span))
            {
                return $"{a.Path}: property '{pa.Name}' value differs ({Convert.ToHexString(pa.Value.Span)} vs {Convert.ToHexString(pb.Value.Span)})";
            }
        }

        if (a.Children.Count != b.Children.Count)
        {
            return $"{a.Path}: {a.Children.Count} vs {b.Children.Count} children";
        }

        for (var i = 0; i < a.Children.Count; i++)
        {
            if (CompareNode(a.Children[i], b.Children[i]) is string diff)
            {
                return diff;
            }
        }

        return null;
    }
}
