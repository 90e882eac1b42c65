using System.Diagnostics;
using IommuLab.Model.Kernel;

namespace IommuLab.Model.Exploration;

/// <summary>What to explore and how.</summary>
public sealed record ExplorationOptions
{
    public StrategyKind Strategy { get; init; } = StrategyKind.Exhaustive;

    /// <summary>Executions per cluster (exhaustive: a cap; the result says whether it was reached).</summary>
    public int Budget { get; init; } = 20_000;

    public int Seed { get; init; }

    /// <summary>
    /// Exhaustive only: stop once the run cannot finish within <see cref="Budget"/> (as a scan does) instead of
    /// running the budget out (<see cref="OptimalDporStrategy"/>).
    /// </summary>
    public bool StopWhenUnprovable { get; init; }

    /// <summary>PCT bug depth d.</summary>
    public int PctDepth { get; init; } = 3;

    public Granularity Granularity { get; init; } = Granularity.Coarse;

    /// <summary>Explore independent clusters separately (false: the whole platform as one system).</summary>
    public bool Decompose { get; init; } = true;

    /// <summary>Delta-debug each counterexample to a 1-minimal schedule.</summary>
    public bool Minimize { get; init; } = true;

    /// <summary>
    /// Distinct-trace digests kept per cluster (16 bytes each plus the set's overhead, about 8 MiB at the default).
    /// Past it the trace count is a lower bound (<see cref="ClusterResult.TracesCapped"/>), so memory does not grow
    /// with the number of executions.
    /// </summary>
    public int TraceDigestsKept { get; init; } = 1 << 18;

    /// <summary>Called after each execution of a cluster with the count so far (progress, memory sampling).</summary>
    public Action<int>? OnExecution { get; init; }
}

/// <summary>A minimal, replayable counterexample: the schedule (process keys), what ran, and where it went wrong.</summary>
/// <param name="Invariant">The invariant broken (I1-I17).</param>
/// <param name="Device">The device (or instance) path.</param>
/// <param name="Message">One line in kernel terms.</param>
/// <param name="Facts">The facts that break it.</param>
/// <param name="Cluster">The cluster explored.</param>
/// <param name="Schedule">Process keys of every step of the minimized execution (replaying them reproduces it).</param>
/// <param name="Steps">The steps' names in kernel vocabulary.</param>
/// <param name="Explicit">How many leading steps are choices; the rest is the deterministic completion.</param>
/// <param name="Contrast">For I5: the other execution, which reaches the differing outcome.</param>
/// <param name="Divergence">Index of the first step where this order leaves a correct one (-1: none).</param>
/// <param name="DivergenceText">That step, and what the correct order does there instead.</param>
public sealed record Counterexample(
    string Invariant,
    string Device,
    string Message,
    IReadOnlyList<string> Facts,
    Cluster Cluster,
    IReadOnlyList<string> Schedule,
    IReadOnlyList<string> Steps,
    int Explicit,
    Counterexample.Other? Contrast,
    int Divergence,
    string DivergenceText)
{
    /// <summary>The contrasting execution of an I5 violation.</summary>
    public sealed record Other(IReadOnlyList<string> Schedule, IReadOnlyList<string> Steps, int Explicit, string Fact);
}

/// <summary>The exploration of one cluster.</summary>
public sealed record ClusterResult(Cluster Cluster, StrategyResult Result, int Traces, int Outcomes, IReadOnlyList<Counterexample> Violations)
{
    /// <summary>The digest set filled up: <see cref="Traces"/> is a lower bound.</summary>
    public bool TracesCapped { get; init; }
}

/// <summary>The exploration of one profile: every cluster, and the verdict.</summary>
public sealed record ProfileResult(Profile Profile, ExplorationOptions Options, IReadOnlyList<ClusterResult> Clusters, TimeSpan Elapsed)
{
    public bool Complete => Clusters.All(c => c.Result.Complete);

    public int Executions => Clusters.Sum(c => c.Result.Executions);

