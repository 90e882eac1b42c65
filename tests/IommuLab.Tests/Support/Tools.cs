using System.Diagnostics;

namespace IommuLab.Tests.Support;

/// <summary>Runs external peers (dtc) from tests. A missing tool fails the test: .ci/run installs it.</summary>
public static class Tools
{
    /// <summary>Runs a program; returns (exit code, stdout bytes, stderr text).</summary>
    public static (int ExitCode, byte[] Stdout, string Stderr) Run(string file, IEnumerable<string> args, byte[]? stdin = null)
    {
        var psi = new ProcessStartInfo(file, args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
        };
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
        var errTask = p.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            p.StandardInput.BaseStream.Write(stdin);
            p.StandardInput.Close();
        }

        using var ms = new MemoryStream();
        p.StandardOutput.BaseStream.CopyTo(ms);
        p.WaitForExit();
        return (p.ExitCode, ms.ToArray(), errTask.Result);
    }

    /// <summary>dtc with the given arguments; throws with dtc's message on failure.</summary>
    public static byte[] Dtc(params string[] args)
    {
        var (code, stdout, stderr) = Run("dtc", args);
        return code == 0 ? stdout : throw new InvalidOperationException($"dtc {string.Join(' ', args)} failed ({code}): {stderr}");
    }
}
