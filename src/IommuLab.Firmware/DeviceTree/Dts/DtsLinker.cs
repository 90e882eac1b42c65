using System.Buffers.Binary;
using System.Text;

namespace IommuLab.Firmware.DeviceTree.Dts;

/// <summary>
/// Everything dtc does between parsing and output, in dtc's order: the checks that are errors
/// (names, duplicates, labels, explicit phandles), phandle references (allocating phandles),
/// path references, /omit-if-no-ref/, and for /plugin/ the __fixups__ and __local_fixups__ nodes.
/// </summary>
internal sealed class DtsLinker
{
    private readonly DtsDocument _doc;
    private readonly DtsParserOptions _options;
    private readonly Dictionary<string, DtsNode> _nodeLabels = new(StringComparer.Ordinal);
    private readonly HashSet<uint> _usedPhandles = [];
    private readonly List<(DtsNode Node, DtsProp Prop, int Offset, string Ref)> _unresolved = [];
    private readonly List<(DtsNode Node, DtsProp Prop, int Offset)> _local = [];
    private uint _nextPhandle = 1;

    private DtsLinker(DtsDocument doc, DtsParserOptions options)
    {
        _doc = doc;
        _options = options;
    }

    public static DeviceTree Link(DtsDocument doc, DtsParserOptions options, string sourceName) =>
        new DtsLinker(doc, options).Run(sourceName);

    private DeviceTree Run(string sourceName)
    {
        var nodes = LiveNodes();
        foreach (var n in nodes)
        {
            CheckNames(n);
        }

        CollectLabels(nodes);
        foreach (var n in nodes)
        {
            ReadExplicitPhandle(n);
        }

        foreach (var n in nodes)
        {
            FixPhandleReferences(n);
        }

        foreach (var n in nodes)
        {
            FixPathReferences(n);
        }

        foreach (var n in nodes)
        {
            // Parents come first in pre-order, so a deleted parent's children are skipped here.
            if (!n.Deleted && n.OmitIfNoRef && !n.Referenced && n.Parent is not null)
            {
                n.Delete();
            }
        }

        if (_doc.IsPlugin)
        {
            AddFixups();
        }

        return Convert(sourceName);
    }

    /// <summary>Live nodes in pre-order (dtc's check traversal order); also enforces the depth limit.</summary>
    private List<DtsNode> LiveNodes()
    {
        var list = new List<DtsNode>();
        var stack = new Stack<(DtsNode Node, int Depth)>();
        stack.Push((_doc.Root, 0));
        while (stack.Count > 0)
        {
            var (n, depth) = stack.Pop();
            if (depth >= _options.MaxNodeDepth)
            {
                throw FirmwareFormatException.Exceeds(n.Origin.Error($"{n.FullPath()}: expected at most {_options.MaxNodeDepth} levels of nodes counting the root, found one at level {depth + 1} after merging{FirmwareLimits.Hint(FirmwareLimit.Depth, "DtsParserOptions.MaxNodeDepth")}"), FirmwareLimit.Depth);
            }

            list.Add(n);
            for (var i = n.Children.Count - 1; i >= 0; i--)
            {
                if (!n.Children[i].Deleted)
                {
                    stack.Push((n.Children[i], depth + 1));
                }
            }
        }

        return list;
    }

