namespace IommuLab.Firmware.DeviceTree;

/// <summary>A Device Tree node: name (with unit address), properties and children in source order.</summary>
/// <remarks>
/// Built by the DTB reader or the DTS compiler, then handed out as a read-only view; the
/// internal mutators exist for the DTS compiler's amendments and deletions.
/// </remarks>
public sealed class DtNode
{
    private static readonly List<DtProperty> NoProperties = [];

    // Lists are allocated at their final size by the DTB reader, or lazily: most nodes are
    // leaves, and the explorer's corpus scan reads hundreds of thousands of them.
    private List<DtProperty> _properties = NoProperties;

    // Set by the DTB reader: the property list is built from the blob on first use.
    // _lazy is written last and read first, so a non-null value implies valid offsets.
    private volatile DtbSource? _lazy;
    private int _lazyFirstToken;
    private int _lazyCount;
    private List<DtNode>? _children;
    private SourceExtras? _extras;

    public DtNode(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        Name = name;
    }

    /// <summary>Full node name, e.g. "dart@382f00000"; the root's name is "".</summary>
    public string Name { get; internal set; }

    public DtNode? Parent { get; private set; }

    public IReadOnlyList<DtProperty> Properties => _lazy is null ? _properties : Materialize();

    public IReadOnlyList<DtNode> Children => (IReadOnlyList<DtNode>?)_children ?? [];

    /// <summary>Labels a DTS source put on this node (empty for DTB input).</summary>
    public IReadOnlyList<string> Labels => (IReadOnlyList<string>?)_extras?.Labels ?? [];

    /// <summary>Byte offset of the FDT_BEGIN_NODE token in the DTB, or -1.</summary>
    public int DtbOffset { get; internal set; } = -1;

    /// <summary>Where a DTS source first defined this node, if it came from DTS.</summary>
    public SourcePosition? SourcePosition
    {
        get => _extras?.Position;
        internal set => (_extras ??= new()).Position = value;
    }

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

            // Cached, and rebuilt when this node's name or its parent's path has changed since (a DTS merge renames).
            var parent = Parent.Path;
            var name = Name;
            if (_path is null || !ReferenceEquals(parent, _pathParent) || !ReferenceEquals(name, _pathName))
            {
                _path = parent.Length == 1 ? "/" + name : parent + "/" + name;
                _pathParent = parent;
                _pathName = name;
            }

            return _path;
        }
    }

    private string? _path;
    private string? _pathParent;
    private string? _pathName;

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

    /// <summary>The node's phandle: the first 4-byte "phandle" or legacy "linux,phandle", as unflattening takes it.</summary>
    public uint? Phandle
    {
        get
        {
            if (FindProperty("phandle") is null && FindProperty("linux,phandle") is null)
            {
                return null;
            }

            foreach (var p in Properties)
            {
                if (p.Name is "phandle" or "linux,phandle" && p.Length == 4)
                {
                    return p.GetCell(0);
                }
            }

            return null;
        }
    }

    public DtProperty? FindProperty(string name)
    {
        if (_lazy is { } lazy && !DtbLazyProperties.Contains(lazy, _lazyFirstToken, _lazyCount, name))
        {
            return null;
        }

        foreach (var p in Properties)
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
        if (_children is null)
        {
            return null;
        }

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
            if (n._children is { } kids)
            {
                for (var i = kids.Count - 1; i >= 0; i--)
                {
                    stack.Push(kids[i]);
                }
            }
        }
    }

    internal void AddLabel(string label)
    {
        var labels = (_extras ??= new()).Labels ??= [];
        if (!labels.Contains(label, StringComparer.Ordinal))
        {
            labels.Add(label);
        }
    }

    internal void RemoveLabel(string label) => _extras?.Labels?.Remove(label);

    /// <summary>Adds, or replaces in place (keeping its position, as dtc does), a property.</summary>
    internal void SetProperty(DtProperty property)
    {
        EnsureOwnProperties();
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
    internal void AppendProperty(DtProperty property)
    {
        EnsureOwnProperties();
        _properties.Add(property);
    }

    /// <summary>Lets the DTB reader defer building the property list until it is first asked for.</summary>
    internal void SetLazyProperties(DtbSource source, int firstToken, int count)
    {
        _lazyFirstToken = firstToken;
        _lazyCount = count;
        _lazy = source;
    }

    private List<DtProperty> Materialize()
    {
        var lazy = _lazy;
        if (lazy is null)
        {
            return _properties;
        }

        // Two threads may race here; the first list published wins, so every caller sees one list.
        Interlocked.CompareExchange(ref _properties, DtbLazyProperties.Build(lazy, _lazyFirstToken, _lazyCount), NoProperties);
        _lazy = null;
        return _properties;
    }

    internal bool RemoveProperty(string name)
    {
        EnsureOwnProperties();
        return _properties.RemoveAll(p => p.Name == name) > 0;
    }

    internal void InsertChild(int index, DtNode child)
    {
        if (child.Parent is not null)
        {
            throw new InvalidOperationException($"node {child.Name} already has a parent");
        }

        child.Parent = this;
        (_children ??= []).Insert(index, child);
    }

    private void EnsureOwnProperties()
    {
        Materialize();
        if (ReferenceEquals(_properties, NoProperties))
        {
            _properties = [];
        }
    }

    internal void AddChild(DtNode child)
    {
        if (child.Parent is not null)
        {
            throw new InvalidOperationException($"node {child.Name} already has a parent");
        }

        child.Parent = this;
        (_children ??= []).Add(child);
    }

    internal bool RemoveChild(DtNode child)
    {
        if (_children is not null && _children.Remove(child))
        {
            child.Parent = null;
            return true;
        }

        return false;
    }

    public override string ToString() => Path;
}
