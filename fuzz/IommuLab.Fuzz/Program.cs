using IommuLab.Fuzz;
using SharpFuzz;

// iommulab-fuzz TARGET               AFL++ persistent mode (run under afl-fuzz, input on stdin)
// iommulab-fuzz TARGET --replay [--in DIR] F...
//                                    runs files once each, prints accepted/rejected, exits 1 on a finding; DTS
//                                    /include/ and /incbin/ resolve in DIR (default: the folder the fuzzer used)
if (args.Length < 1 || !FuzzTargets.Names.Contains(args[0]))
{
    Console.Error.WriteLine($"usage: iommulab-fuzz {string.Join("|", FuzzTargets.Names)} [--replay FILE...]");
    return 2;
}

var target = args[0];

// /include/ and /incbin/ in fuzzed DTS resolve in a folder holding one small file of each kind.
var workDir = Path.Combine(Path.GetTempPath(), $"iommulab-fuzz-work-{Environment.ProcessId}");
Directory.CreateDirectory(workDir);
File.WriteAllText(Path.Combine(workDir, "a.dtsi"), "/ { inc { x = <1>; }; };\n");
File.WriteAllBytes(Path.Combine(workDir, "a.bin"), [0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3]);

if (args.Length > 1 && args[1] == "--replay")
{
    var files = args.Skip(2).ToList();
    if (files.Count >= 2 && files[0] == "--in")
    {
        workDir = Path.GetFullPath(files[1]);
        files.RemoveRange(0, 2);
    }

    var findings = 0;
    foreach (var file in files)
    {
        try
        {
            var accepted = FuzzTargets.Run(target, File.ReadAllBytes(file), workDir);
            Console.WriteLine($"{(accepted ? "accepted" : "rejected")} {file}");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            findings++;
            Console.WriteLine($"FINDING {file}: {e.GetType().Name}: {e.Message}");
            Console.WriteLine(e.StackTrace);
        }
    }

    return findings == 0 ? 0 : 1;
}

Fuzzer.OutOfProcess.Run(stream =>
{
    using var buffer = new MemoryStream();
    stream.CopyTo(buffer);
    FuzzTargets.Run(target, buffer.ToArray(), workDir);
});
return 0;
