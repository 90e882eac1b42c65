namespace IommuLab.Model.Exploration;

/// <summary>
/// Optimal dynamic partial-order reduction with source sets and wakeup trees: explores exactly one execution per
/// Mazurkiewicz trace of the dependency relation (<see cref="ExecutedStep.DependsOn"/>), never an execution blocked
/// by its sleep set, re-executing the system from its initial state for every execution.
/// </summary>
/// <remarks>
/// Abdulla, Aronis, Jonsson, Sagonas, "Optimal Dynamic Partial Order Reduction", POPL 2014, Algorithm 2; and
/// "Source Sets: A Foundation for Optimal Dynamic Partial Order Reduction", JACM 64(4) 2017. Lock handling follows
/// the usual reading for mutexes: a release racing a later acquire is reversed at the releasing thread's acquire.
/// </remarks>
/// <param name="budget">Executions before the exploration stops, complete or not.</param>
/// <param name="stopWhenUnprovable">
/// Stop as soon as the exploration cannot finish within <paramref name="budget"/>: each leaf of a pending wakeup
/// tree is at least one more execution, so once the executions run plus the leaves pending exceed the budget, the
/// rest of the run cannot make it a proof. A scan wants only the verdict of the attempt; a caller that wants every
/// execution the budget allows (check) leaves this off. Optimal DPOR never sleep-blocks a leaf when a step's
/// label does not depend on the order; the model's labels sometimes do (<see cref="StrategyResult.LabelMismatches"/>),
/// so this is not trusted once an execution has been blocked.
/// </param>
public sealed class OptimalDporStrategy(int budget, bool stopWhenUnprovable = false) : IExplorationStrategy
{
    public StrategyKind Kind => StrategyKind.Exhaustive;

    /// <summary>A wakeup-tree node: a step and the ordered subtrees that continue it.</summary>
    private sealed class WakeupNode(ExecutedStep? step)
    {
        public ExecutedStep? Step { get; } = step;

        public List<WakeupNode> Children { get; } = [];

        public bool IsLeaf => Children.Count == 0;
    }

    /// <summary>One position of the current execution: the step taken there, its sleep set and pending alternatives.</summary>
    private sealed class Position
    {
        public required ExecutedStep Taken { get; set; }

        /// <summary>Sleep set on entry plus the steps already fully explored here.</summary>
        public required List<ExecutedStep> Sleep { get; init; }

        /// <summary>The wakeup tree of alternatives not yet explored here.</summary>
        public required WakeupNode Pending { get; init; }

        /// <summary>The subtree to follow below <see cref="Taken"/>.</summary>
        public WakeupNode? Below { get; set; }
    }

    public StrategyResult Explore(IExplorable system, Executor executor, Action<ExecutionRecord> onExecution)
    {
        ArgumentNullException.ThrowIfNull(executor);
        ArgumentNullException.ThrowIfNull(onExecution);
        var stack = new List<Position>();
        var executions = 0;
        var blocked = 0;
        var mismatches = 0;
        while (true)
        {
            var c = executor.Start(system);

            // Replay the prefix: the same steps in the same order (stateless re-execution).
            for (var i = 0; i < stack.Count; i++)
            {
                var step = c.Step(stack[i].Taken.Process);
                if (!SameLabel(step, stack[i].Taken))
                {
                    mismatches++;
                }

                stack[i].Taken = step;
            }

            // Extend to a maximal execution, following the wakeup subtree where there is one.
            var sleep = stack.Count == 0 ? [] : SleepAfter(stack[^1]);
            var follow = stack.Count == 0 ? null : stack[^1].Below;
            var sleepBlocked = false;
            while (true)
            {
                var enabled = c.Enabled();
                if (enabled.Count == 0)
                {
                    break;
                }

                var pending = follow ?? new WakeupNode(null);
                int process;
                WakeupNode? below = null;
                if (pending.Children.Count > 0)
                {
                    var first = pending.Children[0];
                    pending.Children.RemoveAt(0);
                    process = first.Step!.Process;
                    below = first;
                    if (!enabled.Contains(process))
                    {
                        mismatches++;
                        sleepBlocked = true;
                        break;
                    }
                }
                else
                {
                    var free = enabled.Where(p => !sleep.Any(s => s.Process == p)).ToList();
                    if (free.Count == 0)
                    {
                        sleepBlocked = true;
                        break;
                    }

                    process = free[0];
                }

                var taken = c.Step(process);
                if (below?.Step is { } expected && !SameLabel(taken, expected))
                {
                    mismatches++;
                }

                var pos = new Position { Taken = taken, Sleep = sleep, Pending = pending, Below = below };
                stack.Add(pos);
                sleep = SleepAfter(pos);
                follow = below;
            }

            if (sleepBlocked)
            {
                blocked++;
            }
            else
            {
                var record = c.Finish();
                executions++;
                onExecution(record);
                DetectRaces(record, stack);
            }

            // Backtrack to the deepest position with a pending alternative.
            while (stack.Count > 0)
            {
                var top = stack[^1];
                top.Sleep.Add(top.Taken);
                if (top.Pending.Children.Count > 0)
                {
                    var next = top.Pending.Children[0];
                    top.Pending.Children.RemoveAt(0);
                    top.Taken = next.Step!;
                    top.Below = next;
                    break;
                }

                stack.RemoveAt(stack.Count - 1);
            }

            if (stack.Count == 0)
            {
                return new StrategyResult(executions, true, blocked, mismatches);
            }

            // The bound counts on no leaf ending sleep-blocked; once one has, it is not trusted.
            if (stopWhenUnprovable && blocked == 0 && executions + AtLeastToGo(stack) > budget)
            {
                return new StrategyResult(executions, false, blocked, mismatches);
            }

            if (executions >= budget)
            {
                return new StrategyResult(executions, false, blocked, mismatches);
            }
        }
    }

