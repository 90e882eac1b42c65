namespace IommuLab.Firmware.DeviceTree.Dts;

/// <summary>The parsed source before references are resolved: the merged tree, header flags and reservations.</summary>
internal sealed class DtsDocument(DtsNode root, bool isPlugin, List<MemoryReservation> reservations)
{
    public DtsNode Root { get; } = root;

    public bool IsPlugin { get; } = isPlugin;

    public List<MemoryReservation> Reservations { get; } = reservations;
}

/// <summary>
/// Recursive-descent parser for dtc's source language v1. Node redefinitions, amendments and
/// deletions are applied as they are read, in source order, exactly as dtc applies them; references
/// inside values are kept as markers and resolved afterwards by <see cref="DtsLinker"/>.
/// </summary>
internal sealed class DtsGrammar
{
    private readonly DtsLexer _lex;
    private readonly DtsParserOptions _options;
    private readonly DtsByteBuffer _value = new(256);
    private readonly List<DtsMarker> _markers = [];
    private readonly List<string> _labels = [];
    private readonly List<MemoryReservation> _reservations = [];
    private DtsNode? _root;
    private bool _plugin;
    private int _fragments;
    private int _nodes;

    // First node in pre-order for each label, as FindLabel would find it; null when a top-level statement may
    // have changed labels or structure. Amendments that only set properties keep it, so a source of N nodes and
    // N '&label { ... };' amendments costs N, not N^2, tree walks.
    private Dictionary<string, DtsNode>? _labelIndex;
    private DtsToken _last;

    public DtsGrammar(DtsLexer lexer)
    {
        _lex = lexer;
        _options = lexer.Options;
    }

    public DtsDocument ParseDocument()
    {
        ParseHeaders();
        ParseReservations();
        ParseTree();
        return new DtsDocument(_root!, _plugin, _reservations);
    }

    private DtsToken Peek(DtsLexMode mode = DtsLexMode.Name) => _lex.Peek(mode);

    private DtsToken Next(DtsLexMode mode = DtsLexMode.Name) => _last = _lex.Next(mode);

    private DtsSyntaxException Error(in DtsToken token, string message) => _lex.Error(token, message);

    /// <summary>An error placed right after the last token read: where a missing ';' or '>' belongs.</summary>
    private DtsSyntaxException ErrorAfterLast(string message) => _lex.ErrorInside(_last, _last.End, message);

    private static string Describe(in DtsToken t) => t.Kind switch
    {
        DtsTokenKind.Eof => "end of file",
        DtsTokenKind.String => "a string",
        DtsTokenKind.Label => $"label '{t.Text}:'",
        DtsTokenKind.LabelRef => $"'&{t.Text}'",
        DtsTokenKind.PathRef => $"'&{{{t.Text}}}'",
        _ => $"'{t.File.Text.AsSpan(t.Start, Math.Min(t.Length, 40))}'",
    };

    private void ExpectSemicolon(string after)
    {
        var t = Peek(DtsLexMode.Value);
        if (t.Kind != DtsTokenKind.Semicolon)
        {
            throw ErrorAfterLast($"expected ';' {after}, found {Describe(t)}");
        }

        Next(DtsLexMode.Value);
    }

    private DtsToken Expect(DtsTokenKind kind, DtsLexMode mode, string what)
    {
        var t = Peek(mode);
        if (t.Kind != kind)
        {
            throw Error(t, $"expected {what}, found {Describe(t)}");
        }

        return Next(mode);
    }

    private void ParseHeaders()
    {
        var first = Peek();
        if (first.Kind != DtsTokenKind.DtsV1)
        {
            throw Error(first, $"expected '/dts-v1/;' at the start of the source, found {Describe(first)} "
                + "(dtc's version 0 syntax is not supported)");
        }

        bool? plugin = null;
        while (Peek().Kind == DtsTokenKind.DtsV1)
        {
            var v1 = Next();
            ExpectSemicolon("after /dts-v1/");
            var thisPlugin = false;
            if (Peek().Kind == DtsTokenKind.Plugin)
            {
                Next();
                ExpectSemicolon("after /plugin/");
                thisPlugin = true;
            }

            if (plugin is bool p && p != thisPlugin)
            {
                throw Error(v1, "header flags don't match earlier ones (/plugin/ must follow every /dts-v1/ or none)");
            }

            plugin = thisPlugin;
        }

        _plugin = plugin ?? false;
    }

