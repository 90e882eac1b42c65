using IommuLab.Model.Kernel;

namespace IommuLab.Tests.Kernel;

/// <summary>
/// The spec §7.3 matrix: one test case per (scenario, profile) cell, each an explicit event order on a small DTS
/// fixture, asserting the device class / DMA ops, the violated invariants and the leaked apple cfgs.
/// usb-two-darts.dts is the §5.6 setup: D = usb_drd0, A = dwc3_0_dart_0 (sid 0), B = dwc3_0_dart_1 (sid 1).
/// </summary>
public sealed class ScenarioMatrixTests
{
    private const string Usb = "usb-two-darts.dts";
    private const string A = "dwc3_0_dart_0";
    private const string B = "dwc3_0_dart_1";
    private const string D = "usb_drd0";

    /// <summary>
    /// S1 (spec §5.6; Hector 20a7ef6d-a8ca-4bd8-ad7e-11856db617a2@marcan.st and 1eb12c35-e64e-4c32-af99-8743dc2ec266@marcan.st):
    /// A ready, B late. K66-K68: bug #1 (-EINVAL, bound with direct DMA, then A-only group under it: I2, I4).
    /// JGG2: bug #1 through assign_iommu. JGG2+F1: bug #2 (A-only group, iommu-dma). HF2/AD and K615+: correct but a
    /// cfg leaks (K615+: one from the deferral, one from REG(A)'s walk-path parse, a derived prediction).
    /// </summary>
    [Theory]
    [InlineData("K66", "T/direct", "I2,I3,I4,I15", 0)]
    [InlineData("K67", "T/direct", "I2,I3,I4,I15", 0)]
    [InlineData("K68", "T/direct", "I2,I3,I4,I15", 0)]
    [InlineData("JGG2", "T/direct", "I2,I3,I4,I9,I15", 0)]
    [InlineData("JGG2+F1", "T/iommu-dma", "I2,I3,I9,I15", 0)]
    [InlineData("JGG2+F1+HF2", "T/iommu-dma", "I13", 1)]
    [InlineData("JGG2+F1+AD", "T/iommu-dma", "I13", 1)]
    [InlineData("K611", "T/iommu-dma", "", 0)]
    [InlineData("K615", "T/iommu-dma", "I13", 2)]
    [InlineData("K616", "T/iommu-dma", "I13", 2)]
    public void S1_first_dart_ready_second_late(string profile, string outcome, string violated, int leaks)
    {
        var r = KernelRun.Run(Usb, profile, $"REG({A}) PROBE({D}) REG({B})");
        Assert.Equal(outcome, r.ClassAndDma(D));
        Assert.Equal(violated, r.Violated());
        Assert.Equal(leaks, r.CfgLeaks());
    }

    /// <summary>S0 (spec §5.6): both late, A first; the retry after BIND(A) runs before REG(B), so this is S1.</summary>
    [Theory]
    [InlineData("K66", "T/direct", "I2,I3,I4,I15")]
    [InlineData("K67", "T/direct", "I2,I3,I4,I15")]
    [InlineData("K68", "T/direct", "I2,I3,I4,I15")]
    [InlineData("JGG2", "T/direct", "I2,I3,I4,I9,I15")]
    [InlineData("JGG2+F1", "T/iommu-dma", "I2,I3,I9,I15")]
    [InlineData("JGG2+F1+HF2", "T/iommu-dma", "I13")]
    [InlineData("JGG2+F1+AD", "T/iommu-dma", "I13")]
    [InlineData("K611", "T/iommu-dma", "")]
    [InlineData("K615", "T/iommu-dma", "I13")]
    [InlineData("K616", "T/iommu-dma", "I13")]
    public void S0_both_late_retry_before_second_registers(string profile, string outcome, string violated)
    {
        var r = KernelRun.Run(Usb, profile, $"PROBE({D}) REG({A}) REG({B})");
        Assert.Equal(outcome, r.ClassAndDma(D));
        Assert.Equal(violated, r.Violated());
    }

    /// <summary>
    /// S0 with B registered before A's bind retries D (deferred work is asynchronous): correct in every profile;
    /// K615+ still leaks the cfg REG(A)'s walk-path parse built.
    /// </summary>
    [Theory]
    [InlineData("K66", 0)]
    [InlineData("K67", 0)]
    [InlineData("K68", 0)]
    [InlineData("JGG2", 0)]
    [InlineData("JGG2+F1", 0)]
    [InlineData("JGG2+F1+HF2", 0)]
    [InlineData("JGG2+F1+AD", 0)]
    [InlineData("K611", 0)]
    [InlineData("K615", 1)]
    [InlineData("K616", 1)]
    public void S0_both_late_second_registers_before_retry(string profile, int leaks)
    {
        var r = KernelRun.Run(Usb, profile, $"PROBE({D}) REG({A}) REG({B}) BIND({A})");
        Assert.Equal("T/iommu-dma", r.ClassAndDma(D));
        Assert.Equal(leaks, r.CfgLeaks());
        Assert.Equal(leaks == 0 ? "" : "I13", r.Violated());
    }

