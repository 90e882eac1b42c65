using System.Text;

namespace IommuLab.Firmware.DeviceTree.Dts;

/// <summary>
/// Tokenizer for dtc's source language v1. The parser says which of dtc's lexer states applies
/// (names, values, bytes); comments, /include/ and cpp linemarkers are handled here, so the parser
/// only ever sees tokens. No allocation per character: tokens are offsets into the source text.
/// </summary>
internal sealed class DtsLexer
{
    private static readonly string[] CppDirectives =
        ["include", "include_next", "define", "undef", "if", "ifdef", "ifndef", "elif", "else", "endif", "error", "warning", "pragma", "import"];

    private static readonly (string Text, DtsTokenKind Kind)[] Keywords =
    [
        ("/dts-v1/", DtsTokenKind.DtsV1), ("/plugin/", DtsTokenKind.Plugin), ("/memreserve/", DtsTokenKind.Memreserve),
        ("/bits/", DtsTokenKind.Bits), ("/delete-node/", DtsTokenKind.DeleteNode), ("/delete-property/", DtsTokenKind.DeleteProperty),
        ("/omit-if-no-ref/", DtsTokenKind.OmitIfNoRef), ("/incbin/", DtsTokenKind.Incbin),
    ];

    private readonly DtsParserOptions _options;
    private readonly Stack<DtsSourceText> _includeStack = new();
    private readonly Dictionary<string, string> _names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> _nameLookup;
    private DtsSourceText _file;
    private string _text;
    private int _pos;
    private int _line = 1;
    private int _lineStart;
    private long _totalLength;
    private DtsToken _peeked;
    private DtsLexMode _peekedMode;
    private bool _hasPeeked;

    public DtsLexer(DtsSourceText root, DtsParserOptions options)
    {
        _options = options;
        _file = root;
        _text = root.Text;
        _totalLength = _text.Length;
        _nameLookup = _names.GetAlternateLookup<ReadOnlySpan<char>>();
        if (_totalLength > options.MaxTotalSourceLength)
        {
            throw Error(0, $"expected a source of at most {options.MaxTotalSourceLength} characters (DtsParserOptions.MaxTotalSourceLength), found {_totalLength}");
        }
    }

    public DtsParserOptions Options => _options;

    /// <summary>The source file the next token comes from (for /incbin/ and include resolution).</summary>
    public DtsSourceText CurrentFile => _file;

    public DtsToken Peek(DtsLexMode mode)
    {
        if (_hasPeeked)
        {
            if (_peekedMode == mode)
            {
                return _peeked;
            }

            // Same characters, other lexer state: lex them again.
            _pos = _peeked.Start;
            _line = _peeked.PhysicalLine;
            _lineStart = _peeked.LineStart;
        }

        _peeked = Lex(mode);
        _peekedMode = mode;
        _hasPeeked = true;
        return _peeked;
    }

    public DtsToken Next(DtsLexMode mode)
    {
        var t = Peek(mode);
        _hasPeeked = false;
        return t;
    }

    /// <summary>Interned copy of a name (the same few hundred property names repeat millions of times).</summary>
    public string Intern(ReadOnlySpan<char> name)
    {
        if (_nameLookup.TryGetValue(name, out var s))
        {
            return s;
        }

        s = name.ToString();
        _names[s] = s;
        return s;
    }

    public DtsSyntaxException Error(in DtsToken token, string message) =>
        new(token.LogicalFile, token.LogicalLine, token.Column, message, DtsSyntaxException.BuildExcerpt(token.File.Text, token.Start));

    /// <summary>An error at <paramref name="offset"/> inside <paramref name="token"/> (an escape inside a string).</summary>
    public DtsSyntaxException ErrorInside(in DtsToken token, int offset, string message)
    {
        var text = token.File.Text;
        var line = token.LogicalLine;
        var lineStart = token.LineStart;
        for (var i = token.Start; i < offset; i++)
        {
            if (text[i] == '\n')
            {
                line++;
                lineStart = i + 1;
            }
        }

        return new(token.LogicalFile, line, offset - lineStart + 1, message, DtsSyntaxException.BuildExcerpt(text, offset));
    }