    private void ParseReservations()
    {
        while (true)
        {
            var t = Peek();
            if (t.Kind == DtsTokenKind.Label)
            {
                Next();
                _labels.Add(t.Text.ToString());
                continue;
            }

            if (t.Kind != DtsTokenKind.Memreserve)
            {
                return;
            }

            Next();
            var address = ParsePrimary(0);
            var size = ParsePrimary(0);
            ExpectSemicolon("after /memreserve/ address and size");
            _reservations.Add(new MemoryReservation(address, size) { Labels = [.. _labels] });
            _labels.Clear();
        }
    }

    private void ParseTree()
    {
        // Labels read by ParseReservations may belong to a "label: &ref { }" that follows.
        while (true)
        {
            var t = Peek();
            switch (t.Kind)
            {
                case DtsTokenKind.Label:
                    Next();
                    _labels.Add(t.Text.ToString());
                    continue;
                case DtsTokenKind.Eof:
                    if (_labels.Count > 0)
                    {
                        throw Error(t, $"label '{_labels[0]}:' is not followed by anything it could name");
                    }

                    if (_root is null)
                    {
                        throw Error(t, "the source defines no root node ('/ { ... };')");
                    }

                    return;
                case DtsTokenKind.Slash:
                    {
                        if (_labels.Count > 0)
                        {
                            throw Error(t, "the root node '/' cannot carry a label here; label it with 'lbl: &{/} { };'");
                        }

                        Next();
                        var body = ParseNodeBody("", t.Origin, 0);
                        if (_root is null)
                        {
                            _root = body;
                        }
                        else if (Merge(_root, body))
                        {
                            _labelIndex = null;
                        }

                        continue;
                    }

                case DtsTokenKind.LabelRef or DtsTokenKind.PathRef:
                    {
                        Next();
                        var r = t.Text.ToString();
                        if (_plugin && _labels.Count == 0)
                        {
                            AddFragment(t, r);
                            continue;
                        }

                        var target = ResolveTopLevel(r) ?? throw NotFound(t);
                        var body = ParseNodeBody("", t.Origin, 0);
                        foreach (var l in _labels)
                        {
                            target.AddLabel(l);
                            _labelIndex = null;
                        }

                        _labels.Clear();
                        if (Merge(target, body))
                        {
                            _labelIndex = null;
                        }

                        continue;
                    }

                case DtsTokenKind.DeleteNode or DtsTokenKind.OmitIfNoRef:
                    {
                        if (_labels.Count > 0)
                        {
                            throw Error(t, $"label '{_labels[0]}:' cannot be put on {Describe(t)}");
                        }

                        Next();
                        var refToken = Peek();
                        if (refToken.Kind is not (DtsTokenKind.LabelRef or DtsTokenKind.PathRef))
                        {
                            throw Error(refToken, $"expected '&label' or '&{{/path}}' after {Describe(t)} at top level, found {Describe(refToken)}");
                        }

                        Next();
                        var target = ResolveTopLevel(refToken.Text.ToString()) ?? throw NotFound(refToken);
                        ExpectSemicolon($"after {Describe(t)} {Describe(refToken)}");
                        if (t.Kind == DtsTokenKind.DeleteNode)
                        {
                            target.Delete();
                            _labelIndex = null;
                        }
                        else
                        {
                            target.OmitIfNoRef = true;
                        }

                        continue;
                    }

                case DtsTokenKind.Memreserve:
                    throw Error(t, "/memreserve/ must come before the first node");
                case DtsTokenKind.DtsV1 or DtsTokenKind.Plugin:
                    throw Error(t, $"{Describe(t)} must come first in the source");
                default:
                    throw Error(t, $"expected '/ {{', '&label {{', /delete-node/ or /omit-if-no-ref/ at top level, found {Describe(t)}");
            }
        }
    }

