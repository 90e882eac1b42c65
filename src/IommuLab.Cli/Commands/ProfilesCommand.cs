using System.CommandLine;
using IommuLab.Model.Kernel;

namespace IommuLab.Cli.Commands;

/// <summary>`iommulab profiles`: each profile's kernel version, commits and switch values, then every switch's meaning.</summary>
public static class ProfilesCommand
{
    public static Command Create()
    {
        var cmd = new Command("profiles", "List the behaviour profiles, the kernels and commits they stand for, and their switches");
        cmd.SetAction(parse =>
        {
            var o = parse.InvocationConfiguration.Output;
            foreach (var p in Profiles.All)
            {
                o.WriteLine($"{p.Name}  {p.Kernel}");
                o.WriteLine($"    {p.Summary}");
                foreach (var c in p.Commits)
                {
                    o.WriteLine($"    commit: {c}");
                }

                o.WriteLine($"    {string.Join(" ", SwitchCatalog.All.Select(s => $"{s.Name}={s.Get(p.Switches)}"))}");
                o.WriteLine();
            }

            o.WriteLine("switches (override with --set Switch=value):");
            foreach (var s in SwitchCatalog.All)
            {
                o.WriteLine($"  {s.Name} [{string.Join("|", s.Values)}] (spec {s.Spec})");
                o.WriteLine($"      {s.Doc}");
            }

            return 0;
        });
        return cmd;
    }
}
