using System.Text;

namespace IommuLab.Firmware.DeviceTree.Dts;

/// <summary>
/// Reads /include/ and /incbin/ files with bounded memory. A source may name any path, including devices that
/// never end (/dev/zero) or block (/dev/stdin on a terminal), so only files that seek and end at their length
/// are read; every refusal is an <see cref="IOException"/> the caller turns into a positioned error.
/// </summary>
/// <remarks>A named pipe (FIFO) still blocks in open(2) until a writer appears: .NET cannot open it non-blocking.</remarks>
internal static class DtsInputFile
{
    /// <summary>The file's text as <see cref="File.ReadAllText(string)"/> decodes it; refused when it has more
    /// than <paramref name="maxChars"/> characters.</summary>
    public static string ReadText(string path, long maxChars)
    {
        using var stream = Open(path);

        // Every character takes at least one byte and a BOM at most four: a longer file cannot fit.
        var maxBytes = maxChars >= (Array.MaxLength - 4) / 4 ? Array.MaxLength : (maxChars * 4) + 4;
        if (stream.Length > maxBytes)
        {
            throw new IOException($"expected at most {maxChars} characters (the source size limit), found a file of {stream.Length} bytes");
        }

        var bytes = ReadExactly(stream, 0, (int)stream.Length);
        using var reader = new StreamReader(new MemoryStream(bytes), Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return reader.ReadToEnd();
    }

    /// <summary>Opens a file that can seek, so its length is known before anything is read.</summary>
    public static FileStream Open(string path)
    {
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        if (!stream.CanSeek)
        {
            stream.Dispose();
            throw new IOException("expected a regular file, found a pipe, socket or terminal");
        }

        return stream;
    }

    /// <summary><paramref name="count"/> bytes from <paramref name="offset"/>; when they reach the reported end, the
    /// file must really end there (devices report a length of 0 and read forever).</summary>
    public static byte[] ReadExactly(FileStream stream, long offset, int count)
    {
        var bytes = new byte[count];
        stream.Position = offset;
        stream.ReadExactly(bytes);
        if (offset + count == stream.Length && stream.ReadByte() >= 0)
        {
            throw new IOException("expected a regular file, found a device: it reads past its reported length");
        }

        return bytes;
    }
}