    private DtsSyntaxException NotFound(in DtsToken refToken) =>
        Error(refToken, refToken.Kind == DtsTokenKind.PathRef
            ? $"no node at path '{refToken.Text}'"
            : $"label '{refToken.Text}' is not defined (yet: a label must be defined before '&{refToken.Text} {{ }}' uses it)");

    /// <summary>/plugin/ "&amp;target { }": a fragment@N node with target (or target-path) and __overlay__, as dtc builds it.</summary>
    private void AddFragment(in DtsToken refToken, string reference)
    {
        var origin = refToken.Origin;
        var body = ParseNodeBody("__overlay__", origin, 1);
        _root ??= new DtsNode("", origin);
        var fragment = new DtsNode($"fragment@{_fragments++}", origin) { Parent = _root };
        var target = new DtsProp(refToken.Kind == DtsTokenKind.PathRef ? "target-path" : "target", origin);
        if (refToken.Kind == DtsTokenKind.PathRef)
        {
            target.Data = [.. System.Text.Encoding.UTF8.GetBytes(reference), 0];
        }
        else
        {
            target.Data = [0xff, 0xff, 0xff, 0xff];
            target.Markers = [new DtsMarker(0, DtsMarkerKind.Phandle, reference, origin)];
        }

        fragment.Properties.Add(target);
        body.Parent = fragment;
        fragment.Children.Add(body);
        _root.Children.Add(fragment);
        _labelIndex = null;
    }

    private DtsNode ParseNodeBody(string name, DtsOrigin origin, int depth)
    {
        var open = Peek();
        if (open.Kind != DtsTokenKind.LBrace)
        {
            throw Error(open, $"expected '{{' to open node '{(name.Length == 0 ? "/" : name)}', found {Describe(open)}");
        }

        if (depth >= _options.MaxNodeDepth)
        {
            throw FirmwareFormatException.Exceeds(Error(open, $"expected at most {_options.MaxNodeDepth} levels of nodes counting the root, found node '{name}' at level {depth + 1}{FirmwareLimits.Hint(FirmwareLimit.Depth, "DtsParserOptions.MaxNodeDepth")}"), FirmwareLimit.Depth);
        }

        // Counted as written (amendments included): the merged tree can only be smaller.
        if (++_nodes > _options.MaxNodes)
        {
            throw FirmwareFormatException.Exceeds(Error(open, $"expected at most {_options.MaxNodes} node bodies (amendments included), found node body number {_nodes}{(name.Length == 0 ? "" : $" ('{name}')")}{FirmwareLimits.Hint(FirmwareLimit.Nodes, "DtsParserOptions.MaxNodes")}"), FirmwareLimit.Nodes);
        }

        Next();
        var node = new DtsNode(name, origin);
        var seenSubnode = false;
        var labels = new List<string>(0);
        while (true)
        {
            labels.Clear();
            var omit = false;
            var t = Peek();
            while (t.Kind is DtsTokenKind.Label or DtsTokenKind.OmitIfNoRef)
            {
                if (t.Kind == DtsTokenKind.Label)
                {
                    labels.Add(t.Text.ToString());
                }
                else
                {
                    omit = true;
                }

                Next();
                t = Peek();
            }

            switch (t.Kind)
            {
                case DtsTokenKind.RBrace:
                    if (labels.Count > 0 || omit)
                    {
                        throw Error(t, "expected a node after a label or /omit-if-no-ref/, found '}'");
                    }

                    Next();
                    ExpectSemicolon($"after '}}' closing node '{(name.Length == 0 ? "/" : name)}'");
                    return node;
                case DtsTokenKind.DeleteProperty:
                    {
                        Next();
                        var n = Expect(DtsTokenKind.Name, DtsLexMode.Name, "a property name after /delete-property/");
                        ExpectSemicolon($"after /delete-property/ {n.Text}");
                        if (seenSubnode)
                        {
                            throw Error(t, "properties must precede subnodes (/delete-property/ counts as a property)");
                        }

                        node.Properties.Add(new DtsProp(_lex.Intern(n.Text), n.Origin) { Deleted = true });
                        continue;
                    }

                case DtsTokenKind.DeleteNode:
                    {
                        Next();
                        var n = Expect(DtsTokenKind.Name, DtsLexMode.Name, "a node name after /delete-node/ (use '&label' only at top level)");
                        ExpectSemicolon($"after /delete-node/ {n.Text}");
                        node.Children.Add(new DtsNode(_lex.Intern(n.Text), n.Origin) { Deleted = true, Parent = node });
                        seenSubnode = true;
                        continue;
                    }

                case DtsTokenKind.Name:
                    {
                        Next();
                        var childName = _lex.Intern(t.Text);
                        var after = Peek(DtsLexMode.Value);
                        if (after.Kind == DtsTokenKind.LBrace)
                        {
                            var child = ParseNodeBody(childName, t.Origin, depth + 1);
                            child.OmitIfNoRef = omit;
                            foreach (var l in labels)
                            {
                                child.AddLabel(l);
                            }

                            child.Parent = node;
                            node.Children.Add(child);
                            seenSubnode = true;
                            continue;
                        }

                        if (after.Kind is not (DtsTokenKind.Equals or DtsTokenKind.Semicolon))
                        {
                            throw after.Kind == DtsTokenKind.RBrace
                                ? ErrorAfterLast($"expected ';' after property '{childName}', found '}}'")
                                : Error(after, $"expected '=', ';' or '{{' after name '{childName}', found {Describe(after)}");
                        }

                        if (omit)
                        {
                            throw Error(t, "/omit-if-no-ref/ applies to nodes, not properties");
                        }

                        if (seenSubnode)
                        {
                            throw Error(t, $"properties must precede subnodes (property '{childName}' follows a subnode)");
                        }

                        var prop = ParseProperty(childName, t.Origin);
                        foreach (var l in labels)
                        {
                            prop.AddLabel(l);
                        }

                        node.Properties.Add(prop);
                        continue;
                    }

                case DtsTokenKind.Eof:
                    throw Error(t, $"node '{(name.Length == 0 ? "/" : name)}' opened at {origin.Position} is not closed: expected '}};', found the end of the file");
                default:
                    throw Error(t, $"expected a property or node name, found {Describe(t)}");
            }
        }
    }