    private static void CheckNames(DtsNode node)
    {
        if (node.Parent is not null)
        {
            var name = node.Name;
            foreach (var c in name)
            {
                if (!IsNodeNameChar(c))
                {
                    throw node.Origin.Error($"expected a node name of letters, digits and ,._+-@, found bad character '{c}' in node name '{name}'");
                }
            }

            var at = name.IndexOf('@');
            if (at >= 0 && name.IndexOf('@', at + 1) >= 0)
            {
                throw node.Origin.Error($"expected at most one '@' in a node name, found multiple '@' characters in node name '{name}'");
            }
        }

        HashSet<string>? seen = null;
        for (var i = 0; i < node.Children.Count; i++)
        {
            var c = node.Children[i];
            if (!c.Deleted && !(seen ??= new HashSet<string>(StringComparer.Ordinal)).Add(c.Name))
            {
                throw c.Origin.Error($"expected unique node names, found duplicate node name '{c.Name}' in {node.FullPath()}");
            }
        }

        seen?.Clear();
        DtsProp? nameProp = null;
        foreach (var p in node.Properties)
        {
            if (p.Deleted)
            {
                continue;
            }

            if (!(seen ??= new HashSet<string>(StringComparer.Ordinal)).Add(p.Name))
            {
                throw p.Origin.Error($"expected unique property names, found duplicate property name '{p.Name}' in {node.FullPath()}");
            }

            foreach (var c in p.Name)
            {
                if (!IsPropertyNameChar(c))
                {
                    throw p.Origin.Error($"expected a property name of letters, digits and ,._+*#?-, found bad character '{c}' in property name '{p.Name}'");
                }
            }

            if (p.Name == "name")
            {
                nameProp = p;
            }
        }

        if (nameProp is not null)
        {
            // dtc drops a "name" property equal to the node's base name (it is implied) and rejects any other.
            var baseName = node.Name.IndexOf('@') is var a and >= 0 ? node.Name[..a] : node.Name;
            var expected = Encoding.UTF8.GetBytes(baseName + "\0");
            if (nameProp.Markers is not null || !nameProp.Data.AsSpan().SequenceEqual(expected))
            {
                throw nameProp.Origin.Error($"\"name\" property of {node.FullPath()} must equal the base node name \"{baseName}\"");
            }

            node.Properties.Remove(nameProp);
        }
    }

    private static bool IsNodeNameChar(char c) =>
        c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or ',' or '.' or '_' or '+' or '-' or '@';

    private static bool IsPropertyNameChar(char c) =>
        c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or ',' or '.' or '_' or '+' or '*' or '#' or '?' or '-';

    /// <summary>Node labels for reference lookup, and dtc's rule that one label names one thing.</summary>
    private void CollectLabels(List<DtsNode> nodes)
    {
        var owners = new Dictionary<string, (object Owner, string Describe)>(StringComparer.Ordinal);
        foreach (var n in nodes)
        {
            if (n.Labels is { } labels)
            {
                foreach (var l in labels)
                {
                    Claim(owners, l, n, n.FullPath(), n.Origin);
                    _nodeLabels.TryAdd(l, n);
                }
            }

            foreach (var p in n.Properties)
            {
                if (p.Deleted)
                {
                    continue;
                }

                if (p.Labels is { } propLabels)
                {
                    foreach (var l in propLabels)
                    {
                        Claim(owners, l, p, $"property '{p.Name}' of {n.FullPath()}", p.Origin);
                    }
                }

                if (p.Markers is { } markers)
                {
                    foreach (var m in markers)
                    {
                        if (m.Kind == DtsMarkerKind.Label)
                        {
                            Claim(owners, m.Text, m, $"the value of '{p.Name}' in {n.FullPath()}", m.Origin);
                        }
                    }
                }
            }
        }
    }

    private static void Claim(Dictionary<string, (object Owner, string Describe)> owners, string label, object owner, string describe, DtsOrigin origin)
    {
        if (owners.TryGetValue(label, out var previous))
        {
            if (!ReferenceEquals(previous.Owner, owner))
            {
                throw origin.Error($"expected unique labels, found duplicate label '{label}' on {describe} and {previous.Describe}");
            }

            return;
        }

        owners[label] = (owner, describe);
    }

    private DtsNode? Lookup(string reference)
    {
        if (reference.StartsWith('/'))
        {
            return DtsGrammar.Resolve(_doc.Root, reference);
        }

        return _nodeLabels.GetValueOrDefault(reference);
    }