    /// <summary>S2 (spec §5.6): second-listed registers first; correct in all profiles (the order the checker must contrast with S1).</summary>
    [Theory]
    [InlineData("K66")]
    [InlineData("K67")]
    [InlineData("K68")]
    [InlineData("JGG2")]
    [InlineData("JGG2+F1")]
    [InlineData("JGG2+F1+HF2")]
    [InlineData("JGG2+F1+AD")]
    [InlineData("K611")]
    [InlineData("K615")]
    [InlineData("K616")]
    public void S2_second_dart_registers_first(string profile)
    {
        var r = KernelRun.Run(Usb, profile, $"REG({B}) PROBE({D}) REG({A})");
        Assert.Equal("T/iommu-dma", r.ClassAndDma(D));
        Assert.Equal("", r.Violated());
        Assert.Equal(["/soc/iommu@382f00000:0", "/soc/iommu@382f80000:1"], r.Device(D).GroupCoverage.Select(s => s.ToString()));
    }

    /// <summary>
    /// S3 (spec §5.6): both registered before the consumer: correct everywhere. K615+: REG(A)'s walk parses D while
    /// B is missing and frees dev->iommu with its cfg in it (derived: the S-LEAK mechanism on the walk path).
    /// </summary>
    [Theory]
    [InlineData("K66", 0)]
    [InlineData("K67", 0)]
    [InlineData("K68", 0)]
    [InlineData("JGG2", 0)]
    [InlineData("JGG2+F1", 0)]
    [InlineData("JGG2+F1+HF2", 0)]
    [InlineData("JGG2+F1+AD", 0)]
    [InlineData("K611", 0)]
    [InlineData("K615", 1)]
    [InlineData("K616", 1)]
    public void S3_both_registered_before_consumer(string profile, int leaks)
    {
        var r = KernelRun.Run(Usb, profile, $"REG({A}) REG({B}) PROBE({D})");
        Assert.Equal("T/iommu-dma", r.ClassAndDma(D));
        Assert.Equal(leaks, r.CfgLeaks());
    }

    /// <summary>
    /// S4 (spec §5.6): B never registers. K66-K68/JGG2: bug #1 binds D at once with leftovers (I1: N is not clean).
    /// F1 and K611+: D waits; after TIMEOUT it binds without IOMMU. K611 keeps dev->iommu and the cfg (stale priv:
    /// I1), K615+ frees dev->iommu but leaks one cfg per failed parse.
    /// </summary>
    [Theory]
    [InlineData("K66", "N/direct", "N/direct", "I1", 0)]
    [InlineData("K67", "N/direct", "N/direct", "I1", 0)]
    [InlineData("K68", "N/direct", "N/direct", "I1", 0)]
    [InlineData("JGG2", "N/direct", "N/direct", "I1", 0)]
    [InlineData("JGG2+F1", "W/-", "N/direct", "I1", 0)]
    [InlineData("JGG2+F1+HF2", "W/-", "N/direct", "I1,I13", 1)]
    [InlineData("JGG2+F1+AD", "W/-", "N/direct", "I1", 0)]
    [InlineData("K611", "W/-", "N/direct", "I1", 0)]
    [InlineData("K615", "W/-", "N/direct", "I13", 3)]
    [InlineData("K616", "W/-", "N/direct", "I13", 3)]
    public void S4_second_dart_never_registers(string profile, string beforeTimeout, string afterTimeout, string violated, int leaks)
    {
        Assert.Equal(beforeTimeout, KernelRun.Run(Usb, profile, $"REG({A}) PROBE({D})").ClassAndDma(D));
        var r = KernelRun.Run(Usb, profile, $"REG({A}) PROBE({D}) TIMEOUT");
        Assert.Equal(afterTimeout, r.ClassAndDma(D));
        Assert.Equal(violated, r.Violated());
        Assert.Equal(leaks, r.CfgLeaks());
    }

    /// <summary>
    /// S5 (spec §5.6): B is status = "disabled": "no IOMMU" at B in all profiles. K66-K68 and JGG2 keep fwspec/cfg
    /// leftovers (I1); K611 keeps dev->iommu + cfg (I1); K615+ is clean but leaks cfgs.
    /// </summary>
    [Theory]
    [InlineData("K66", "I1", 0)]
    [InlineData("K67", "I1", 0)]
    [InlineData("K68", "I1", 0)]
    [InlineData("JGG2", "I1", 0)]
    [InlineData("JGG2+F1", "I1", 0)]
    [InlineData("JGG2+F1+HF2", "I1", 0)]
    [InlineData("JGG2+F1+AD", "I1", 0)]
    [InlineData("K611", "I1", 0)]
    [InlineData("K615", "I13", 2)]
    [InlineData("K616", "I13", 2)]
    public void S5_second_dart_disabled(string profile, string violated, int leaks)
    {
        var r = KernelRun.Run("usb-second-dart-disabled.dts", profile, $"REG({A}) PROBE({D})");
        Assert.Equal("N/direct", r.ClassAndDma(D));
        Assert.Equal(violated, r.Violated());
        Assert.Equal(leaks, r.CfgLeaks());
    }