    private DtsProp ParseProperty(string name, DtsOrigin origin)
    {
        var prop = new DtsProp(name, origin);
        if (Next(DtsLexMode.Value).Kind == DtsTokenKind.Semicolon)
        {
            return prop;
        }

        _value.Clear();
        _markers.Clear();
        while (true)
        {
            ParseValueLabels();
            var t = Next(DtsLexMode.Value);
            switch (t.Kind)
            {
                case DtsTokenKind.String:
                    _lex.DecodeString(t, _value);
                    _value.Append(0);
                    break;
                case DtsTokenKind.Less:
                    ParseCells(t, 32);
                    break;
                case DtsTokenKind.Bits:
                    {
                        var size = Next(DtsLexMode.Value);
                        if (size.Kind != DtsTokenKind.Integer)
                        {
                            throw Error(size, $"expected a cell size (8, 16, 32 or 64) after /bits/, found {Describe(size)}");
                        }

                        if (size.Value is not (8 or 16 or 32 or 64))
                        {
                            throw Error(size, $"cell size must be 8, 16, 32 or 64 bits, not {size.Value}");
                        }

                        var open = Expect(DtsTokenKind.Less, DtsLexMode.Value, "'<' after /bits/ size");
                        ParseCells(open, (int)size.Value);
                        break;
                    }

                case DtsTokenKind.LBracket:
                    ParseBytes(t);
                    break;
                case DtsTokenKind.LabelRef or DtsTokenKind.PathRef:
                    _markers.Add(new DtsMarker(_value.Length, DtsMarkerKind.Path, t.Text.ToString(), t.Origin));
                    break;
                case DtsTokenKind.Incbin:
                    ParseIncbin();
                    break;
                case DtsTokenKind.Identifier:
                    throw Error(t, $"'{t.Text}' is not a value: an undefined macro? (run cpp over the source first)");
                default:
                    throw Error(t, $"expected a property value (\"string\", <cells>, [bytes] or &reference), found {Describe(t)}");
            }

            if (_value.Length > _options.MaxPropertyLength)
            {
                throw FirmwareFormatException.Exceeds(Error(t, $"expected property '{name}' to be at most {_options.MaxPropertyLength} bytes, found {_value.Length} bytes so far{FirmwareLimits.Hint(FirmwareLimit.PropertySize, "DtsParserOptions.MaxPropertyLength")}"), FirmwareLimit.PropertySize);
            }

            ParseValueLabels();
            var sep = Peek(DtsLexMode.Value);
            if (sep.Kind == DtsTokenKind.Comma)
            {
                Next(DtsLexMode.Value);
                continue;
            }

            if (sep.Kind == DtsTokenKind.Semicolon)
            {
                Next(DtsLexMode.Value);
                break;
            }

            throw ErrorAfterLast($"expected ';' after property value, found {Describe(sep)}");
        }

        prop.Data = _value.ToArray();
        if (_markers.Count > 0)
        {
            prop.Markers = [.. _markers];
        }

        return prop;
    }