    private void ReadExplicitPhandle(DtsNode node)
    {
        uint phandle = 0;
        string? from = null;
        foreach (var name in (string[])["phandle", "linux,phandle"])
        {
            var p = node.FindLiveProperty(name);
            if (p is null)
            {
                continue;
            }

            if (p.Data.Length != 4)
            {
                throw p.Origin.Error($"expected one cell in the {name} property of {node.FullPath()}, found bad length ({p.Data.Length})");
            }

            if (p.Markers is { } markers && markers.Exists(m => m.Kind == DtsMarkerKind.Phandle))
            {
                // "phandle = <&self>" asks for an allocated phandle; a reference to another node is an error.
                var m = markers.Find(m => m.Kind == DtsMarkerKind.Phandle);
                if (Lookup(m.Text) != node)
                {
                    throw p.Origin.Error($"expected the {name} property of {node.FullPath()} to be its own value, found a reference to another node");
                }

                continue;
            }

            var value = BinaryPrimitives.ReadUInt32BigEndian(p.Data);
            if (value is 0 or uint.MaxValue)
            {
                throw p.Origin.Error($"expected a {name} other than 0 and 0xffffffff in {node.FullPath()}, found bad value (0x{value:x})");
            }

            if (from is not null && value != phandle)
            {
                throw p.Origin.Error($"expected equal 'phandle' and 'linux,phandle' properties in {node.FullPath()}, found mismatching values");
            }

            phandle = value;
            from = name;
        }

        if (phandle == 0)
        {
            return;
        }

        if (!_usedPhandles.Add(phandle))
        {
            throw node.Origin.Error($"expected unique phandles, found duplicated phandle 0x{phandle:x} on {node.FullPath()}");
        }

        node.Phandle = phandle;
    }

    /// <summary>Fills every &lt;&amp;ref&gt; cell; a node without a phandle gets the next free one, appended as its last property.</summary>
    private void FixPhandleReferences(DtsNode node)
    {
        // By index: a reference to the node itself appends its phandle property to this very list.
        for (var i = 0; i < node.Properties.Count; i++)
        {
            var p = node.Properties[i];
            if (p.Deleted || p.Markers is not { } markers)
            {
                continue;
            }

            foreach (var m in markers)
            {
                if (m.Kind != DtsMarkerKind.Phandle)
                {
                    continue;
                }

                var target = Lookup(m.Text);
                if (target is null)
                {
                    if (_doc.IsPlugin)
                    {
                        _unresolved.Add((node, p, m.Offset, m.Text));
                        continue;
                    }

                    throw m.Origin.Error(UndefinedReference(m.Text));
                }

                BinaryPrimitives.WriteUInt32BigEndian(p.Data.AsSpan(m.Offset), PhandleOf(target));
                target.Referenced = true;
                if (_doc.IsPlugin)
                {
                    _local.Add((node, p, m.Offset));
                }
            }
        }
    }

    private static string UndefinedReference(string reference) => reference.StartsWith('/')
        ? $"expected a path to a node of the tree, found a reference to non-existent node '{reference}'"
        : $"expected a label defined in the source, found a reference to undefined label '{reference}'";

    private uint PhandleOf(DtsNode node)
    {
        if (node.Phandle != 0)
        {
            return node.Phandle;
        }

        while (_usedPhandles.Contains(_nextPhandle))
        {
            _nextPhandle++;
        }

        var phandle = _nextPhandle;
        _usedPhandles.Add(phandle);
        node.Phandle = phandle;
        if (node.FindLiveProperty("phandle") is null)
        {
            var data = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(data, phandle);
            node.Properties.Add(new DtsProp("phandle", node.Origin) { Data = data });
        }

        return phandle;
    }

    /// <summary>Inserts the full path (with its NUL) of each "= &amp;ref" target, moving later markers along.</summary>
    private void FixPathReferences(DtsNode node)
    {
        foreach (var p in node.Properties)
        {
            if (p.Deleted || p.Markers is not { } markers || !markers.Exists(m => m.Kind == DtsMarkerKind.Path))
            {
                continue;
            }

            var data = new DtsByteBuffer(p.Data.Length + 64);
            var moved = new List<DtsMarker>(markers.Count);
            var copied = 0;
            foreach (var m in markers)
            {
                data.Append(p.Data.AsSpan(copied, m.Offset - copied));
                copied = m.Offset;
                moved.Add(m with { Offset = data.Length });
                if (m.Kind != DtsMarkerKind.Path)
                {
                    continue;
                }

                var target = Lookup(m.Text) ?? throw m.Origin.Error(UndefinedReference(m.Text));
                target.Referenced = true;
                data.Append(Encoding.UTF8.GetBytes(target.FullPath()));
                data.Append(0);
                if (data.Length > _options.MaxPropertyLength)
                {
                    throw FirmwareFormatException.Exceeds(p.Origin.Error($"expected property '{p.Name}' to be at most {_options.MaxPropertyLength} bytes, found {data.Length} bytes so far{FirmwareLimits.Hint(FirmwareLimit.PropertySize, "DtsParserOptions.MaxPropertyLength")}"), FirmwareLimit.PropertySize);
                }
            }

            data.Append(p.Data.AsSpan(copied));
            p.Data = data.ToArray();
            p.Markers = moved;
        }
    }