    /// <summary>
    /// S-LEAK (spec §5.6, derived; Jason 20231121160058.GG6083@nvidia.com for AD): three S1-type deferrals before B
    /// registers. K615+/HF2 leak one cfg per deferral (K615+ one more from REG(A)'s walk); AD leaks the cfg its
    /// probe_device rejection drops once; K611 reuses the stale cfg and leaks nothing.
    /// </summary>
    [Theory]
    [InlineData("K66", 0)]
    [InlineData("K67", 0)]
    [InlineData("K68", 0)]
    [InlineData("JGG2", 0)]
    [InlineData("JGG2+F1", 0)]
    [InlineData("JGG2+F1+HF2", 3)]
    [InlineData("JGG2+F1+AD", 1)]
    [InlineData("K611", 0)]
    [InlineData("K615", 4)]
    [InlineData("K616", 4)]
    public void S_LEAK_one_cfg_per_deferral(string profile, int leaks)
    {
        var r = KernelRun.Run(Usb, profile, $"REG({A}) PROBE({D}) PROBE({D}) PROBE({D}) REG({B})");
        Assert.Equal(leaks, r.CfgLeaks());
        Assert.Equal(leaks, r.Violations.Count(v => v.Invariant == "I13"));
    }

    /// <summary>
    /// S-GANG-LIMIT (spec §5.6, §6.2): the ISP's three DARTs with mismatched bypass. ≤ v6.14: of_xlate -EINVAL
    /// (bypass mismatch, or no free slot when bypass is equal) → bound without IOMMU with leftovers. v6.15+: T.
    /// </summary>
    [Theory]
    [InlineData("K66", "N/direct", "I1")]
    [InlineData("K67", "N/direct", "I1")]
    [InlineData("K68", "N/direct", "I1")]
    [InlineData("JGG2", "N/direct", "I1")]
    [InlineData("JGG2+F1", "N/direct", "I1")]
    [InlineData("JGG2+F1+HF2", "N/direct", "I1")]
    [InlineData("JGG2+F1+AD", "N/direct", "I1")]
    [InlineData("K611", "N/direct", "I1")]
    [InlineData("K615", "T/iommu-dma", "I13")]
    [InlineData("K616", "T/iommu-dma", "I13")]
    public void S_GANG_LIMIT_three_isp_darts(string profile, string outcome, string violated)
    {
        const string schedule = "REG(isp_dart0) REG(isp_dart1) REG(isp_dart2) PROBE(isp)";
        var mismatched = KernelRun.Run("isp-three-darts.dts", profile, schedule);
        Assert.Equal(outcome, mismatched.ClassAndDma("isp"));
        Assert.Equal(violated, mismatched.Violated());
        var equalBypass = KernelRun.Run("isp-three-darts.dts", profile, schedule, knobs: ["isp_dart1.bypass=1"]);
        Assert.Equal(outcome, equalBypass.ClassAndDma("isp"));
    }

    /// <summary>
    /// S-GROUP-CONFLICT (spec §5.6, derived from apple_dart_device_group()): cons_d's streams read [G, NULL]. K615+:
    /// the registration walk parses both consumers, device_group's -EINVAL aborts it and dart_a is unregistered (I12,
    /// both consumers wait). Earlier profiles only meet it on cons_d's replay: cons_d binds without IOMMU.
    /// </summary>
    [Theory]
    [InlineData("K66", "T/iommu-dma", "N/direct", "")]
    [InlineData("K67", "T/iommu-dma", "N/direct", "")]
    [InlineData("K68", "T/iommu-dma", "N/direct", "")]
    [InlineData("JGG2", "T/iommu-dma", "N/direct", "")]
    [InlineData("JGG2+F1", "T/iommu-dma", "N/direct", "")]
    [InlineData("JGG2+F1+HF2", "T/iommu-dma", "N/direct", "")]
    [InlineData("JGG2+F1+AD", "T/iommu-dma", "N/direct", "")]
    [InlineData("K611", "T/iommu-dma", "N/direct", "")]
    [InlineData("K615", "W/-", "W/-", "I12")]
    [InlineData("K616", "W/-", "W/-", "I12")]
    public void S_GROUP_CONFLICT_shared_stream(string profile, string e, string d, string violated)
    {
        var r = KernelRun.Run("group-conflict.dts", profile, "REG(dart_a) PROBE(cons_e) PROBE(cons_d)");
        Assert.Equal(e, r.ClassAndDma("cons_e"));
        Assert.Equal(d, r.ClassAndDma("cons_d"));
        Assert.Equal(violated, r.Violated());
    }
}