    private void ParseValueLabels()
    {
        while (Peek(DtsLexMode.Value) is { Kind: DtsTokenKind.Label } l)
        {
            Next(DtsLexMode.Value);
            _markers.Add(new DtsMarker(_value.Length, DtsMarkerKind.Label, l.Text.ToString(), l.Origin));
        }
    }

    private void ParseCells(in DtsToken open, int bits)
    {
        while (true)
        {
            var t = Peek(DtsLexMode.Value);
            switch (t.Kind)
            {
                case DtsTokenKind.Greater:
                    Next(DtsLexMode.Value);
                    return;
                case DtsTokenKind.Label:
                    Next(DtsLexMode.Value);
                    _markers.Add(new DtsMarker(_value.Length, DtsMarkerKind.Label, t.Text.ToString(), t.Origin));
                    continue;
                case DtsTokenKind.LabelRef or DtsTokenKind.PathRef:
                    Next(DtsLexMode.Value);
                    if (bits != 32)
                    {
                        throw Error(t, $"references are only allowed in arrays with 32-bit elements (this one has /bits/ {bits})");
                    }

                    _markers.Add(new DtsMarker(_value.Length, DtsMarkerKind.Phandle, t.Text.ToString(), t.Origin));
                    _value.AppendInteger(uint.MaxValue, 32);
                    continue;
                case DtsTokenKind.Integer or DtsTokenKind.CharLiteral or DtsTokenKind.LParen:
                    {
                        var v = ParsePrimary(0);
                        if (bits < 64)
                        {
                            // In range, or a negative number that sign-extends from the cell width.
                            var mask = (1UL << bits) - 1;
                            if (v > mask && (v | mask) != ulong.MaxValue)
                            {
                                throw Error(t, $"value 0x{v:x} is out of range for a {bits}-bit cell");
                            }
                        }

                        _value.AppendInteger(v, bits);
                        continue;
                    }

                case DtsTokenKind.Eof or DtsTokenKind.Semicolon or DtsTokenKind.RBrace:
                    throw Error(open, $"unterminated cell array: expected '>' closing this '<', found {Describe(t)}");
                case DtsTokenKind.Identifier:
                    throw Error(t, $"'{t.Text}' is not a number: an undefined macro? (run cpp over the source first)");
                default:
                    throw Error(t, $"expected a number, '(expression)', '&reference' or '>' in cell array, found {Describe(t)}");
            }
        }
    }

    private void ParseBytes(in DtsToken open)
    {
        while (true)
        {
            var t = Next(DtsLexMode.Bytes);
            switch (t.Kind)
            {
                case DtsTokenKind.RBracket:
                    return;
                case DtsTokenKind.Byte:
                    _value.Append((byte)t.Value);
                    continue;
                case DtsTokenKind.Label:
                    _markers.Add(new DtsMarker(_value.Length, DtsMarkerKind.Label, t.Text.ToString(), t.Origin));
                    continue;
                case DtsTokenKind.Eof or DtsTokenKind.Semicolon:
                    throw Error(open, $"unterminated byte string: expected ']' closing this '[', found {Describe(t)}");
                default:
                    throw Error(t, $"expected pairs of hex digits or ']' in byte string, found {Describe(t)}");
            }
        }
    }