    public int Traces => Clusters.Sum(c => c.Traces);

    /// <summary>Some cluster's trace count is a lower bound (<see cref="ExplorationOptions.TraceDigestsKept"/>).</summary>
    public bool TracesCapped => Clusters.Any(c => c.TracesCapped);

    public IReadOnlyList<Counterexample> Violations => [.. Clusters.SelectMany(c => c.Violations)];

    public string Verdict => Violations.Count > 0 ? "violation" : "ok";
}

/// <summary>
/// The probe-order explorer: explores each cluster with a strategy, checks every quiescent outcome (I1-I4, I6-I15,
/// I17) and order independence across outcomes (I5), and turns each violation into a minimal counterexample.
/// </summary>
public static class Explorer
{
    private const int CorrectKept = 4096;
    private const int MinimizeRuns = 3000;

    public static ProfileResult Check(Platform platform, Profile profile, ExplorationOptions options)
    {
        ArgumentNullException.ThrowIfNull(platform);
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(options);
        var sw = Stopwatch.StartNew();
        var clusters = options.Decompose ? Clusters.Of(platform) : [Clusters.Whole(platform)];
        var results = clusters.Select(c => CheckCluster(new KernelSystem(platform, profile, options.Granularity, c), options)).ToList();
        return new ProfileResult(profile, options, results, sw.Elapsed);
    }

    public static ClusterResult CheckCluster(KernelSystem system, ExplorationOptions options)
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(options);
        var executor = new Executor();
        var strategy = StrategyNames.Create(options.Strategy, options.Budget, options.Seed, options.PctDepth, options.StopWhenUnprovable);
        // 128-bit digests, not the Foata strings (kilobytes each): memory per execution stays small.
        var traces = new HashSet<UInt128>();
        var tracesCapped = false;
        var executions = 0;
        var outcomes = new List<(RunOutcome Outcome, IReadOnlyList<string> Schedule)>();
        var outcomeIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        var found = new List<(Violation V, IReadOnlyList<string> Schedule)>();
        var foundKeys = new HashSet<(string, string, string)>();
        var correct = new List<IReadOnlyList<string>>();
        var result = strategy.Explore(system, executor, rec =>
        {
            if (!tracesCapped)
            {
                var digest = TraceDigest(rec.Foata());
                if (traces.Count < options.TraceDigestsKept)
                {
                    traces.Add(digest);
                }
                else if (!traces.Contains(digest))
                {
                    // Bounded memory over exact counts: later traces are no longer told apart.
                    tracesCapped = true;
                }
            }

            options.OnExecution?.Invoke(++executions);

            // I5 compares outcomes without a timeout (spec §7.1); an early timeout is checked per execution only.
            if (!rec.Outcome.EarlyTimeout && rec.Outcome.Key is var key && !outcomeIndex.ContainsKey(key))
            {
                outcomeIndex.Add(key, outcomes.Count);
                outcomes.Add((rec.Outcome, rec.Schedule));
            }

            foreach (var v in rec.Outcome.Violations)
            {
                if (foundKeys.Add((v.Invariant, v.Device, v.Message)))
                {
                    found.Add((v, rec.Schedule));
                }
            }

            if (rec.Outcome.Violations.Count == 0 && correct.Count < CorrectKept)
            {
                correct.Add(rec.Schedule);
            }
        });

        var counterexamples = new List<Counterexample>();
        foreach (var (v, schedule) in found)
        {
            counterexamples.Add(PerExecution(system, executor, v, schedule, correct, options.Minimize));
        }