    /// <summary>Decodes a string literal's C escapes into <paramref name="sink"/> (no terminating NUL).</summary>
    public void DecodeString(in DtsToken token, DtsByteBuffer sink)
    {
        var text = token.File.Text;
        var end = token.TextStart + token.TextLength;
        var i = token.TextStart;
        while (i < end)
        {
            // Fast path: a run of plain ASCII.
            var c = text[i];
            if (c != '\\')
            {
                if (c < 0x80)
                {
                    sink.Append((byte)c);
                    i++;
                }
                else
                {
                    i += AppendUtf8(text, i, end, sink);
                }

                continue;
            }

            i = DecodeEscape(token, i, end, sink);
        }
    }

    private int DecodeEscape(in DtsToken token, int backslash, int end, DtsByteBuffer sink)
    {
        var text = token.File.Text;
        var i = backslash + 1;
        if (i >= end)
        {
            throw ErrorInside(token, backslash, "backslash at the end of a literal: expected an escaped character, found the closing quote");
        }

        var c = text[i];
        switch (c)
        {
            case 'a': sink.Append(7); return i + 1;
            case 'b': sink.Append(8); return i + 1;
            case 't': sink.Append(9); return i + 1;
            case 'n': sink.Append(10); return i + 1;
            case 'v': sink.Append(11); return i + 1;
            case 'f': sink.Append(12); return i + 1;
            case 'r': sink.Append(13); return i + 1;
            case >= '0' and <= '7':
                {
                    // Up to three octal digits; like dtc, the value is kept to its low 8 bits.
                    var v = 0;
                    var j = i;
                    while (j < end && j < i + 3 && text[j] is >= '0' and <= '7')
                    {
                        v = (v * 8) + (text[j] - '0');
                        j++;
                    }

                    sink.Append(unchecked((byte)v));
                    return j;
                }

            case 'x':
                {
                    var v = 0;
                    var j = i + 1;
                    while (j < end && j < i + 3 && HexValue(text[j]) >= 0)
                    {
                        v = (v * 16) + HexValue(text[j]);
                        j++;
                    }

                    if (j == i + 1)
                    {
                        throw ErrorInside(token, backslash, $"\\x used with no following hex digits: expected 1 or 2 hex digits, found {Found(text, i + 1, end)}");
                    }

                    sink.Append((byte)v);
                    return j;
                }

            default:
                // dtc keeps any other escaped character as itself (\\, \", \', and also \q).
                if (c < 0x80)
                {
                    sink.Append((byte)c);
                    return i + 1;
                }

                return i + AppendUtf8(text, i, end, sink);
        }
    }

    private static int AppendUtf8(string text, int i, int end, DtsByteBuffer sink)
    {
        var len = char.IsHighSurrogate(text[i]) && i + 1 < end && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
        Span<byte> buf = stackalloc byte[8];
        var n = Encoding.UTF8.GetBytes(text.AsSpan(i, len), buf);
        sink.Append(buf[..n]);
        return len;
    }

    public static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    /// <summary>dtc's property/node name characters.</summary>
    public static bool IsNameChar(char c) =>
        c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or ',' or '.' or '_' or '+' or '*' or '#' or '?' or '@' or '-';

    private static bool IsIdentStart(char c) => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or '_';

    private static bool IsIdentChar(char c) => IsIdentStart(c) || c is >= '0' and <= '9';

