namespace IommuLab.Firmware.DeviceTree;

/// <summary>A whole device tree: header facts, memory reservations and the root node.</summary>
public sealed class DeviceTree
{
    private Dictionary<uint, DtNode>? _byPhandle;

    public DeviceTree(DtNode root, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(sourceName);
        Root = root;
        SourceName = sourceName;
    }

    public DtNode Root { get; }

    /// <summary>Where the tree came from (file path or a descriptive name); used in every message.</summary>
    public string SourceName { get; }

    public List<MemoryReservation> MemoryReservations { get; } = [];

    /// <summary>The header's boot_cpuid_phys (dtc's -b; 0 by default).</summary>
    public uint BootCpuId { get; set; }

    /// <summary>FDT header version the tree was read with (17 for anything dtc writes).</summary>
    public uint Version { get; set; } = 17;

    public uint LastCompatibleVersion { get; set; } = 16;

    /// <summary>True when the source declared /plugin/ (an overlay).</summary>
    public bool IsPlugin { get; set; }

    /// <summary>Zero bytes between the end of the strings block and totalsize (dtc's -p/-S padding).</summary>
    public int TrailingPadding { get; set; }

    /// <summary>All nodes in DTB (depth-first pre-) order.</summary>
    public IEnumerable<DtNode> AllNodes() => Root.DescendantsAndSelf();

    /// <summary>The node whose phandle is <paramref name="phandle"/>, like of_find_node_by_phandle().</summary>
    public DtNode? FindByPhandle(uint phandle)
    {
        _byPhandle ??= BuildPhandleIndex();
        return _byPhandle.GetValueOrDefault(phandle);
    }

    /// <summary>The node at an absolute path; a component without unit address matches a unique "name@unit".</summary>
    public DtNode? FindByPath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!path.StartsWith('/'))
        {
            return null;
        }

        var node = Root;
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            var next = node.FindChild(part);
            if (next is null && !part.Contains('@'))
            {
                foreach (var c in node.Children)
                {
                    if (c.BaseName == part)
                    {
                        if (next is not null)
                        {
                            return null;
                        }

                        next = c;
                    }
                }
            }

            if (next is null)
            {
                return null;
            }

            node = next;
        }

        return node;
    }

    /// <summary>The node carrying DTS label <paramref name="label"/>, or null (DTB input has no labels).</summary>
    public DtNode? FindByLabel(string label)
    {
        foreach (var n in AllNodes())
        {
            if (n.Labels.Contains(label, StringComparer.Ordinal))
            {
                return n;
            }
        }

        return null;
    }

    /// <summary>The DTB reader built the index while validating; reuse it.</summary>
    internal void SetPhandleIndex(Dictionary<uint, DtNode> index) => _byPhandle = index;

    /// <summary>Forget cached indexes after the tree was changed (DTS compiler only).</summary>
    internal void InvalidateIndexes() => _byPhandle = null;

    private Dictionary<uint, DtNode> BuildPhandleIndex()
    {
        var map = new Dictionary<uint, DtNode>();
        foreach (var n in AllNodes())
        {
            if (n.Phandle is uint ph && ph != 0 && ph != uint.MaxValue)
            {
                map.TryAdd(ph, n);
            }
        }

        return map;
    }
}
