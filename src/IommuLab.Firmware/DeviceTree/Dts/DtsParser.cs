namespace IommuLab.Firmware.DeviceTree.Dts;

/// <summary>
/// Compiles device tree source (dtc's language v1) into a <see cref="DeviceTree"/> that equals what
/// "dtc -I dts -O dtb" would produce, byte for byte in every property, with labels and positions kept.
/// </summary>
/// <remarks>
/// cpp is not run: a source with #include or #define must be preprocessed first, and the
/// linemarkers cpp leaves behind are understood, so positions point into the original files.
/// </remarks>
public static class DtsParser
{
    /// <summary>Compiles <paramref name="text"/>; /include/ looks in <paramref name="fileName"/>'s folder, then the include paths.</summary>
    public static DeviceTree Parse(string text, string fileName, DtsParserOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(fileName);
        options ??= DtsParserOptions.Default;
        string? fullPath = null;
        try
        {
            fullPath = fileName.Length == 0 ? null : Path.GetFullPath(fileName);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            // A descriptive name that is not a path: includes are then relative to the current folder.
        }

        var lexer = new DtsLexer(new DtsSourceText(text, fullPath, fileName), options);
        var document = new DtsGrammar(lexer).ParseDocument();
        return DtsLinker.Link(document, options, fileName);
    }

    /// <summary>Reads a UTF-8 file and compiles it, as <see cref="Parse"/>.</summary>
    public static DeviceTree ParseFile(string path, DtsParserOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Parse(File.ReadAllText(path), path, options);
    }
}