    private void ParseIncbin()
    {
        Expect(DtsTokenKind.LParen, DtsLexMode.Value, "'(' after /incbin/");
        var nameToken = Expect(DtsTokenKind.String, DtsLexMode.Value, "a quoted file name in /incbin/");
        var nameBytes = new DtsByteBuffer(64);
        _lex.DecodeString(nameToken, nameBytes);
        var name = System.Text.Encoding.UTF8.GetString(nameBytes.Span);
        ulong offset = 0;
        ulong? length = null;
        if (Peek(DtsLexMode.Value).Kind == DtsTokenKind.Comma)
        {
            Next(DtsLexMode.Value);
            offset = ParsePrimary(0);
            Expect(DtsTokenKind.Comma, DtsLexMode.Value, "',' between /incbin/ offset and length");
            length = ParsePrimary(0);
        }

        Expect(DtsTokenKind.RParen, DtsLexMode.Value, "')' closing /incbin/");
        var path = _lex.ResolveFile(name) ?? throw Error(nameToken, $"cannot find /incbin/ file \"{name}\"");
        try
        {
            // Only the named range is read, so a large file costs no more than the property it fills.
            using var file = DtsInputFile.Open(path);
            var fileLength = (ulong)file.Length;
            if (offset > fileLength || (length is ulong len && len > fileLength - offset))
            {
                throw Error(nameToken, $"expected an /incbin/ range within \"{name}\" ({fileLength} bytes), found offset {offset}, length {(length is ulong l ? l.ToString(System.Globalization.CultureInfo.InvariantCulture) : "to the end")}: it is beyond the end");
            }

            var count = length ?? (fileLength - offset);
            if (count > (ulong)_options.MaxPropertyLength)
            {
                throw FirmwareFormatException.Exceeds(Error(nameToken, $"expected /incbin/ data of at most {_options.MaxPropertyLength} bytes, found {count} bytes to read{FirmwareLimits.Hint(FirmwareLimit.PropertySize, "DtsParserOptions.MaxPropertyLength")}"), FirmwareLimit.PropertySize);
            }

            _value.Append(DtsInputFile.ReadExactly(file, (long)offset, (int)count));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Error(nameToken, $"cannot read /incbin/ file \"{name}\": {e.Message}");
        }
    }

    /// <summary>dtc's integer_prim: a literal, a character, or a parenthesised expression.</summary>
    private ulong ParsePrimary(int depth)
    {
        var t = Next(DtsLexMode.Value);
        switch (t.Kind)
        {
            case DtsTokenKind.Integer or DtsTokenKind.CharLiteral:
                return t.Value;
            case DtsTokenKind.LParen:
                {
                    CheckDepth(t, depth + 1);
                    var v = ParseConditional(depth + 1);
                    var close = Peek(DtsLexMode.Value);
                    if (close.Kind != DtsTokenKind.RParen)
                    {
                        throw Error(close, $"expected ')' to close the expression opened at column {t.Column}, found {Describe(close)}");
                    }

                    Next(DtsLexMode.Value);
                    return v;
                }

            case DtsTokenKind.Identifier:
                throw Error(t, $"'{t.Text}' is not a number: an undefined macro? (run cpp over the source first)");
            default:
                throw Error(t, $"expected a number, a character literal or '(expression)', found {Describe(t)}");
        }
    }

    private void CheckDepth(in DtsToken t, int depth)
    {
        if (depth > _options.MaxExpressionDepth)
        {
            throw FirmwareFormatException.Exceeds(Error(t, $"expected an expression nested at most {_options.MaxExpressionDepth} levels deep, found deeper nesting{FirmwareLimits.Hint(FirmwareLimit.ExpressionDepth, "DtsParserOptions.MaxExpressionDepth")}"), FirmwareLimit.ExpressionDepth);
        }
    }