    private DtsToken Lex(DtsLexMode mode)
    {
        SkipTrivia();
        var start = _pos;
        if (start >= _text.Length)
        {
            return Make(DtsTokenKind.Eof, start, 0);
        }

        var text = _text;
        var c = text[start];

        // "label:" wins over a name or a value wherever it appears (longest match in dtc's lexer).
        if (IsIdentStart(c))
        {
            var j = start + 1;
            while (j < text.Length && IsIdentChar(text[j]))
            {
                j++;
            }

            if (j < text.Length && text[j] == ':')
            {
                _pos = j + 1;
                return Make(DtsTokenKind.Label, start, j + 1 - start, start, j - start);
            }
        }

        switch (mode)
        {
            case DtsLexMode.Name:
                if (IsNameChar(c) || (c == '\\' && start + 1 < text.Length && IsNameChar(text[start + 1])))
                {
                    var from = c == '\\' ? start + 1 : start;
                    var j = from;
                    while (j < text.Length && IsNameChar(text[j]))
                    {
                        j++;
                    }

                    _pos = j;
                    return Make(DtsTokenKind.Name, start, j - start, from, j - from);
                }

                break;
            case DtsLexMode.Value:
                if (c is >= '0' and <= '9')
                {
                    return LexInteger(start);
                }

                if (c == '\'')
                {
                    return LexChar(start);
                }

                if (IsIdentStart(c))
                {
                    var j = start + 1;
                    while (j < text.Length && IsNameChar(text[j]))
                    {
                        j++;
                    }

                    _pos = j;
                    return Make(DtsTokenKind.Identifier, start, j - start);
                }

                break;
            case DtsLexMode.Bytes:
                if (HexValue(c) >= 0 && start + 1 < text.Length && HexValue(text[start + 1]) >= 0)
                {
                    _pos = start + 2;
                    return Make(DtsTokenKind.Byte, start, 2, start, 2, (ulong)((HexValue(c) * 16) + HexValue(text[start + 1])));
                }

                break;
        }

        if (c == '"')
        {
            return LexString(start);
        }

        if (c == '/' && TryLexKeyword(start, out var keyword))
        {
            return keyword;
        }

        if (c == '&' && start + 1 < text.Length)
        {
            var n = text[start + 1];
            if (IsIdentStart(n))
            {
                var j = start + 2;
                while (j < text.Length && IsIdentChar(text[j]))
                {
                    j++;
                }

                _pos = j;
                return Make(DtsTokenKind.LabelRef, start, j - start, start + 1, j - start - 1);
            }

            if (n == '{')
            {
                var j = start + 2;
                while (j < text.Length && (IsNameChar(text[j]) || text[j] == '/'))
                {
                    j++;
                }

                if (j >= text.Length || text[j] != '}' || j == start + 2 || text[start + 2] != '/')
                {
                    _pos = start;
                    throw Error(Make(DtsTokenKind.Other, start, 1), $"bad path reference: expected &{{/path/to/node}}, found '{text.AsSpan(start, Math.Min(j + 1, text.Length) - start).ToString().ReplaceLineEndings(" ")}'");
                }

                _pos = j + 1;
                return Make(DtsTokenKind.PathRef, start, j + 1 - start, start + 2, j - start - 2);
            }
        }

        return LexPunctuation(start, c);
    }

