using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace IommuLab.Model.Exploration;

/// <summary>How the scheduler treats scheduling points.</summary>
public enum SchedulerMode
{
    /// <summary>A thread runs to completion once started: every event is atomic.</summary>
    Coarse,

    /// <summary>Every scheduling point hands control back; a chooser picks the next enabled thread.</summary>
    Fine,
}

/// <summary>Picks the next thread in fine mode; the explorer's strategies implement this.</summary>
public interface IThreadChooser
{
    /// <summary>Index into <paramref name="enabled"/> (ordered by thread id) of the thread to run next.</summary>
    int Choose(IReadOnlyList<KThread> enabled);
}

public enum KThreadState
{
    /// <summary>Spawned, not started.</summary>
    Ready,

    /// <summary>Stopped at a scheduling point, waiting to be resumed.</summary>
    Parked,

    Done,
}

/// <summary>One unit of kernel activity (a driver probe, a registration, a deferred-work pass) owned by the scheduler.</summary>
public sealed class KThread
{
    private readonly Func<KTask> _body;
    private KTask _root;

    internal KThread(int id, string name, Func<KTask> body)
    {
        Id = id;
        Name = name;
        _body = body;
    }

    public int Id { get; }

    public string Name { get; }

    public KThreadState State { get; internal set; } = KThreadState.Ready;

    /// <summary>The access this thread will perform when resumed (fine mode).</summary>
    public Access? Pending { get; internal set; }

    internal Action? Resume { get; set; }

    /// <summary>Every access this thread declared so far (fine mode, when the scheduler records).</summary>
    public List<Access> Footprint => _footprint ??= [];

    // Made on first use: only fine mode records footprints, and a coarse execution spawns a thread per step.
    private List<Access>? _footprint;

    internal void Step()
    {
        if (State == KThreadState.Ready)
        {
            _root = _body();
        }
        else
        {
            var resume = Resume ?? throw new InvalidOperationException($"thread {Name} has nothing to resume");
            Resume = null;
            resume();
        }

        if (_root.IsCompleted)
        {
            State = KThreadState.Done;
            Pending = null;
        }
        else
        {
            State = KThreadState.Parked;
        }
    }

    public override string ToString() => $"{Name}#{Id}";
}

/// <summary>A sleeping lock (mutex or spinlock: the model does not distinguish) owned by one execution.</summary>
public sealed class KMutex(KObject identity, string name)
{
    public KObject Identity { get; } = identity;

    public string Name { get; } = name;

    public KThread? Owner { get; internal set; }

    public override string ToString() => Name;
}

/// <summary>One scheduling point: awaiting it either continues at once (coarse) or parks the thread (fine).</summary>
public readonly struct Point : ICriticalNotifyCompletion
{
    private readonly Scheduler? _scheduler;
    private readonly bool _continue;

    internal Point(Scheduler scheduler, bool proceed)
    {
        _scheduler = scheduler;
        _continue = proceed;
    }

    public Point GetAwaiter() => this;

    public bool IsCompleted => _continue;

    public void GetResult()
    {
    }

    public void OnCompleted(Action continuation) => _scheduler!.Park(continuation);

    public void UnsafeOnCompleted(Action continuation) => _scheduler!.Park(continuation);
}

/// <summary>
/// The deterministic single-threaded scheduler that owns all kernel activity of one execution. Model code awaits
/// <see cref="At"/> before touching shared state and <see cref="Lock"/>/<see cref="Unlock"/> around critical sections;
/// the same code runs atomically per thread (coarse) or interleaved at every point (fine).
/// </summary>
public sealed class Scheduler
{
    private readonly List<KThread> _threads = [];
    private readonly IThreadChooser? _chooser;
    private List<(int Thread, Access Access)>? _steps;

    /// <param name="mode">Coarse (each thread runs to completion) or fine (a step per scheduling point).</param>
    /// <param name="chooser">Picks the next thread in fine mode.</param>
    /// <param name="record">Record every point (<see cref="Steps"/>) for the explorer.</param>
    /// <param name="capacity">Points expected in one step or boot (sizes the record once, instead of growing it each execution).</param>
    /// <param name="buffer">An empty list to record into (one a previous execution gave back with <see cref="TakeRecord"/>).</param>
    public Scheduler(SchedulerMode mode, IThreadChooser? chooser = null, bool record = false, int capacity = 0, List<(int Thread, Access Access)>? buffer = null)
    {
        if (mode == SchedulerMode.Fine && chooser is null)
        {
            throw new ArgumentException("fine mode needs a chooser", nameof(chooser));
        }

        Mode = mode;
        _chooser = chooser;
        _steps = record ? buffer ?? new(capacity) : null;
    }

    public SchedulerMode Mode { get; }

    public KThread? Current { get; private set; }

    /// <summary>Scheduling points passed so far.</summary>
    public long Points { get; private set; }

    public IReadOnlyList<KThread> Threads => _threads;

    /// <summary>Every point in execution order since <see cref="ForgetSteps"/>, with the thread that passed it (when recording).</summary>
    public IReadOnlyList<(int Thread, Access Access)> Steps => _steps ?? [];

