using System.Collections;
using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using IommuLab.Model.Exploration;
using IommuLab.Model.Kernel;

namespace IommuLab.Model.Scan;

/// <summary>What a scan keeps of one cluster explored under one profile (everything it reports about it).</summary>
/// <param name="Executions">Executions run: the exhaustive ones, plus the sample when it ran.</param>
/// <param name="Complete">The exhaustive run finished within the budget (a proof); else the sample ran too.</param>
/// <param name="Violations">(invariant, device path, message), in the order the explorer found them.</param>
public sealed record ClusterScanOutcome(long Executions, bool Complete, ImmutableArray<(string Invariant, string Device, string Message)> Violations)
{
    /// <summary>Rough bytes held by this outcome (strings, tuples, the record), for the cache bound.</summary>
    internal long ApproximateBytes => 96 + Violations.Sum(v => 96L + (2L * (v.Invariant.Length + v.Device.Length + v.Message.Length)));
}

/// <summary>
/// Results of clusters already explored during one scan, keyed by a SHA-256 fingerprint of everything the
/// exploration reads: the restricted platform of the cluster (<see cref="ClusterPlatform"/>: every device and
/// instance record, the knobs, each kept device's <c>dma-ranges</c> windows, the cluster's consumers and instances),
/// the profile's switches, the granularity, the budgets and the seed. Many boards share an SoC's .dtsi, so the same
/// cluster recurs in hundreds of files; its exploration is deterministic, so reusing it changes no output.
/// </summary>
/// <remarks>
/// The fingerprint serialises the records by reflection over their public properties, so a field added to the
/// platform model later is part of the key without anyone remembering to add it. Strings are length-prefixed,
/// numbers terminated, objects bracketed and typed: distinct platforms give distinct byte strings, and SHA-256
/// makes a digest collision negligible (2^-128 for a birthday collision among billions of keys). Not read by the
/// kernel model and so left out: the file name (<see cref="Platform.Source"/>), the builder's notes and the
/// profile's name.
/// <para>
/// Across profiles: each exploration records which switches the model read (<see cref="KernelSwitches.Tracking"/>).
/// Every step of every execution is a function of the platform and the values of the switches it reads, so under
/// a profile that agrees on all of them the same executions run and the outcome is the same; such a profile reuses
/// the result instead of exploring again (a cluster that never reaches a deferral or a failure path reads few
/// switches, and most profiles agree on those).
/// </para>
/// Memory is bounded by <see cref="MaxBytes"/> (default 64 MiB of keys and outcomes); once full, new results are not
/// stored. Safe to use from several threads.
/// </remarks>
public sealed class ScanCache
{
    /// <summary>The default bound on stored keys and outcomes: 64 MiB.</summary>
    public const long DefaultMaxBytes = 64L << 20;

    private const int KeyBytes = 64 + 64;

    // A switches-read entry: its list slot, plus the shared key string when it is the first for its cluster.
    private const int ReadsEntryBytes = 32 + 64 + 64;

    private readonly ConcurrentDictionary<string, Lazy<ClusterScanOutcome>> _entries = new(StringComparer.Ordinal);

    // Per cluster and exploration settings (no switches): the outcomes explored so far, with the switches they read.
    private readonly ConcurrentDictionary<string, List<(KernelSwitches Switches, ulong Reads, ClusterScanOutcome Outcome)>> _byReads = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Type, PropertyInfo[]> _properties = new();

    // By switch values (KernelSwitches' equality), so a scan holds one text per distinct profile.
    private readonly ConcurrentDictionary<KernelSwitches, string> _switchesText = new();
    private long _bytes;
    private long _hits;
    private long _misses;
    private long _profileHits;
    private long _executionsRun;

    public ScanCache(long maxBytes = DefaultMaxBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        MaxBytes = maxBytes;
    }

    public long MaxBytes { get; }

    /// <summary>Bytes of keys and outcomes stored (an estimate).</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>Outcomes stored (and being explored).</summary>
    public int Count => _entries.Count;

    public long Hits => Interlocked.Read(ref _hits);

    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>Misses answered by an exploration under another profile that agrees on every switch it read.</summary>
    public long ProfileHits => Interlocked.Read(ref _profileHits);

