namespace IommuLab.Model.Exploration;

/// <summary>The exploration strategies, with the stable names the CLI and trace files use.</summary>
public enum StrategyKind
{
    /// <summary>Optimal dynamic partial-order reduction: every Mazurkiewicz trace exactly once (a proof when complete).</summary>
    Exhaustive,

    /// <summary>Uniformly random scheduling (a sample).</summary>
    Random,

    /// <summary>Probabilistic concurrency testing (a sample with a bug-depth guarantee).</summary>
    Pct,
}

public static class StrategyNames
{
    public static string GetName(StrategyKind kind) => kind switch
    {
        StrategyKind.Exhaustive => "exhaustive",
        StrategyKind.Random => "random",
        StrategyKind.Pct => "pct",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static StrategyKind? FromName(string name) => name?.ToLowerInvariant() switch
    {
        "exhaustive" or "dpor" => StrategyKind.Exhaustive,
        "random" => StrategyKind.Random,
        "pct" => StrategyKind.Pct,
        _ => null,
    };

    public static IReadOnlyList<string> All { get; } = ["exhaustive", "random", "pct"];

    /// <summary>A strategy by kind; <c>stopWhenUnprovable</c> applies to the exhaustive one (<see cref="OptimalDporStrategy"/>).</summary>
    public static IExplorationStrategy Create(StrategyKind kind, int budget, int seed, int pctDepth = 3, bool stopWhenUnprovable = false) => kind switch
    {
        StrategyKind.Exhaustive => new OptimalDporStrategy(budget, stopWhenUnprovable),
        StrategyKind.Random => new RandomStrategy(budget, seed),
        StrategyKind.Pct => new PctStrategy(budget, seed, pctDepth),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}

/// <summary>How an exploration ended.</summary>
/// <param name="Executions">Maximal executions run.</param>
/// <param name="Complete">Every Mazurkiewicz trace was explored (a proof); false for samples and exhausted budgets.</param>
/// <param name="SleepBlocked">Executions abandoned because every enabled process slept (0 for optimal DPOR).</param>
/// <param name="LabelMismatches">Steps whose accesses differed from an earlier run of the same step (a model whose declared accesses depend on more than it declares).</param>
public sealed record StrategyResult(int Executions, bool Complete, int SleepBlocked, int LabelMismatches);

/// <summary>A way to choose executions of a system.</summary>
public interface IExplorationStrategy
{
    StrategyKind Kind { get; }

    StrategyResult Explore(IExplorable system, Executor executor, Action<ExecutionRecord> onExecution);
}

/// <summary>Uniformly random choice among enabled processes at every step, one fresh seed per execution.</summary>
/// <remarks>The baseline of Coyote's random strategy (Deligiannis et al., "Uncovering Bugs in Distributed Storage Systems during Testing (not in Production!)", FAST 2016).</remarks>
public sealed class RandomStrategy(int budget, int seed) : IExplorationStrategy
{
    public StrategyKind Kind => StrategyKind.Random;

    public StrategyResult Explore(IExplorable system, Executor executor, Action<ExecutionRecord> onExecution)
    {
        ArgumentNullException.ThrowIfNull(executor);
        ArgumentNullException.ThrowIfNull(onExecution);
        for (var n = 0; n < budget; n++)
        {
            var rng = new Random(unchecked((seed * 1_000_003) + n));
            var c = executor.Start(system);
            while (c.Enabled() is { Count: > 0 } e)
            {
                c.Step(e[rng.Next(e.Count)]);
            }

            onExecution(c.Finish());
        }

        return new StrategyResult(budget, false, 0, 0);
    }
}

/// <summary>
/// PCT: random distinct process priorities, always run the highest-priority enabled process, and lower the running
/// process's priority at d-1 random change points; finds any bug of depth d with probability at least 1/(n·k^(d-1)).
/// </summary>
/// <remarks>Burckhardt, Kothari, Musuvathi, Nagarakatte, "A Randomized Scheduler with Probabilistic Guarantees of Finding Bugs", ASPLOS 2010.</remarks>
public sealed class PctStrategy(int budget, int seed, int depth) : IExplorationStrategy
{
    public StrategyKind Kind => StrategyKind.Pct;

    public StrategyResult Explore(IExplorable system, Executor executor, Action<ExecutionRecord> onExecution)
    {
        ArgumentNullException.ThrowIfNull(executor);
        ArgumentNullException.ThrowIfNull(onExecution);
        var k = 1;
        for (var n = 0; n < budget; n++)
        {
            var rng = new Random(unchecked((seed * 1_000_003) + n));
            var changes = new HashSet<int>();
            for (var i = 1; i < depth; i++)
            {
                changes.Add(rng.Next(k));
            }

            var priority = new Dictionary<int, int>();
            var low = 0;
            var c = executor.Start(system);
            var step = 0;
            while (c.Enabled() is { Count: > 0 } e)
            {
                foreach (var p in e)
                {
                    if (!priority.ContainsKey(p))
                    {
                        // Fresh processes get a random high priority above every lowered one.
                        priority[p] = 1000 + rng.Next(1_000_000);
                    }
                }

                var pick = e.MaxBy(p => (priority[p], -p));
                if (changes.Contains(step))
                {
                    priority[pick] = low--;
                    pick = e.MaxBy(p => (priority[p], -p));
                }

                c.Step(pick);
                step++;
            }

            k = Math.Max(k, step);
            onExecution(c.Finish());
        }

        return new StrategyResult(budget, false, 0, 0);
    }
}

/// <summary>Every interleaving, without reduction: the reference the DPOR proof tests compare against.</summary>
public sealed class AllInterleavings(int budget)
{
    public StrategyResult Explore(IExplorable system, Executor executor, Action<ExecutionRecord> onExecution)
    {
        ArgumentNullException.ThrowIfNull(executor);
        ArgumentNullException.ThrowIfNull(onExecution);
        var count = 0;

        // Depth-first over choice indices; each execution re-runs from the start.
        var choiceAt = new List<int>();
        while (true)
        {
            var c = executor.Start(system);
            var widths = new List<int>();
            var depth = 0;
            while (c.Enabled() is { Count: > 0 } e)
            {
                var idx = depth < choiceAt.Count ? choiceAt[depth] : 0;
                if (depth >= choiceAt.Count)
                {
                    choiceAt.Add(0);
                }

                widths.Add(e.Count);
                c.Step(e[idx]);
                depth++;
            }

            onExecution(c.Finish());
            count++;
            choiceAt.RemoveRange(depth, choiceAt.Count - depth);
            var d = depth - 1;
            while (d >= 0 && choiceAt[d] + 1 >= widths[d])
            {
                d--;
            }

            if (d < 0)
            {
                return new StrategyResult(count, true, 0, 0);
            }

            if (count >= budget)
            {
                return new StrategyResult(count, false, 0, 0);
            }

            choiceAt[d]++;
            choiceAt.RemoveRange(d + 1, choiceAt.Count - d - 1);
        }
    }
}
