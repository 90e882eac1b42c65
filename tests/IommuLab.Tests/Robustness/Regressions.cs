namespace IommuLab.Tests.Robustness;

/// <summary>The minimised inputs under Fixtures/regressions, one per finding.</summary>
internal static class Regressions
{
    public static string Folder => Path.Combine(AppContext.BaseDirectory, "Fixtures", "regressions");

    public static string File(string name)
    {
        var path = Path.Combine(Folder, name);
        return System.IO.File.Exists(path) ? path : throw new FileNotFoundException($"regression input {name} is missing", path);
    }

    public static byte[] Bytes(string name) => System.IO.File.ReadAllBytes(File(name));

    /// <summary>Runs <paramref name="body"/> and fails the test, instead of hanging it, when it takes too long.</summary>
    public static T Within<T>(TimeSpan limit, Func<T> body)
    {
        var task = Task.Run(body);
        Assert.True(task.Wait(limit), $"still running after {limit.TotalSeconds} s: a hang");
        return task.Result;
    }
}