    /// <summary>Executions the explorations ran (the work the reuse did not save).</summary>
    public long ExecutionsRun => Interlocked.Read(ref _executionsRun);

    /// <summary>The digest of a restricted cluster platform (profile-independent; computed once per cluster).</summary>
    public byte[] PlatformDigest(ClusterPlatform view)
    {
        ArgumentNullException.ThrowIfNull(view);
        var w = new CanonicalWriter(_properties);
        var p = view.Platform;
        w.Value(p.Knobs);
        w.Token("devices");
        foreach (var d in p.Devices)
        {
            w.Value(d);
            w.Value(p.Dma.WindowsOf(d));
        }

        w.Token("instances");
        w.Value(p.Instances);
        w.Token("cluster");
        w.Value(view.Cluster.Consumers);
        w.Value(view.Cluster.Instances);
        w.Value(view.Cluster.Foreign);
        return SHA256.HashData(w.Bytes());
    }

    /// <summary>The key of one cluster under one profile and the scan's exploration settings.</summary>
    public string Key(byte[] platformDigest, Profile profile, ScanOptions options)
    {
        ArgumentNullException.ThrowIfNull(profile);
        return Key(platformDigest, profile.Switches, options);
    }

    private string Key(byte[] platformDigest, KernelSwitches? switches, ScanOptions options)
    {
        ArgumentNullException.ThrowIfNull(platformDigest);
        ArgumentNullException.ThrowIfNull(options);
        var w = new CanonicalWriter(_properties);
        w.Token(Convert.ToHexString(platformDigest));
        if (switches is not null)
        {
            // The same text w.Value(switches) writes, formed once per profile: it is asked for at every cluster.
            w.Raw(_switchesText.GetOrAdd(switches, static (s, properties) =>
            {
                var sw = new CanonicalWriter(properties);
                sw.Value(s);
                return sw.Text();
            }, _properties));
        }

        w.Value(options.Granularity);
        w.Value(options.ExhaustiveBudget);
        w.Value(options.SampleBudget);
        w.Value(options.Seed);
        return Convert.ToHexString(SHA256.HashData(w.Bytes()));
    }

