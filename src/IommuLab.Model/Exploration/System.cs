using System.Collections.Immutable;

namespace IommuLab.Model.Exploration;

/// <summary>
/// A concurrent system the explorer re-executes from its initial state (stateless exploration): each call to
/// <see cref="Start"/> builds a fresh execution, so nothing carries over between executions.
/// </summary>
public interface IExplorable
{
    IExplorableRun Start();
}

/// <summary>One execution in progress: a set of processes, each a sequence of steps the explorer orders.</summary>
public interface IExplorableRun
{
    /// <summary>The processes created so far, in creation order (a step may create more).</summary>
    IReadOnlyList<ProcessInfo> Processes { get; }

    /// <summary>Whether process <paramref name="process"/> (an index into <see cref="Processes"/>) can take a step now.</summary>
    bool IsEnabled(int process);

    /// <summary>Runs the next step of an enabled process and reports what it touched.</summary>
    StepInfo Step(int process);

    /// <summary>Once no process is enabled: runs the deterministic epilogue and reads the quiescent outcome.</summary>
    RunOutcome Finish();
}

/// <summary>A process: a stable key (the same process in every execution has the same key) and a display name.</summary>
public sealed record ProcessInfo(string Key, string Name);

/// <summary>
/// What one step did: its name (kernel vocabulary), the shared-state accesses it performed (its dependency label),
/// and the processes it created (a creation edge orders the creator before the created process's first step).
/// </summary>
public sealed record StepInfo(string Name, ImmutableArray<Access> Accesses, ImmutableArray<int> Spawned);

/// <summary>
/// The quiescent outcome of one execution: the I5 key (order-independent facts, one line per fact), and the
/// violations of the per-execution invariants.
/// </summary>
public sealed record RunOutcome(ImmutableArray<string> Facts, IReadOnlyList<Violation> Violations)
{
    /// <summary>The facts as one string (built on each call: a scan compares the facts themselves).</summary>
    public string Key => string.Join("\n", Facts);

    /// <summary>The deferred-probe timeout expired before every IOMMU driver had probed: not an I5 candidate.</summary>
    public bool EarlyTimeout { get; init; }
}
