using System.Runtime.InteropServices;

namespace IommuLab.Model.Exploration;

/// <summary>A finished execution: its steps, the process keys they name, and its quiescent outcome.</summary>
public sealed record ExecutionRecord(IReadOnlyList<ExecutedStep> Steps, IReadOnlyList<string> ProcessKeys, RunOutcome Outcome, IExplorableRun Run)
{
    /// <summary>The schedule as stable process keys, one per step (what traces store).</summary>
    public IReadOnlyList<string> Schedule => [.. Steps.Select(s => ProcessKeys[s.Process])];

    public IReadOnlyList<string> StepNames => [.. Steps.Select(s => s.Name)];

    public HappensBefore HappensBefore() => new(Steps, ProcessKeys.Count);

    public string Foata() => HappensBefore().Foata(ProcessKeys);
}

/// <summary>
/// Runs one execution of a system step by step, giving processes exploration-wide ids (interned by key, so the
/// same process has the same id in every execution of one exploration).
/// </summary>
public sealed class Executor
{
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);
    private readonly List<string> _keys = [];

    public IReadOnlyList<string> Keys => _keys;

    public int Intern(string key)
    {
        if (!_ids.TryGetValue(key, out var id))
        {
            id = _keys.Count;
            _ids.Add(key, id);
            _keys.Add(key);
        }

        return id;
    }

    /// <summary>One execution in progress.</summary>
    public sealed class Cursor
    {
        private readonly Executor _owner;
        private readonly List<int> _global = [];

        // By exploration id (dense, small): the process's index in this run (-1: not created here) and its steps so far.
        private readonly List<int> _local = [];
        private readonly List<int> _seq = [];

        internal Cursor(Executor owner, IExplorableRun run)
        {
            _owner = owner;
            Run = run;
            Sync();
        }

        public IExplorableRun Run { get; }

        public List<ExecutedStep> Steps { get; } = [];

        /// <summary>Enabled processes as exploration ids, in creation order.</summary>
        public List<int> Enabled()
        {
            var e = new List<int>();
            for (var i = 0; i < _global.Count; i++)
            {
                if (Run.IsEnabled(i))
                {
                    e.Add(_global[i]);
                }
            }

            return e;
        }

        public bool IsEnabled(int process) => process >= 0 && process < _local.Count && _local[process] >= 0 && Run.IsEnabled(_local[process]);

        public ExecutedStep Step(int process)
        {
            var local = process >= 0 && process < _local.Count ? _local[process] : -1;
            if (local < 0)
            {
                throw new KeyNotFoundException($"process {process} does not exist in this execution");
            }

            var info = Run.Step(local);
            Sync();
            var seq = _seq[process];
            _seq[process] = seq + 1;
            // The label's array is immutable, so the step shares it instead of copying it.
            var spawned = info.Spawned.IsDefaultOrEmpty ? [] : new int[info.Spawned.Length];
            for (var i = 0; i < spawned.Length; i++)
            {
                spawned[i] = _global[info.Spawned[i]];
            }

            var step = new ExecutedStep(process, seq, info.Name, ImmutableCollectionsMarshal.AsArray(info.Accesses) ?? [], spawned);
            Steps.Add(step);
            return step;
        }

        public ExecutionRecord Finish() => new(Steps, [.. _owner._keys], Run.Finish(), Run);

        private void Sync()
        {
            var ps = Run.Processes;
            for (var i = _global.Count; i < ps.Count; i++)
            {
                var id = _owner.Intern(ps[i].Key);
                _global.Add(id);
                while (_local.Count <= id)
                {
                    _local.Add(-1);
                    _seq.Add(0);
                }

                _local[id] = i;
            }
        }
    }

    public Cursor Start(IExplorable system)
    {
        ArgumentNullException.ThrowIfNull(system);
        return new Cursor(this, system.Start());
    }

    /// <summary>
    /// Replays a schedule of process keys (skipping keys whose process is absent or not enabled), then completes it
    /// deterministically: the first enabled process in creation order, until none is enabled.
    /// </summary>
    public ExecutionRecord Replay(IExplorable system, IReadOnlyList<string> schedule)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        var c = Start(system);
        foreach (var key in schedule)
        {
            var id = Intern(key);
            if (c.IsEnabled(id))
            {
                c.Step(id);
            }
        }

        while (c.Enabled() is { Count: > 0 } e)
        {
            c.Step(e[0]);
        }

        return c.Finish();
    }
}
