using IommuLab.Tests.Support;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace IommuLab.Benchmarks;

/// <summary>MB/s over the corpus bytes each benchmark consumes per operation.</summary>
public sealed class ThroughputColumn(long bytesPerOperation) : IColumn
{
    public string Id => "Throughput";

    public string ColumnName => "MB/s";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => "Corpus megabytes (10^6 bytes) processed per second";

    public bool IsAvailable(Summary summary) => true;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var report = summary[benchmarkCase];
        var meanNs = report?.ResultStatistics?.Mean;
        return meanNs is null or 0 ? "-" : (bytesPerOperation / 1e6 / (meanNs.Value / 1e9)).ToString("F0", System.Globalization.CultureInfo.InvariantCulture);
    }
}

/// <summary>Adds the MB/s column for the sid corpus.</summary>
public sealed class SidThroughputConfig : BenchmarkDotNet.Configs.ManualConfig
{
    public SidThroughputConfig() => AddColumn(new ThroughputColumn(Corpus.SidDtbs.Sum(p => new FileInfo(p).Length)));
}