    private ulong ParseConditional(int depth)
    {
        var condition = ParseBinary(1, depth);
        var q = Peek(DtsLexMode.Value);
        if (q.Kind != DtsTokenKind.Question)
        {
            return condition;
        }

        Next(DtsLexMode.Value);
        CheckDepth(q, depth + 1);
        var whenTrue = ParseConditional(depth + 1);
        Expect(DtsTokenKind.Colon, DtsLexMode.Value, "':' in conditional expression");
        var whenFalse = ParseConditional(depth + 1);
        return condition != 0 ? whenTrue : whenFalse;
    }

    private static int Precedence(DtsTokenKind kind) => kind switch
    {
        DtsTokenKind.OrOr => 1,
        DtsTokenKind.AndAnd => 2,
        DtsTokenKind.Pipe => 3,
        DtsTokenKind.Caret => 4,
        DtsTokenKind.Amp => 5,
        DtsTokenKind.EqualEqual or DtsTokenKind.NotEqual => 6,
        DtsTokenKind.Less or DtsTokenKind.Greater or DtsTokenKind.LessEqual or DtsTokenKind.GreaterEqual => 7,
        DtsTokenKind.ShiftLeft or DtsTokenKind.ShiftRight => 8,
        DtsTokenKind.Plus or DtsTokenKind.Minus => 9,
        DtsTokenKind.Star or DtsTokenKind.Slash or DtsTokenKind.Percent => 10,
        _ => 0,
    };

    /// <summary>Left-associative binary operators by precedence climbing; all arithmetic is on u64 and wraps, as in dtc.</summary>
    private ulong ParseBinary(int minPrecedence, int depth)
    {
        var left = ParseUnary(depth);
        while (true)
        {
            var op = Peek(DtsLexMode.Value);
            var precedence = Precedence(op.Kind);
            if (precedence == 0 || precedence < minPrecedence)
            {
                return left;
            }

            Next(DtsLexMode.Value);
            var right = ParseBinary(precedence + 1, depth);
            left = Apply(op, left, right);
        }
    }

    private ulong Apply(in DtsToken op, ulong a, ulong b)
    {
        unchecked
        {
            switch (op.Kind)
            {
                case DtsTokenKind.OrOr: return a != 0 || b != 0 ? 1UL : 0UL;
                case DtsTokenKind.AndAnd: return a != 0 && b != 0 ? 1UL : 0UL;
                case DtsTokenKind.Pipe: return a | b;
                case DtsTokenKind.Caret: return a ^ b;
                case DtsTokenKind.Amp: return a & b;
                case DtsTokenKind.EqualEqual: return a == b ? 1UL : 0UL;
                case DtsTokenKind.NotEqual: return a != b ? 1UL : 0UL;
                case DtsTokenKind.Less: return a < b ? 1UL : 0UL;
                case DtsTokenKind.Greater: return a > b ? 1UL : 0UL;
                case DtsTokenKind.LessEqual: return a <= b ? 1UL : 0UL;
                case DtsTokenKind.GreaterEqual: return a >= b ? 1UL : 0UL;

                // Shifts by 64 or more give 0 (dtc's rule, where C would be undefined).
                case DtsTokenKind.ShiftLeft: return b < 64 ? a << (int)b : 0;
                case DtsTokenKind.ShiftRight: return b < 64 ? a >> (int)b : 0;
                case DtsTokenKind.Plus: return a + b;
                case DtsTokenKind.Minus: return a - b;
                case DtsTokenKind.Star: return a * b;
                case DtsTokenKind.Slash:
                    return b != 0 ? a / b : throw Error(op, "division by zero");
                case DtsTokenKind.Percent:
                    return b != 0 ? a % b : throw Error(op, "division by zero (in '%')");
                default:
                    throw new InvalidOperationException($"not a binary operator: {op.Kind}");
            }
        }
    }

    private ulong ParseUnary(int depth)
    {
        var t = Peek(DtsLexMode.Value);
        if (t.Kind is DtsTokenKind.Minus or DtsTokenKind.Tilde or DtsTokenKind.Bang)
        {
            Next(DtsLexMode.Value);
            CheckDepth(t, depth + 1);
            var v = ParseUnary(depth + 1);
            return t.Kind switch
            {
                DtsTokenKind.Minus => unchecked(0UL - v),
                DtsTokenKind.Tilde => ~v,
                _ => v == 0 ? 1UL : 0UL,
            };
        }

        return ParsePrimary(depth);
    }

