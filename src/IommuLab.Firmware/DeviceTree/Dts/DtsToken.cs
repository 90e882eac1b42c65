namespace IommuLab.Firmware.DeviceTree.Dts;

internal enum DtsTokenKind : byte
{
    Eof,

    /// <summary>A property or node name (lexed only where the grammar expects one).</summary>
    Name,

    /// <summary>"lbl:"; the token text is the label without the colon.</summary>
    Label,

    /// <summary>"&amp;lbl"; the text is the label.</summary>
    LabelRef,

    /// <summary>"&amp;{/path}"; the text is the path.</summary>
    PathRef,

    String,
    CharLiteral,
    Integer,
    Byte,

    /// <summary>A bare word where a value is expected: usually a macro that cpp was meant to expand.</summary>
    Identifier,

    DtsV1,
    Plugin,
    Memreserve,
    Bits,
    DeleteNode,
    DeleteProperty,
    OmitIfNoRef,
    Incbin,

    LBrace,
    RBrace,
    Semicolon,
    Equals,
    Comma,
    Less,
    Greater,
    LBracket,
    RBracket,
    LParen,
    RParen,
    Slash,
    Question,
    Colon,
    Plus,
    Minus,
    Star,
    Percent,
    Tilde,
    Bang,
    Caret,
    Pipe,
    Amp,
    ShiftLeft,
    ShiftRight,
    LessEqual,
    GreaterEqual,
    EqualEqual,
    NotEqual,
    AndAnd,
    OrOr,

    /// <summary>Any other character.</summary>
    Other,
}

/// <summary>What the grammar expects next; dtc's lexer has the same three states.</summary>
internal enum DtsLexMode : byte
{
    /// <summary>Property and node names ("#address-cells", "dart@382f00000", "1").</summary>
    Name,

    /// <summary>Property values and expressions: literals, strings, references, operators.</summary>
    Value,

    /// <summary>Inside "[ ]": pairs of hex digits.</summary>
    Bytes,
}

/// <summary>One token: its kind, where it is (physical and logical), and an integer value for literals.</summary>
internal readonly record struct DtsToken(
    DtsTokenKind Kind,
    DtsSourceText File,
    int Start,
    int Length,
    int TextStart,
    int TextLength,
    int PhysicalLine,
    int LineStart,
    string LogicalFile,
    int LogicalLine,
    ulong Value)
{
    public int Column => Start - LineStart + 1;

    public int End => Start + Length;

    public ReadOnlySpan<char> Text => File.Text.AsSpan(TextStart, TextLength);

    public SourcePosition Position => new(LogicalFile, LogicalLine, Column);

    public DtsOrigin Origin => new(Position, File, Start);
}

/// <summary>One source file being read: its text, where it lives, and cpp's idea of its name and line numbers.</summary>
internal sealed class DtsSourceText(string text, string? fullPath, string name)
{
    public string Text { get; } = text;

    /// <summary>Absolute path when the text came from a file (include-cycle detection), else null.</summary>
    public string? FullPath { get; } = fullPath;

    /// <summary>Folder that relative /include/ names start from.</summary>
    public string Directory { get; } = ResolveDirectory(fullPath);

    /// <summary>Name used in positions; a cpp linemarker can change it.</summary>
    public string LogicalName { get; set; } = name;

    /// <summary>Logical line minus physical line, set by cpp linemarkers.</summary>
    public int LineDelta { get; set; }

    // Where the lexer stopped in this file while an included file is read.
    public int SavedPos { get; set; }

    public int SavedLine { get; set; }

    public int SavedLineStart { get; set; }

    private static string ResolveDirectory(string? fullPath)
    {
        var dir = fullPath is null ? null : System.IO.Path.GetDirectoryName(fullPath);
        return string.IsNullOrEmpty(dir) ? System.IO.Directory.GetCurrentDirectory() : dir;
    }
}