    /// <summary>The same points without an enumerator, for the explorer's per-step label.</summary>
    internal ReadOnlySpan<(int Thread, Access Access)> StepSpan => _steps is null ? default : CollectionsMarshal.AsSpan(_steps);

    /// <summary>Drops the recorded points (a coarse explorer reads each step's own and needs no history).</summary>
    public void ForgetSteps() => _steps?.Clear();

    /// <summary>Stops recording and hands over the (cleared) record list, for the next execution to reuse.</summary>
    internal List<(int Thread, Access Access)>? TakeRecord()
    {
        var steps = _steps;
        _steps = null;
        steps?.Clear();
        return steps;
    }

    public KThread Spawn(string name, Func<KTask> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        var t = new KThread(_threads.Count, name, body);
        _threads.Add(t);
        return t;
    }

    /// <summary>A scheduling point before an access to <paramref name="obj"/>.</summary>
    public Point At(KObject obj, AccessKind kind)
    {
        Points++;
        var access = new Access(obj, kind);
        if (_steps is not null && Current is not null)
        {
            _steps.Add((Current.Id, access));
            if (Mode == SchedulerMode.Fine)
            {
                Current.Footprint.Add(access);
            }
        }

        if (Mode == SchedulerMode.Coarse)
        {
            return new Point(this, true);
        }

        Current!.Pending = access;
        return new Point(this, false);
    }

    /// <summary>Models mutex_lock()/spin_lock(): a point, then ownership.</summary>
    public async KTask Lock(KMutex mutex)
    {
        ArgumentNullException.ThrowIfNull(mutex);
        await At(mutex.Identity, AccessKind.Acquire);
        if (mutex.Owner is not null)
        {
            // Fine mode only resumes an acquire when the lock is free; coarse mode never overlaps threads.
            throw new InvalidOperationException($"{Current} acquires {mutex.Name} held by {mutex.Owner}");
        }

        mutex.Owner = Current;
    }

    /// <summary>Models mutex_unlock()/spin_unlock().</summary>
    public async KTask Unlock(KMutex mutex)
    {
        ArgumentNullException.ThrowIfNull(mutex);
        if (mutex.Owner != Current)
        {
            throw new InvalidOperationException($"{Current} releases {mutex.Name} it does not hold");
        }

        await At(mutex.Identity, AccessKind.Release);
        mutex.Owner = null;
    }

    internal void Park(Action continuation)
    {
        var t = Current ?? throw new InvalidOperationException("a scheduling point outside any thread");
        t.Resume = continuation;
    }

    /// <summary>Coarse mode: runs <paramref name="thread"/> from start to completion.</summary>
    public void RunToCompletion(KThread thread)
    {
        ArgumentNullException.ThrowIfNull(thread);
        while (thread.State != KThreadState.Done)
        {
            RunStep(thread);
        }
    }

    /// <summary>Runs one step of <paramref name="thread"/>: up to its next scheduling point or its end.</summary>
    public void RunStep(KThread thread)
    {
        ArgumentNullException.ThrowIfNull(thread);
        if (!IsEnabled(thread))
        {
            throw new InvalidOperationException($"thread {thread} is not enabled");
        }

        var previous = Current;
        Current = thread;
        try
        {
            thread.Step();
        }
        finally
        {
            Current = previous;
        }
    }

    /// <summary>A thread can run if it is not done and, when parked on an acquire, the lock is free.</summary>
    public bool IsEnabled(KThread thread)
    {
        ArgumentNullException.ThrowIfNull(thread);
        return thread.State switch
        {
            KThreadState.Done => false,
            KThreadState.Parked when thread.Pending is { Kind: AccessKind.Acquire } a => LockOwner(a.Object) is null,
            _ => true,
        };
    }

    /// <summary>Fine mode: lets the chooser interleave all live threads until none can run.</summary>
    public void RunUntilIdle()
    {
        var enabled = new List<KThread>();
        while (true)
        {
            enabled.Clear();
            foreach (var t in _threads)
            {
                if (IsEnabled(t))
                {
                    enabled.Add(t);
                }
            }

            if (enabled.Count == 0)
            {
                return;
            }

            var pick = _chooser is null ? 0 : _chooser.Choose(enabled);
            RunStep(enabled[pick]);
        }
    }

    /// <summary>Threads parked on a lock nobody will release.</summary>
    public IEnumerable<KThread> Deadlocked() => _threads.Where(t => t.State != KThreadState.Done && !IsEnabled(t));

    private readonly Dictionary<KObject, KMutex> _locks = [];

    /// <summary>Creates (once) the lock with this identity.</summary>
    public KMutex Mutex(KObject identity, string name) => Mutex(identity, _ => name);

    /// <summary>Creates (once) the lock with this identity, naming it only then (a lock is looked up far more often than made).</summary>
    public KMutex Mutex(KObject identity, Func<KObject, string> name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!_locks.TryGetValue(identity, out var m))
        {
            m = new KMutex(identity, name(identity));
            _locks.Add(identity, m);
        }

        return m;
    }

    private KThread? LockOwner(KObject identity) => _locks.TryGetValue(identity, out var m) ? m.Owner : null;
}