    /// <summary>dtc's merge_nodes: labels added, properties replaced in place or appended, children merged by name.
    /// Returns whether node labels or the set of live nodes may have changed (what the label index depends on).</summary>
    private static bool Merge(DtsNode old, DtsNode update)
    {
        var changed = old.Deleted;
        old.Deleted = false;
        if (update.Labels is { } labels)
        {
            foreach (var l in labels)
            {
                old.AddLabel(l);
                changed = true;
            }
        }

        foreach (var p in update.Properties)
        {
            var existing = old.FirstProperty(p.Name);
            if (p.Deleted)
            {
                if (existing is not null)
                {
                    existing.Deleted = true;
                    existing.Labels = null;
                }

                continue;
            }

            if (existing is null)
            {
                old.Properties.Add(p);
                continue;
            }

            if (p.Labels is { } propLabels)
            {
                foreach (var l in propLabels)
                {
                    existing.AddLabel(l);
                }
            }

            existing.Data = p.Data;
            existing.Markers = p.Markers;
            existing.Origin = p.Origin;
            existing.Deleted = false;
        }

        foreach (var c in update.Children)
        {
            var existing = old.FirstChild(c.Name, liveOnly: false);

            if (c.Deleted)
            {
                existing?.Delete();
                changed |= existing is not null;
                continue;
            }

            if (existing is null)
            {
                c.Parent = old;
                old.Children.Add(c);
                changed = true;
            }
            else
            {
                changed |= Merge(existing, c);
            }
        }

        return changed;
    }

    /// <summary><see cref="Resolve"/> for top-level statements, with labels looked up in <see cref="_labelIndex"/>.</summary>
    private DtsNode? ResolveTopLevel(string reference)
    {
        if (_root is null || _root.Deleted || reference.StartsWith('/'))
        {
            return Resolve(_root, reference);
        }

        if (_labelIndex is null)
        {
            _labelIndex = new Dictionary<string, DtsNode>(StringComparer.Ordinal);
            var stack = new Stack<DtsNode>();
            stack.Push(_root);
            while (stack.Count > 0)
            {
                var n = stack.Pop();
                if (n.Labels is { } labels)
                {
                    foreach (var l in labels)
                    {
                        _labelIndex.TryAdd(l, n);
                    }
                }

                for (var i = n.Children.Count - 1; i >= 0; i--)
                {
                    if (!n.Children[i].Deleted)
                    {
                        stack.Push(n.Children[i]);
                    }
                }
            }
        }

        return _labelIndex.GetValueOrDefault(reference);
    }

    /// <summary>dtc's get_node_by_ref: "/" is the root, "/a/b" a path of exact names, anything else a label.</summary>
    internal static DtsNode? Resolve(DtsNode? root, string reference)
    {
        if (root is null || root.Deleted)
        {
            return null;
        }

        return reference.StartsWith('/') ? ResolvePath(root, reference) : FindLabel(root, reference);
    }

    private static DtsNode? ResolvePath(DtsNode root, string path)
    {
        var node = root;
        var i = 0;
        while (true)
        {
            while (i < path.Length && path[i] == '/')
            {
                i++;
            }

            if (i >= path.Length)
            {
                return node;
            }

            var slash = path.IndexOf('/', i);
            var part = slash < 0 ? path.AsSpan(i) : path.AsSpan(i, slash - i);
            var next = node.FirstChild(part, liveOnly: true);

            if (next is null)
            {
                return null;
            }

            node = next;
            if (slash < 0)
            {
                return node;
            }

            i = slash;
        }
    }

    private static DtsNode? FindLabel(DtsNode root, string label)
    {
        var stack = new Stack<DtsNode>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            var n = stack.Pop();
            if (n.Labels is { } labels && labels.Contains(label))
            {
                return n;
            }

            for (var i = n.Children.Count - 1; i >= 0; i--)
            {
                if (!n.Children[i].Deleted)
                {
                    stack.Push(n.Children[i]);
                }
            }
        }

        return null;
    }
}
