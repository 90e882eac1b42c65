namespace IommuLab.Firmware.DeviceTree.Dts;

/// <summary>What a marker inside a property value stands for.</summary>
internal enum DtsMarkerKind : byte
{
    /// <summary>A 4-byte placeholder cell to be filled with the phandle of the referenced node (<c>&lt;&amp;x&gt;</c>).</summary>
    Phandle,

    /// <summary>The referenced node's full path and a NUL, inserted at the offset (<c>= &amp;x</c>).</summary>
    Path,

    /// <summary>A label inside a value; only the duplicate-label check looks at it.</summary>
    Label,
}

/// <summary>A reference or label at a byte offset of a property value, and where the source wrote it.</summary>
internal readonly record struct DtsMarker(int Offset, DtsMarkerKind Kind, string Text, DtsOrigin Origin);

/// <summary>Where something was written: the reported position and the physical text, for the error excerpt.</summary>
internal readonly record struct DtsOrigin(SourcePosition Position, DtsSourceText File, int Offset)
{
    public DtsSyntaxException Error(string message) =>
        new(Position.File, Position.Line, Position.Column, message, DtsSyntaxException.BuildExcerpt(File.Text, Offset));
}

/// <summary>
/// A property while the source is compiled. Deleted entries stay in their node's list, as in dtc:
/// a later definition of the same name brings the property back at its old position.
/// </summary>
internal sealed class DtsProp(string name, DtsOrigin origin)
{
    public string Name { get; } = name;

    public DtsOrigin Origin { get; set; } = origin;

    public List<string>? Labels { get; set; }

    public byte[] Data { get; set; } = [];

    public List<DtsMarker>? Markers { get; set; }

    public bool Deleted { get; set; }

    public void AddLabel(string label)
    {
        Labels ??= [];
        if (!Labels.Contains(label))
        {
            Labels.Add(label);
        }
    }
}

/// <summary>A node while the source is compiled; deleted nodes stay in place for the same reason as properties.</summary>
internal sealed class DtsNode(string name, DtsOrigin origin)
{
    // Name indexes for nodes with many children or properties, so N amendments or path references into one node
    // cost N lookups rather than N scans. Both lists only grow while the source is parsed; the indexes catch up.
    private const int LinearLookupLimit = 8;
    private Dictionary<string, List<DtsNode>>? _childIndex;
    private int _childrenIndexed;
    private Dictionary<string, DtsProp>? _propertyIndex;
    private int _propertiesIndexed;

    public string Name { get; } = name;

    public DtsOrigin Origin { get; } = origin;

    public DtsNode? Parent { get; set; }

    public List<string>? Labels { get; set; }

    public List<DtsProp> Properties { get; } = [];

    public List<DtsNode> Children { get; } = [];

    public bool Deleted { get; set; }

    /// <summary>Set by /omit-if-no-ref/ on the node's first definition (a redefinition does not set it, as in dtc).</summary>
    public bool OmitIfNoRef { get; set; }

    /// <summary>Some resolved reference (phandle or path) points here.</summary>
    public bool Referenced { get; set; }

    /// <summary>0 until an explicit phandle property is seen or one is allocated.</summary>
    public uint Phandle { get; set; }

    /// <summary>The first child named <paramref name="name"/> in list order, or the first live one.</summary>
    public DtsNode? FirstChild(ReadOnlySpan<char> name, bool liveOnly)
    {
        if (Children.Count <= LinearLookupLimit)
        {
            foreach (var c in Children)
            {
                if ((!liveOnly || !c.Deleted) && name.SequenceEqual(c.Name))
                {
                    return c;
                }
            }

            return null;
        }

        _childIndex ??= new Dictionary<string, List<DtsNode>>(StringComparer.Ordinal);
        for (; _childrenIndexed < Children.Count; _childrenIndexed++)
        {
            var c = Children[_childrenIndexed];
            if (!_childIndex.TryGetValue(c.Name, out var named))
            {
                _childIndex[c.Name] = named = [];
            }

            named.Add(c);
        }

        if (_childIndex.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(name, out var list))
        {
            foreach (var c in list)
            {
                if (!liveOnly || !c.Deleted)
                {
                    return c;
                }
            }
        }

        return null;
    }

    /// <summary>The first property named <paramref name="name"/>, deleted or not (dtc's merge looks at both).</summary>
    public DtsProp? FirstProperty(string name)
    {
        if (Properties.Count <= LinearLookupLimit)
        {
            foreach (var p in Properties)
            {
                if (p.Name == name)
                {
                    return p;
                }
            }

            return null;
        }

        if (_propertyIndex is null || Properties.Count < _propertiesIndexed)
        {
            // Built once; rebuilt only if the list shrank (the linker's removal of a "name" property).
            _propertyIndex = new Dictionary<string, DtsProp>(StringComparer.Ordinal);
            _propertiesIndexed = 0;
        }

        for (; _propertiesIndexed < Properties.Count; _propertiesIndexed++)
        {
            _propertyIndex.TryAdd(Properties[_propertiesIndexed].Name, Properties[_propertiesIndexed]);
        }

        return _propertyIndex.GetValueOrDefault(name);
    }

    public void AddLabel(string label)
    {
        Labels ??= [];
        if (!Labels.Contains(label))
        {
            Labels.Add(label);
        }
    }

    public DtsProp? FindLiveProperty(string name)
    {
        foreach (var p in Properties)
        {
            if (!p.Deleted && p.Name == name)
            {
                return p;
            }
        }

        return null;
    }

    public string FullPath()
    {
        if (Parent is null)
        {
            return "/";
        }

        var length = 0;
        for (var n = this; n.Parent is not null; n = n.Parent)
        {
            length += n.Name.Length + 1;
        }

        return string.Create(length, this, static (span, node) =>
        {
            var end = span.Length;
            for (var n = node; n.Parent is not null; n = n.Parent)
            {
                end -= n.Name.Length;
                n.Name.AsSpan().CopyTo(span[end..]);
                span[--end] = '/';
            }
        });
    }

    /// <summary>Marks this node, its properties, labels and descendants deleted (dtc's delete_node).</summary>
    public void Delete()
    {
        var stack = new Stack<DtsNode>();
        stack.Push(this);
        while (stack.Count > 0)
        {
            var n = stack.Pop();
            n.Deleted = true;
            n.Labels = null;
            foreach (var p in n.Properties)
            {
                p.Deleted = true;
                p.Labels = null;
            }

            foreach (var c in n.Children)
            {
                if (!c.Deleted)
                {
                    stack.Push(c);
                }
            }
        }
    }
}