        counterexamples.AddRange(OrderDependence(system, executor, outcomes, options.Minimize));
        counterexamples.Sort((a, b) => Rank(a.Invariant) != Rank(b.Invariant) ? Rank(a.Invariant).CompareTo(Rank(b.Invariant)) : string.CompareOrdinal(a.Device, b.Device));
        return new ClusterResult(system.Cluster, result, traces.Count, outcomes.Count, counterexamples) { TracesCapped = tracesCapped };
    }

    private static int Rank(string invariant) => int.TryParse(invariant.AsSpan(1), out var n) ? n : 99;

    private static Counterexample PerExecution(KernelSystem system, Executor executor, Violation v, IReadOnlyList<string> schedule, List<IReadOnlyList<string>> correct, bool minimize)
    {
        bool Holds(ExecutionRecord r) => r.Outcome.Violations.Any(x => x.Invariant == v.Invariant && x.Device == v.Device && x.Message == v.Message);
        var (rec, explicitCount) = minimize ? Minimize(system, executor, schedule, Holds) : (executor.Replay(system, schedule), schedule.Count);
        var keys = rec.Schedule;
        var best = -1;
        IReadOnlyList<string>? other = null;
        foreach (var c in correct)
        {
            var n = 0;
            while (n < keys.Count && n < c.Count && keys[n] == c[n])
            {
                n++;
            }

            if (n > best)
            {
                best = n;
                other = c;
            }
        }

        var names = rec.StepNames;
        string text;
        int divergence;
        if (other is null || best >= keys.Count)
        {
            divergence = -1;
            text = "no explored order avoids it: every order breaks this invariant";
        }
        else
        {
            divergence = best;
            var alt = best < other.Count ? NameOf(system, executor, other, best) : "nothing (the correct order ends here)";
            text = $"step {best + 1}, {names[best]}, is where this order leaves a correct one; a correct order runs {alt} here";
        }

        var actual = rec.Outcome.Violations.FirstOrDefault(x => x.Invariant == v.Invariant && x.Device == v.Device && x.Message == v.Message) ?? v;
        return new Counterexample(v.Invariant, v.Device, actual.Message, actual.Facts, system.Cluster, keys, names, explicitCount, null, divergence, text);
    }

    /// <summary>I5: every outcome that differs from the first one, per consumer, with two minimal schedules.</summary>
    private static IEnumerable<Counterexample> OrderDependence(KernelSystem system, Executor executor, List<(RunOutcome Outcome, IReadOnlyList<string> Schedule)> outcomes, bool minimize)
    {
        if (outcomes.Count < 2)
        {
            yield break;
        }

        var (refOutcome, refSchedule) = outcomes[0];
        var consumers = system.Cluster.Consumers.Length;
        for (var j = 0; j < consumers && j < refOutcome.Facts.Length; j++)
        {
            var other = outcomes.Skip(1).FirstOrDefault(o => o.Outcome.Facts.Length > j && o.Outcome.Facts[j] != refOutcome.Facts[j]);
            if (other.Outcome is null)
            {
                continue;
            }

            var refFact = refOutcome.Facts[j];
            var otherFact = other.Outcome.Facts[j];
            var device = system.Platform.Devices[system.Cluster.Consumers[j]].Path;

            // The order with per-execution violations on this device is the broken one; show it first.
            var otherBroken = other.Outcome.Violations.Any(v => v.Device == device);
            var refBroken = refOutcome.Violations.Any(v => v.Device == device);
            var (badSchedule, badFact, goodSchedule, goodFact) = otherBroken || !refBroken
                ? (other.Schedule, otherFact, refSchedule, refFact)
                : (refSchedule, refFact, other.Schedule, otherFact);
            var jj = j;
            var (bad, badExplicit) = minimize ? Minimize(system, executor, badSchedule, r => !r.Outcome.EarlyTimeout && r.Outcome.Facts.Length > jj && r.Outcome.Facts[jj] == badFact) : (executor.Replay(system, badSchedule), badSchedule.Count);
            var (good, goodExplicit) = minimize ? Minimize(system, executor, goodSchedule, r => !r.Outcome.EarlyTimeout && r.Outcome.Facts.Length > jj && r.Outcome.Facts[jj] == goodFact) : (executor.Replay(system, goodSchedule), goodSchedule.Count);
            var n = 0;
            while (n < bad.Schedule.Count && n < good.Schedule.Count && bad.Schedule[n] == good.Schedule[n])
            {
                n++;
            }

            var badNames = bad.StepNames;
            var goodNames = good.StepNames;
            var text = n < badNames.Count
                ? $"step {n + 1}: one order runs {badNames[n]}, the other {(n < goodNames.Count ? goodNames[n] : "nothing")}"
                : "the orders differ only after the last step";
            yield return new Counterexample(
                "I5",
                device,
                $"order dependence: {Difference(badFact, goodFact)}",
                [badFact, goodFact],
                system.Cluster,
                bad.Schedule,
                badNames,
                badExplicit,
                new Counterexample.Other(good.Schedule, goodNames, goodExplicit, goodFact),
                n,
                text);
        }
    }

    /// <summary>The outcome fields that differ, "field: a in one order, b in the other".</summary>
    public static string Difference(string a, string b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var ta = a.Split(' ');
        var tb = b.Split(' ');
        var diffs = new List<string>();
        for (var i = 1; i < Math.Max(ta.Length, tb.Length); i++)
        {
            var x = i < ta.Length ? ta[i] : "";
            var y = i < tb.Length ? tb[i] : "";
            if (x != y)
            {
                diffs.Add(i == 1 ? $"class {x} vs {y}" : $"{x} vs {Value(y)}");
            }
        }

        return string.Join("; ", diffs);
    }

    private static string Value(string field) => field.IndexOf('=', StringComparison.Ordinal) is var eq and >= 0 ? field[(eq + 1)..] : field;

    private static string NameOf(KernelSystem system, Executor executor, IReadOnlyList<string> schedule, int index)
    {
        var rec = executor.Replay(system, schedule);
        return index < rec.Steps.Count ? rec.Steps[index].Name : "nothing";
    }

    /// <summary>
    /// ddmin (Zeller and Hildebrandt, "Simplifying and Isolating Failure-Inducing Input", TSE 2002) over the explicit
    /// choices: the smallest subsequence (1-minimal) whose replay, completed deterministically, still satisfies
    /// <paramref name="holds"/>.
    /// </summary>
    public static (ExecutionRecord Record, int Explicit) Minimize(IExplorable system, Executor executor, IReadOnlyList<string> schedule, Func<ExecutionRecord, bool> holds)
    {
        ArgumentNullException.ThrowIfNull(executor);
        ArgumentNullException.ThrowIfNull(schedule);
        ArgumentNullException.ThrowIfNull(holds);
        var runs = 0;
        bool Test(List<string> s)
        {
            runs++;
            return holds(executor.Replay(system, s));
        }

        var current = schedule.ToList();
        if (Test([]))
        {
            current = [];
        }

        var n = 2;
        while (current.Count >= 2 && runs < MinimizeRuns)
        {
            var chunk = (int)Math.Ceiling(current.Count / (double)n);
            var reduced = false;
            for (var start = 0; start < current.Count && runs < MinimizeRuns; start += chunk)
            {
                var complement = current.Take(start).Concat(current.Skip(start + chunk)).ToList();
                if (Test(complement))
                {
                    current = complement;
                    n = Math.Max(n - 1, 2);
                    reduced = true;
                    break;
                }
            }

            if (!reduced)
            {
                if (n >= current.Count)
                {
                    break;
                }

                n = Math.Min(n * 2, current.Count);
            }
        }

        if (current.Count == 1 && Test([]))
        {
            current = [];
        }

        // Keep only the choices the replay actually took (skipped keys are not part of the schedule).
        var rec = executor.Replay(system, current);
        var taken = 0;
        var full = rec.Schedule;
        foreach (var key in current)
        {
            if (taken < full.Count && full[taken] == key)
            {
                taken++;
            }
        }

        return (rec, taken);
    }

    /// <summary>The first 128 bits of the SHA-256 of a trace's Foata normal form: distinct traces, deterministically.</summary>
    private static UInt128 TraceDigest(string foata)
    {
        Span<byte> hash = stackalloc byte[32];
        System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(foata), hash);
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt128LittleEndian(hash);
    }
}
