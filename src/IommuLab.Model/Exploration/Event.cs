using System.Text;

namespace IommuLab.Model.Exploration;

/// <summary>
/// One executed step as the explorer sees it: the process (an exploration-wide id), its position in that process,
/// its dependency label and the processes it created.
/// </summary>
public sealed record ExecutedStep(int Process, int Seq, string Name, Access[] Accesses, int[] Spawned)
{
    /// <summary>
    /// The dependency relation (docs/traces.md): same process; one created the other's process; or two accesses
    /// to one object where one writes, or two operations on one lock.
    /// </summary>
    public bool DependsOn(ExecutedStep other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (Process == other.Process || Array.IndexOf(Spawned, other.Process) >= 0 || Array.IndexOf(other.Spawned, Process) >= 0)
        {
            return true;
        }

        foreach (var a in Accesses)
        {
            foreach (var b in other.Accesses)
            {
                if (a.DependsOn(b))
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>A fine step whose only access is this lock operation.</summary>
    internal bool IsOnly(AccessKind kind, out KObject lockObject)
    {
        lockObject = Accesses.Length == 1 ? Accesses[0].Object : default;
        return Accesses.Length == 1 && Accesses[0].Kind == kind;
    }
}

/// <summary>
/// The happens-before order of one execution (vector clocks over the dependency relation and program order),
/// its races, and its Mazurkiewicz trace in Foata normal form.
/// </summary>
public sealed class HappensBefore
{
    private readonly IReadOnlyList<ExecutedStep> _steps;
    private readonly int[][] _clock;
    private readonly List<int>[] _direct;

    public HappensBefore(IReadOnlyList<ExecutedStep> steps, int processCount)
    {
        ArgumentNullException.ThrowIfNull(steps);
        _steps = steps;
        _clock = new int[steps.Count][];
        _direct = new List<int>[steps.Count];
        var lastOf = new Dictionary<int, int>();
        for (var i = 0; i < steps.Count; i++)
        {
            var s = steps[i];
            var c = new int[processCount];
            var direct = new List<int>();
            if (lastOf.TryGetValue(s.Process, out var po))
            {
                Array.Copy(_clock[po], c, processCount);
                direct.Add(po);
            }

            // Latest first: a step already ordered before this one through a later dependency is no immediate
            // predecessor (Races and Foata would pass over it) and is not compared at all; the rest are kept in
            // execution order, as Races and Foata read them.
            var first = direct.Count;
            for (var j = i - 1; j >= 0; j--)
            {
                var sj = steps[j];
                if (sj.Process == s.Process || c[sj.Process] > sj.Seq || !sj.DependsOn(s))
                {
                    continue;
                }

                direct.Add(j);
                var cj = _clock[j];
                for (var q = 0; q < processCount; q++)
                {
                    if (cj[q] > c[q])
                    {
                        c[q] = cj[q];
                    }
                }
            }

            direct.Reverse(first, direct.Count - first);

            c[s.Process] = s.Seq + 1;
            _clock[i] = c;
            _direct[i] = direct;
            lastOf[s.Process] = i;
        }
    }

    /// <summary>Step <paramref name="a"/> happens before (or is) step <paramref name="b"/>.</summary>
    public bool Before(int a, int b) => a == b || (a < b && _clock[b][_steps[a].Process] > _steps[a].Seq);

    /// <summary>
    /// The reversible races of the execution: pairs (e, e') of steps of different processes, dependent, with no step
    /// ordered between them. The reversal point is e, or for a release racing a later acquire of the same lock, the
    /// acquire that opened e's critical section (the only place the other acquire can go instead).
    /// </summary>
    public IEnumerable<(int Point, int Later)> Races()
    {
        for (var i = 0; i < _steps.Count; i++)
        {
            var direct = _direct[i];
            var po = direct.Count > 0 && _steps[direct[0]].Process == _steps[i].Process ? direct[0] : -1;
            foreach (var j in direct)
            {
                if (j == po || Array.IndexOf(_steps[j].Spawned, _steps[i].Process) >= 0)
                {
                    continue;
                }

                var immediate = true;
                foreach (var d in direct)
                {
                    if (d != j && Before(j, d))
                    {
                        immediate = false;
                        break;
                    }
                }

                if (!immediate)
                {
                    continue;
                }

                var point = j;
                if (_steps[j].IsOnly(AccessKind.Release, out var lockObj) && _steps[i].IsOnly(AccessKind.Acquire, out var acq) && acq == lockObj)
                {
                    point = AcquireOf(j, lockObj);
                    if (point < 0 || (po >= 0 && Before(point, po)))
                    {
                        continue;
                    }
                }
                else if (_steps[j].Accesses.Length == 1 && _steps[j].Accesses[0].IsLockOp && _steps[i].Accesses.Length == 1 && _steps[i].Accesses[0].IsLockOp)
                {
                    // Other adjacent lock pairs cannot be swapped: the later one waited for the earlier.
                    continue;
                }

                yield return (point, i);
            }
        }
    }

    /// <summary>notdep(e, E).e': the steps after e not ordered after it, then e'.</summary>
    public List<ExecutedStep> Reversal(int point, int later)
    {
        var v = new List<ExecutedStep>();
        for (var k = point + 1; k < _steps.Count; k++)
        {
            if (k != later && !Before(point, k))
            {
                v.Add(_steps[k]);
            }
        }

        v.Add(_steps[later]);
        return v;
    }

    /// <summary>The Foata normal form: steps grouped in levels, each level sorted; equal iff the traces are equal.</summary>
    public string Foata(IReadOnlyList<string> processKeys)
    {
        ArgumentNullException.ThrowIfNull(processKeys);
        var level = new int[_steps.Count];
        var max = 0;
        for (var i = 0; i < _steps.Count; i++)
        {
            var l = 0;
            foreach (var d in _direct[i])
            {
                l = Math.Max(l, level[d] + 1);
            }

            level[i] = l;
            max = Math.Max(max, l);
        }

        var sb = new StringBuilder();
        for (var l = 0; l <= max; l++)
        {
            var names = new List<string>();
            for (var i = 0; i < _steps.Count; i++)
            {
                if (level[i] == l)
                {
                    names.Add($"{processKeys[_steps[i].Process]}#{_steps[i].Seq}");
                }
            }

            names.Sort(StringComparer.Ordinal);
            sb.Append('[').AppendJoin(' ', names).Append(']');
        }

        return sb.ToString();
    }

    private int AcquireOf(int release, KObject lockObj)
    {
        for (var k = release - 1; k >= 0; k--)
        {
            if (_steps[k].Process == _steps[release].Process && _steps[k].IsOnly(AccessKind.Acquire, out var o) && o == lockObj)
            {
                return k;
            }
        }

        return -1;
    }
}
