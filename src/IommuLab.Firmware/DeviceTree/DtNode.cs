namespace IommuLab.Firmware.DeviceTree;

/// <summary>A Device Tree node: name (with unit address), properties and children in source order.</summary>
/// <remarks>
/// Built by the DTB reader or the DTS compiler, then handed out as a read-only view; the
/// internal mutators exist for the DTS compiler's amendments and deletions.
/// </remarks>
public sealed class DtNode
{
    private readonly List<DtProperty> _properties = [];
    private readonly List<DtNode> _children = [];
    private List<string>? _labels;

    public DtNode(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        Name = name;
    }

    /// <summary>Full node name, e.g. "dart@382f00000"; the root's name is "".</summary>
    public string Name { get; internal set; }

    public DtNode? Parent { get; private set; }

    public IReadOnlyList<DtProperty> Properties => _properties;

    public IReadOnlyList<DtNode> Children => _children;

    /// <summary>Labels a DTS source put on this node (empty for DTB input).</summary>
    public IReadOnlyList<string> Labels => (IReadOnlyList<string>?)_labels ?? [];

    /// <summary>Byte offset of the FDT_BEGIN_NODE token in the DTB, or -1.</summary>
    public int DtbOffset { get; internal set; } = -1;

    /// <summary>Where a DTS source first defined this node, if it came from DTS.</summary>
    public SourcePosition? SourcePosition { get; internal set; }

    /// <summary>Name without the unit address ("dart" for "dart@382f00000").</summary>
    public string BaseName => Name.IndexOf('@') is var at and >= 0 ? Name[..at] : Name;

    /// <summary>Unit address ("382f00000"), or null when the name has none.</summary>
    public string? UnitAddress => Name.IndexOf('@') is var at and >= 0 ? Name[(at + 1)..] : null;

    /// <summary>Absolute path, "/" for the root.</summary>
    public string Path
    {
        get
        {
            if (Parent is null)
            {
                return "/";
            }

            var parts = new Stack<string>();
            for (var n = this; n.Parent is not null; n = n.Parent)
            {
                parts.Push(n.Name);
            }

            return "/" + string.Join('/', parts);
        }
    }

    /// <summary>Depth below the root (root = 0).</summary>
    public int Depth
    {
        get
        {
            var d = 0;
            for (var n = Parent; n is not null; n = n.Parent)
            {
                d++;
            }

            return d;
        }
    }

    /// <summary>The node's phandle from "phandle" (or the legacy "linux,phandle"), if it has one.</summary>
    public uint? Phandle
    {
        get
        {
            var p = FindProperty("phandle") ?? FindProperty("linux,phandle");
            return p is not null && p.Length == 4 ? p.GetCell(0) : null;
        }
    }

    public DtProperty? FindProperty(string name)
    {
        foreach (var p in _properties)
        {
            if (p.Name == name)
            {
                return p;
            }
        }

        return null;
    }

    public DtNode? FindChild(string name)
    {
        foreach (var c in _children)
        {
            if (c.Name == name)
            {
                return c;
            }
        }

        return null;
    }

    /// <summary>This node and all below it, depth-first pre-order (the DTB order).</summary>
    public IEnumerable<DtNode> DescendantsAndSelf()
    {
        var stack = new Stack<DtNode>();
        stack.Push(this);
        while (stack.Count > 0)
        {
            var n = stack.Pop();
            yield return n;
            for (var i = n._children.Count - 1; i >= 0; i--)
            {
                stack.Push(n._children[i]);
            }
        }
    }

    internal void AddLabel(string label)
    {
        _labels ??= [];
        if (!_labels.Contains(label, StringComparer.Ordinal))
        {
            _labels.Add(label);
        }
    }

    internal void RemoveLabel(string label) => _labels?.Remove(label);

    /// <summary>Adds, or replaces in place (keeping its position, as dtc does), a property.</summary>
    internal void SetProperty(DtProperty property)
    {
        for (var i = 0; i < _properties.Count; i++)
        {
            if (_properties[i].Name == property.Name)
            {
                foreach (var l in _properties[i].Labels)
                {
                    property.AddLabel(l);
                }

                _properties[i] = property;
                return;
            }
        }

        _properties.Add(property);
    }

    /// <summary>Appends without checking for duplicates (the DTB reader checks separately).</summary>
    internal void AppendProperty(DtProperty property) => _properties.Add(property);

    internal bool RemoveProperty(string name) => _properties.RemoveAll(p => p.Name == name) > 0;

    internal void AddChild(DtNode child)
    {
        if (child.Parent is not null)
        {
            throw new InvalidOperationException($"node {child.Name} already has a parent");
        }

        child.Parent = this;
        _children.Add(child);
    }

    internal bool RemoveChild(DtNode child)
    {
        if (_children.Remove(child))
        {
            child.Parent = null;
            return true;
        }

        return false;
    }

    public override string ToString() => Path;
}