    private DtsToken LexPunctuation(int start, char c)
    {
        var n = start + 1 < _text.Length ? _text[start + 1] : '\0';
        var kind = DtsTokenKind.Other;
        var len = 1;
        switch (c)
        {
            case '{': kind = DtsTokenKind.LBrace; break;
            case '}': kind = DtsTokenKind.RBrace; break;
            case ';': kind = DtsTokenKind.Semicolon; break;
            case ',': kind = DtsTokenKind.Comma; break;
            case '[': kind = DtsTokenKind.LBracket; break;
            case ']': kind = DtsTokenKind.RBracket; break;
            case '(': kind = DtsTokenKind.LParen; break;
            case ')': kind = DtsTokenKind.RParen; break;
            case '/': kind = DtsTokenKind.Slash; break;
            case '?': kind = DtsTokenKind.Question; break;
            case ':': kind = DtsTokenKind.Colon; break;
            case '+': kind = DtsTokenKind.Plus; break;
            case '-': kind = DtsTokenKind.Minus; break;
            case '*': kind = DtsTokenKind.Star; break;
            case '%': kind = DtsTokenKind.Percent; break;
            case '~': kind = DtsTokenKind.Tilde; break;
            case '^': kind = DtsTokenKind.Caret; break;
            case '=':
                (kind, len) = n == '=' ? (DtsTokenKind.EqualEqual, 2) : (DtsTokenKind.Equals, 1);
                break;
            case '!':
                (kind, len) = n == '=' ? (DtsTokenKind.NotEqual, 2) : (DtsTokenKind.Bang, 1);
                break;
            case '<':
                (kind, len) = n switch
                {
                    '<' => (DtsTokenKind.ShiftLeft, 2),
                    '=' => (DtsTokenKind.LessEqual, 2),
                    _ => (DtsTokenKind.Less, 1),
                };
                break;
            case '>':
                (kind, len) = n switch
                {
                    '>' => (DtsTokenKind.ShiftRight, 2),
                    '=' => (DtsTokenKind.GreaterEqual, 2),
                    _ => (DtsTokenKind.Greater, 1),
                };
                break;
            case '&':
                (kind, len) = n == '&' ? (DtsTokenKind.AndAnd, 2) : (DtsTokenKind.Amp, 1);
                break;
            case '|':
                (kind, len) = n == '|' ? (DtsTokenKind.OrOr, 2) : (DtsTokenKind.Pipe, 1);
                break;
        }

        if (kind == DtsTokenKind.Other && char.IsHighSurrogate(c) && char.IsLowSurrogate(n))
        {
            len = 2;
        }

        _pos = start + len;
        return Make(kind, start, len);
    }

    private bool TryLexKeyword(int start, out DtsToken token)
    {
        token = default;
        var rest = _text.AsSpan(start);
        if (rest.Length < 2 || rest[1] is not (>= 'a' and <= 'z'))
        {
            return false;
        }

        foreach (var (kwText, kind) in Keywords)
        {
            if (rest.StartsWith(kwText, StringComparison.Ordinal))
            {
                _pos = start + kwText.Length;
                token = Make(kind, start, kwText.Length);
                return true;
            }
        }

        return false;
    }

    private DtsToken LexInteger(int start)
    {
        var text = _text;
        var j = start;
        ulong value = 0;
        var overflow = false;
        var bad = false;
        if (text[j] == '0' && j + 2 < text.Length && text[j + 1] is 'x' or 'X' && HexValue(text[j + 2]) >= 0)
        {
            j += 2;
            while (j < text.Length && HexValue(text[j]) is var h && h >= 0)
            {
                overflow |= (value >> 60) != 0;
                value = unchecked((value << 4) | (uint)h);
                j++;
            }
        }
        else if (text[j] == '0')
        {
            // A leading 0 means octal, as in C; 8 and 9 make the literal invalid.
            j++;
            while (j < text.Length && text[j] is >= '0' and <= '9')
            {
                bad |= text[j] > '7';
                overflow |= (value >> 61) != 0;
                value = unchecked((value << 3) | (uint)(text[j] - '0'));
                j++;
            }
        }
        else
        {
            while (j < text.Length && text[j] is >= '0' and <= '9')
            {
                var d = (uint)(text[j] - '0');
                if (value > (ulong.MaxValue - d) / 10)
                {
                    overflow = true;
                }

                value = unchecked((value * 10) + d);
                j++;
            }
        }

        // C integer suffixes; dtc accepts U, L, UL, LL and ULL (upper case only).
        var s = text.AsSpan(j);
        if (s.StartsWith("ULL", StringComparison.Ordinal))
        {
            j += 3;
        }
        else if (s.StartsWith("UL", StringComparison.Ordinal) || s.StartsWith("LL", StringComparison.Ordinal))
        {
            j += 2;
        }
        else if (s.Length > 0 && s[0] is 'U' or 'L')
        {
            j += 1;
        }

        _pos = j;
        var token = Make(DtsTokenKind.Integer, start, j - start, start, j - start, value);
        if (bad)
        {
            throw Error(token, $"bad integer literal: expected only digits of its base (a leading 0 means octal), found '{token.Text}'");
        }

        if (overflow)
        {
            throw Error(token, $"integer literal out of range (more than 64 bits): expected a value below 2^64, found '{token.Text}'");
        }

        return token;
    }