    /// <summary>
    /// A lower bound on the executions still to run: the subtree about to be followed at the top position (at least
    /// one), plus every leaf of the wakeup trees pending along the stack (each leads to its own execution).
    /// </summary>
    private static int AtLeastToGo(List<Position> stack)
    {
        var n = stack[^1].Below is { } below ? Math.Max(1, Leaves(below)) : 1;
        foreach (var p in stack)
        {
            n += Leaves(p.Pending);
        }

        return n;
    }

    private static int Leaves(WakeupNode node)
    {
        var n = 0;
        foreach (var c in node.Children)
        {
            n += c.IsLeaf ? 1 : Leaves(c);
        }

        return n;
    }

    /// <summary>Sleep' = the sleeping steps independent of the step taken (they stay asleep below it).</summary>
    private static List<ExecutedStep> SleepAfter(Position pos) =>
        [.. pos.Sleep.Where(s => s.Process != pos.Taken.Process && !s.DependsOn(pos.Taken))];

    private static void DetectRaces(ExecutionRecord record, List<Position> stack)
    {
        var hb = record.HappensBefore();
        foreach (var (point, later) in hb.Races())
        {
            var v = hb.Reversal(point, later);
            var pos = stack[point];
            if (pos.Sleep.Any(s => IsWeakInitial(s, v)))
            {
                continue;
            }

            Insert(pos.Pending, v);
        }
    }

    /// <summary>
    /// p ∈ WI(w): p's first step in w depends on no earlier step of w; or p has no step in w and its next step
    /// (<paramref name="step"/>) is independent of all of w.
    /// </summary>
    private static bool IsWeakInitial(ExecutedStep step, List<ExecutedStep> w)
    {
        for (var i = 0; i < w.Count; i++)
        {
            if (w[i].Process == step.Process)
            {
                for (var j = 0; j < i; j++)
                {
                    if (w[j].DependsOn(w[i]))
                    {
                        return false;
                    }
                }

                return true;
            }
        }

        foreach (var s in w)
        {
            if (s.DependsOn(step))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>insert_[E](w, wut): descend through children that are weak initials of what is left of w; add the rest as a new rightmost branch.</summary>
    private static void Insert(WakeupNode node, List<ExecutedStep> w)
    {
        while (true)
        {
            WakeupNode? match = null;
            foreach (var child in node.Children)
            {
                if (IsWeakInitial(child.Step!, w))
                {
                    match = child;
                    break;
                }
            }

            if (match is null)
            {
                var n = node;
                foreach (var s in w)
                {
                    var child = new WakeupNode(s);
                    n.Children.Add(child);
                    n = child;
                }

                return;
            }

            if (match.IsLeaf)
            {
                return;
            }

            var at = w.FindIndex(s => s.Process == match.Step!.Process);
            if (at >= 0)
            {
                w = [.. w.Take(at), .. w.Skip(at + 1)];
            }

            if (w.Count == 0)
            {
                return;
            }

            node = match;
        }
    }

    private static bool SameLabel(ExecutedStep a, ExecutedStep b) =>
        a.Process == b.Process && a.Accesses.AsSpan().SequenceEqual(b.Accesses) && a.Spawned.AsSpan().SequenceEqual(b.Spawned);
}