    /// <summary>
    /// The outcome of the cluster with <paramref name="platformDigest"/> under <paramref name="profile"/>: stored for
    /// these switches, else reused from a profile that agrees on every switch its exploration read, else
    /// <paramref name="explore"/>'s (given the profile with switches that record their reads), stored.
    /// </summary>
    public ClusterScanOutcome GetOrExplore(byte[] platformDigest, Profile profile, ScanOptions options, Func<Profile, ClusterScanOutcome> explore)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(explore);
        return GetOrExplore(Key(platformDigest, profile.Switches, options), () =>
        {
            var shared = Key(platformDigest, (KernelSwitches?)null, options);
            if (_byReads.TryGetValue(shared, out var known))
            {
                lock (known)
                {
                    foreach (var (switches, reads, outcome) in known)
                    {
                        if (switches.AgreesWith(profile.Switches, reads))
                        {
                            Interlocked.Increment(ref _profileHits);
                            return outcome;
                        }
                    }
                }
            }

            var tracker = new SwitchReads();
            var explored = explore(profile with { Switches = profile.Switches.Tracking(tracker) });
            Interlocked.Add(ref _executionsRun, explored.Executions);

            // Kept within the same bound as the outcomes (the entry refers to the outcome the caller stores, or drops).
            var size = ReadsEntryBytes + explored.ApproximateBytes + KeyBytes;
            if (Interlocked.Add(ref _bytes, ReadsEntryBytes) + size - ReadsEntryBytes <= MaxBytes)
            {
                known = _byReads.GetOrAdd(shared, static _ => []);
                lock (known)
                {
                    known.Add((profile.Switches, tracker.Mask, explored));
                }
            }
            else
            {
                Interlocked.Add(ref _bytes, -ReadsEntryBytes);
            }

            return explored;
        });
    }

    /// <summary>
    /// The outcome stored under <paramref name="key"/>, else <paramref name="explore"/>'s, stored unless the bound
    /// would be passed. A thread asking for a key another thread is exploring waits for that result instead of
    /// exploring the same cluster twice (boards of one SoC are similar in size, so they tend to run side by side).
    /// </summary>
    public ClusterScanOutcome GetOrExplore(string key, Func<ClusterScanOutcome> explore)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(explore);
        var mine = new Lazy<ClusterScanOutcome>(explore, LazyThreadSafetyMode.ExecutionAndPublication);
        var entry = _entries.GetOrAdd(key, mine);
        if (entry != mine)
        {
            Interlocked.Increment(ref _hits);
            return entry.Value;
        }

        Interlocked.Increment(ref _misses);
        ClusterScanOutcome outcome;
        try
        {
            outcome = mine.Value;
        }
        catch
        {
            // A model bug: nothing to keep; every file with this cluster meets the same failure.
            _entries.TryRemove(new KeyValuePair<string, Lazy<ClusterScanOutcome>>(key, mine));
            throw;
        }

        var size = KeyBytes + outcome.ApproximateBytes;
        if (Interlocked.Add(ref _bytes, size) > MaxBytes)
        {
            // Over the bound: drop it once the threads waiting for it have their copy.
            Interlocked.Add(ref _bytes, -size);
            _entries.TryRemove(new KeyValuePair<string, Lazy<ClusterScanOutcome>>(key, mine));
        }

        return outcome;
    }

    /// <summary>An injective text form of a value graph, by its public instance properties.</summary>
    private sealed class CanonicalWriter(ConcurrentDictionary<Type, PropertyInfo[]> properties)
    {
        private readonly StringBuilder _sb = new();
        private readonly Dictionary<object, int> _seen = new(ReferenceEqualityComparer.Instance);

        public byte[] Bytes() => Encoding.UTF8.GetBytes(_sb.ToString());

        public string Text() => _sb.ToString();

        /// <summary>Text another writer formed (that writer's references are its own: it must share none with this one).</summary>
        public void Raw(string text) => _sb.Append(text);

        public void Token(string s) => _sb.Append('#').Append(s.Length).Append(':').Append(s);

        public void Value(object? v)
        {
            switch (v)
            {
                case null:
                    _sb.Append('~');
                    return;
                case string s:
                    _sb.Append('s').Append(s.Length).Append(':').Append(s);
                    return;
                case bool b:
                    _sb.Append(b ? 'T' : 'F');
                    return;
                case Enum e:
                    _sb.Append('e').Append(e.GetType().Name).Append(':').Append(Convert.ToInt64(e, CultureInfo.InvariantCulture)).Append(';');
                    return;
                case byte or sbyte or short or ushort or int or uint or long or ulong or Int128 or UInt128:
                    _sb.Append('n').Append(((IFormattable)v).ToString(null, CultureInfo.InvariantCulture)).Append(';');
                    return;
                case double or float:
                    _sb.Append('f').Append(((IFormattable)v).ToString("R", CultureInfo.InvariantCulture)).Append(';');
                    return;
                case char c:
                    _sb.Append('c').Append((int)c).Append(';');
                    return;
                case IDictionary:
                    throw new NotSupportedException($"model bug: no canonical order for {v.GetType()} in a cluster fingerprint");
            }

            var type = v.GetType();
            if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(ImmutableArray<>)
                && (bool)type.GetProperty(nameof(ImmutableArray<int>.IsDefault))!.GetValue(v)!)
            {
                _sb.Append("[!]");
                return;
            }

            if (v is IEnumerable items)
            {
                _sb.Append('[');
                foreach (var item in items)
                {
                    Value(item);
                }

                _sb.Append(']');
                return;
            }

            if (!type.IsValueType)
            {
                if (_seen.TryGetValue(v, out var id))
                {
                    _sb.Append('@').Append(id).Append(';');
                    return;
                }

                _seen.Add(v, _seen.Count);
            }

            if (type.IsPrimitive)
            {
                throw new NotSupportedException($"model bug: {type} in a cluster fingerprint");
            }

            _sb.Append('{').Append(type.FullName).Append(';');
            foreach (var p in properties.GetOrAdd(type, static t => [.. t.GetProperties(BindingFlags.Public | BindingFlags.Instance)
                .Where(p => p.CanRead && p.GetIndexParameters().Length == 0)
                .OrderBy(p => p.Name, StringComparer.Ordinal)]))
            {
                _sb.Append(p.Name).Append('=');
                Value(p.GetValue(v));
            }

            _sb.Append('}');
        }
    }
}