    private DtsToken LexChar(int start)
    {
        var end = ScanQuoted(start, '\'');
        if (end < 0)
        {
            throw Error(Make(DtsTokenKind.CharLiteral, start, 1), "unterminated character literal: expected a closing ', found the end of the input");
        }

        var token = Make(DtsTokenKind.CharLiteral, start, end - start, start + 1, end - start - 2);
        AdvanceOver(start, end);
        var buffer = new DtsByteBuffer(4);
        DecodeString(token, buffer);
        if (buffer.Length == 0)
        {
            throw Error(token, "empty character literal: expected one character between the quotes, found none");
        }

        if (buffer.Length > 1)
        {
            throw Error(token, $"character literal: expected one character, found {buffer.Length}");
        }

        return token with { Value = buffer.Span[0] };
    }

    private DtsToken LexString(int start)
    {
        var end = ScanQuoted(start, '"');
        if (end < 0)
        {
            throw Error(Make(DtsTokenKind.String, start, 1), "unterminated string: expected a closing '\"', found the end of the input");
        }

        var token = Make(DtsTokenKind.String, start, end - start, start + 1, end - start - 2);
        AdvanceOver(start, end);
        return token;
    }

    /// <summary>Index after the closing quote, or -1 when the literal runs to the end of the file.</summary>
    private int ScanQuoted(int start, char quote)
    {
        var text = _text;
        var i = start + 1;
        while (i < text.Length)
        {
            var c = text[i];
            if (c == quote)
            {
                return i + 1;
            }

            i += c == '\\' ? 2 : 1;
        }

        return -1;
    }

    /// <summary>Moves past a token that may span lines, keeping the line count right.</summary>
    private void AdvanceOver(int start, int end)
    {
        var nl = _text.AsSpan(start, end - start).LastIndexOf('\n');
        if (nl >= 0)
        {
            _line += _text.AsSpan(start, end - start).Count('\n');
            _lineStart = start + nl + 1;
        }

        _pos = end;
    }

    private DtsToken Make(DtsTokenKind kind, int start, int length) => Make(kind, start, length, start, length);

    private DtsToken Make(DtsTokenKind kind, int start, int length, int textStart, int textLength, ulong value = 0) =>
        new(kind, _file, start, length, textStart, textLength, _line, _lineStart, _file.LogicalName, _line + _file.LineDelta, value);

    /// <summary>What stands at <paramref name="pos"/> (before <paramref name="end"/>), for "found ..." in messages.</summary>
    private static string Found(string text, int pos, int end) =>
        pos >= end || pos >= text.Length ? "the end of the input"
        : text[pos] is '\n' or '\r' ? "the end of the line"
        : $"'{text[pos]}'";

    private DtsSyntaxException Error(int offset, string message) =>
        new(_file.LogicalName, _line + _file.LineDelta, offset - _lineStart + 1, message, DtsSyntaxException.BuildExcerpt(_text, offset));

