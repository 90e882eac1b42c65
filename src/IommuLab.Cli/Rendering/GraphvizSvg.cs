using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using IommuLab.Firmware.Topology;

namespace IommuLab.Cli.Rendering;

/// <summary>Runs Graphviz <c>dot -Tsvg</c> on a DOT graph.</summary>
public static class Graphviz
{
    /// <summary>What the user sees when dot is not installed.</summary>
    public const string NotFoundMessage = "Graphviz 'dot' not found: apt-get install graphviz";

    /// <summary>Large trees lay out in seconds; a minute means dot is stuck.</summary>
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>Renders <paramref name="dot"/> to SVG with the <c>dot</c> found on PATH.</summary>
    public static bool TryRenderSvg(string dot, out string svg, out string error) => TryRenderSvg(dot, "dot", out svg, out error);

    /// <summary>Renders <paramref name="dot"/> to SVG with the given dot executable (a name looked up on PATH, or a path).</summary>
    public static bool TryRenderSvg(string dot, string dotExecutable, out string svg, out string error)
    {
        ArgumentNullException.ThrowIfNull(dot);
        ArgumentNullException.ThrowIfNull(dotExecutable);
        svg = "";
        var psi = new ProcessStartInfo(dotExecutable, ["-Tsvg"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardInputEncoding = new UTF8Encoding(false),
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        Process? process;
        try
        {
            process = Process.Start(psi);
        }
        catch (Win32Exception)
        {
            error = NotFoundMessage;
            return false;
        }

        if (process is null)
        {
            error = NotFoundMessage;
            return false;
        }

        using (process)
        {
            // Read both pipes while writing, so neither side blocks on a full pipe.
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            try
            {
                process.StandardInput.Write(dot);
                process.StandardInput.Close();
            }
            catch (IOException)
            {
                // dot exited early; its stderr says why.
            }

            if (!process.WaitForExit(Timeout))
            {
                process.Kill(entireProcessTree: true);
                error = $"Graphviz 'dot' did not finish within {Timeout.TotalSeconds:0} s";
                return false;
            }

            if (process.ExitCode != 0)
            {
                error = $"Graphviz 'dot' failed (exit {process.ExitCode}): {stderr.Result.Trim()}";
                return false;
            }

            svg = stdout.Result;
            error = "";
            return true;
        }
    }
}

/// <summary><c>topology --format svg</c>: the DOT graph of <see cref="TopologyDot"/> laid out by Graphviz.</summary>
public static class TopologySvg
{
    /// <summary>Writes the SVG to <paramref name="output"/> and returns 0, or writes why not to <paramref name="error"/> and returns 2.</summary>
    public static int Write(IommuTopology topology, TextWriter output, TextWriter error, string dotExecutable = "dot")
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        using var dot = new StringWriter();
        TopologyDot.Write(topology, dot);
        return Write(dot.ToString(), output, error, dotExecutable);
    }

    /// <summary>Lays out a topology DOT graph (with or without group clusters) as SVG; 0, or 2 with why not on <paramref name="error"/>.</summary>
    public static int Write(string dot, TextWriter output, TextWriter error, string dotExecutable = "dot")
    {
        ArgumentNullException.ThrowIfNull(dot);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        if (!Graphviz.TryRenderSvg(dot, dotExecutable, out var svg, out var message))
        {
            error.WriteLine($"iommulab topology: {message}");
            return CliApp.ExitBadInput;
        }

        output.Write(svg);
        return 0;
    }
}