    /// <summary>The overlay bookkeeping dtc adds to every /plugin/: unresolved labels and local phandle cells.</summary>
    private void AddFixups()
    {
        var root = _doc.Root;
        if (_unresolved.Count > 0)
        {
            var fixups = GetOrAddChild(root, "__fixups__");
            foreach (var (node, prop, offset, reference) in _unresolved)
            {
                var entry = Encoding.UTF8.GetBytes($"{node.FullPath()}:{prop.Name}:{offset}\0");
                AppendToProperty(fixups, reference, entry);
            }
        }

        if (_local.Count > 0)
        {
            var local = GetOrAddChild(root, "__local_fixups__");
            foreach (var (node, prop, offset) in _local)
            {
                var mirror = local;
                var chain = new Stack<DtsNode>();
                for (var n = node; n.Parent is not null; n = n.Parent)
                {
                    chain.Push(n);
                }

                while (chain.Count > 0)
                {
                    mirror = GetOrAddChild(mirror, chain.Pop().Name);
                }

                var cell = new byte[4];
                BinaryPrimitives.WriteUInt32BigEndian(cell, (uint)offset);
                AppendToProperty(mirror, prop.Name, cell);
            }
        }
    }

    private static DtsNode GetOrAddChild(DtsNode parent, string name)
    {
        foreach (var c in parent.Children)
        {
            if (!c.Deleted && c.Name == name)
            {
                return c;
            }
        }

        var child = new DtsNode(name, parent.Origin) { Parent = parent };
        parent.Children.Add(child);
        return child;
    }

    private static void AppendToProperty(DtsNode node, string name, byte[] bytes)
    {
        var p = node.FindLiveProperty(name);
        if (p is null)
        {
            node.Properties.Add(new DtsProp(name, node.Origin) { Data = bytes });
            return;
        }

        p.Data = [.. p.Data, .. bytes];
    }

    private DeviceTree Convert(string sourceName)
    {
        var root = ToDtNode(_doc.Root);
        var stack = new Stack<(DtsNode From, DtNode To)>();
        stack.Push((_doc.Root, root));
        while (stack.Count > 0)
        {
            var (from, to) = stack.Pop();
            foreach (var c in from.Children)
            {
                if (c.Deleted)
                {
                    continue;
                }

                var child = ToDtNode(c);
                to.AddChild(child);
                stack.Push((c, child));
            }
        }

        var tree = new DeviceTree(root, sourceName) { IsPlugin = _doc.IsPlugin, BootCpuId = 0 };
        tree.MemoryReservations.AddRange(_doc.Reservations);
        return tree;
    }

    private static DtNode ToDtNode(DtsNode from)
    {
        var node = new DtNode(from.Name) { SourcePosition = from.Origin.Position };
        if (from.Labels is { } labels)
        {
            foreach (var l in labels)
            {
                node.AddLabel(l);
            }
        }

        foreach (var p in from.Properties)
        {
            if (p.Deleted)
            {
                continue;
            }

            var prop = new DtProperty(p.Name, p.Data) { SourcePosition = p.Origin.Position };
            if (p.Labels is { } propLabels)
            {
                foreach (var l in propLabels)
                {
                    prop.AddLabel(l);
                }
            }

            node.AppendProperty(prop);
        }

        return node;
    }
}