    private void SkipTrivia()
    {
        var text = _text;
        while (true)
        {
            if (_pos >= text.Length)
            {
                if (_includeStack.Count == 0)
                {
                    return;
                }

                PopInclude();
                text = _text;
                continue;
            }

            var c = text[_pos];
            switch (c)
            {
                case '\n':
                    _pos++;
                    _line++;
                    _lineStart = _pos;
                    continue;
                case ' ' or '\t' or '\r' or '\f' or '\v':
                    _pos++;
                    continue;
                case '/' when _pos + 1 < text.Length && text[_pos + 1] == '*':
                    {
                        var close = text.IndexOf("*/", _pos + 2, StringComparison.Ordinal);
                        if (close < 0)
                        {
                            throw Error(_pos, "unterminated comment: expected '*/', found the end of the input");
                        }

                        AdvanceOver(_pos, close + 2);
                        continue;
                    }

                case '/' when _pos + 1 < text.Length && text[_pos + 1] == '/':
                    {
                        var nl = text.IndexOf('\n', _pos);
                        _pos = nl < 0 ? text.Length : nl;
                        continue;
                    }

                case '/' when text.AsSpan(_pos).StartsWith("/include/", StringComparison.Ordinal):
                    PushInclude();
                    text = _text;
                    continue;
                case '#' when AtLineStart():
                    if (SkipCppLine())
                    {
                        continue;
                    }

                    return;
                default:
                    return;
            }
        }
    }

    private bool AtLineStart()
    {
        for (var i = _lineStart; i < _pos; i++)
        {
            if (_text[i] is not (' ' or '\t'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// A '#' that starts a line: a cpp linemarker ("# 12 \"file\"" or "#line 12") is applied and skipped;
    /// any other cpp directive is an error; anything else ("#address-cells") is a name, left for the lexer.
    /// </summary>
    private bool SkipCppLine()
    {
        var text = _text;
        var i = _pos + 1;
        while (i < text.Length && text[i] is ' ' or '\t')
        {
            i++;
        }

        var wordStart = i;
        while (i < text.Length && IsIdentChar(text[i]))
        {
            i++;
        }

        var word = text.AsSpan(wordStart, i - wordStart);
        var boundary = i >= text.Length || !IsNameChar(text[i]);
        if (word.Length > 0 && word[0] is >= '0' and <= '9' && word.IndexOfAnyExceptInRange('0', '9') < 0)
        {
            ApplyLinemarker(wordStart);
            return true;
        }

        if (word.SequenceEqual("line") && boundary)
        {
            var j = i;
            while (j < text.Length && text[j] is ' ' or '\t')
            {
                j++;
            }

            if (j < text.Length && text[j] is >= '0' and <= '9')
            {
                ApplyLinemarker(j);
                return true;
            }
        }

        if (boundary)
        {
            foreach (var d in CppDirectives)
            {
                if (word.SequenceEqual(d))
                {
                    throw Error(_pos, $"expected dtc syntax, found the C preprocessor directive '#{d}' (dtc's language has none); run the source through "
                        + "'cpp -nostdinc -undef -D__DTS__ -x assembler-with-cpp' first (with -I for the include folders)");
                }
            }
        }

        return false;
    }

    private void ApplyLinemarker(int digitsStart)
    {
        var text = _text;
        var i = digitsStart;
        long line = 0;
        while (i < text.Length && text[i] is >= '0' and <= '9')
        {
            line = (line * 10) + (text[i] - '0');
            if (line > int.MaxValue / 2)
            {
                throw Error(digitsStart, "line number in linemarker: expected at most 10 digits below 2^30, found a larger number");
            }

            i++;
        }

        while (i < text.Length && text[i] is ' ' or '\t')
        {
            i++;
        }

        string? name = null;
        if (i < text.Length && text[i] == '"')
        {
            var sb = new StringBuilder();
            var j = i + 1;
            while (j < text.Length && text[j] != '"' && text[j] != '\n')
            {
                if (text[j] == '\\' && j + 1 < text.Length && text[j + 1] != '\n')
                {
                    j++;
                }

                sb.Append(text[j]);
                j++;
            }

            if (j >= text.Length || text[j] != '"')
            {
                throw Error(i, $"unterminated file name in linemarker: expected a closing '\"', found {Found(text, j, text.Length)}");
            }

            name = sb.ToString();
        }

        var nl = text.IndexOf('\n', i);
        _pos = nl < 0 ? text.Length : nl;

        // The marker names the line that follows it.
        _file.LineDelta = (int)line - (_line + 1);
        if (name is not null)
        {
            _file.LogicalName = name;
        }
    }

    private void PushInclude()
    {
        var directiveStart = _pos;
        var text = _text;
        var i = _pos + "/include/".Length;
        while (i < text.Length && char.IsWhiteSpace(text[i]))
        {
            i++;
        }

        if (i >= text.Length || text[i] != '"')
        {
            throw Error(directiveStart, $"expected a quoted file name after /include/, found {Found(text, i, text.Length)}");
        }

        var close = text.IndexOf('"', i + 1);
        if (close < 0)
        {
            throw Error(i, "unterminated file name after /include/: expected a closing '\"', found the end of the input");
        }

        var name = text[(i + 1)..close];
        var path = ResolveFile(name) ?? throw Error(i, $"cannot find include file \"{name}\": expected it in {string.Join(", ", SearchFolders())}, found it in none");
        if (_includeStack.Count + 1 > _options.MaxIncludeDepth)
        {
            throw FirmwareFormatException.Exceeds(Error(directiveStart, $"expected /include/ nested at most {_options.MaxIncludeDepth} files deep, found \"{name}\" at depth {_includeStack.Count + 1}{FirmwareLimits.Hint(FirmwareLimit.IncludeDepth, "DtsParserOptions.MaxIncludeDepth")}"), FirmwareLimit.IncludeDepth);
        }

        if (path == _file.FullPath || _includeStack.Any(f => f.FullPath == path))
        {
            throw Error(directiveStart, $"include cycle: expected a file not already being included, found \"{name}\" again");
        }

        string content;
        try
        {
            content = DtsInputFile.ReadText(path, _options.MaxTotalSourceLength - _totalLength);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Error(i, $"cannot read include file \"{name}\": {e.Message}");
        }

        _totalLength += content.Length;
        if (_totalLength > _options.MaxTotalSourceLength)
        {
            throw Error(directiveStart, $"expected a source with includes of at most {_options.MaxTotalSourceLength} characters (DtsParserOptions.MaxTotalSourceLength), found {_totalLength} with \"{name}\"");
        }

        // Everything up to the closing quote is consumed; lines inside the directive are counted.
        AdvanceOver(directiveStart, close + 1);
        _file.SavedPos = _pos;
        _file.SavedLine = _line;
        _file.SavedLineStart = _lineStart;
        _includeStack.Push(_file);
        _file = new DtsSourceText(content, path, path);
        _text = content;
        _pos = 0;
        _line = 1;
        _lineStart = 0;
    }

    private void PopInclude()
    {
        _file = _includeStack.Pop();
        _text = _file.Text;
        _pos = _file.SavedPos;
        _line = _file.SavedLine;
        _lineStart = _file.SavedLineStart;
    }

    private IEnumerable<string> SearchFolders()
    {
        yield return _file.Directory;
        foreach (var p in _options.IncludePaths)
        {
            yield return p;
        }
    }

    /// <summary>Full path of an /include/ or /incbin/ file: the current file's folder first, then the include paths.</summary>
    public string? ResolveFile(string name)
    {
        if (name.Length == 0 || name.Contains('\0'))
        {
            return null;
        }

        try
        {
            if (Path.IsPathRooted(name))
            {
                return File.Exists(name) ? Path.GetFullPath(name) : null;
            }

            foreach (var folder in SearchFolders())
            {
                var candidate = Path.GetFullPath(Path.Combine(folder, name));
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            return null;
        }

        return null;
    }
}
