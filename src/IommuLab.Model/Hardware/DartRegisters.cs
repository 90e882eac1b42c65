using System.Collections.Immutable;
using System.Globalization;
using IommuLab.Model.Kernel;
using IommuLab.Model.PageTables;

namespace IommuLab.Model.Hardware;

/// <summary>
/// How a DART variant encodes its per-stream registers (<c>struct apple_dart_hw</c> in drivers/iommu/apple-dart.c:
/// tcr_enabled, tcr_bypass, tcr_disabled, ttbr_valid/shift, ttbr_count) and which page-table format it walks.
/// </summary>
public sealed record DartRegisterLayout(uint TcrTranslate, uint TcrBypass, uint TcrFourLevel, DartTtbrEncoding Ttbr, IoPgtableFormat Format)
{
    /// <summary>T8020 TCR: TRANSLATE_ENABLE bit 7, BYPASS_DART bit 8 | BYPASS_DAPF bit 12.</summary>
    private const uint T8020Translate = 1U << 7;
    private const uint T8020Bypass = (1U << 8) | (1U << 12);

    /// <summary>T8110 TCR: TRANSLATE_ENABLE bit 0, BYPASS_DART bit 1 | BYPASS_DAPF bit 2, FOUR_LEVEL bit 3 (v6.18).</summary>
    private const uint T8110Translate = 1U << 0;
    private const uint T8110Bypass = (1U << 1) | (1U << 2);
    private const uint T8110FourLevel = 1U << 3;

    /// <summary>The layout of a variant (spec §6.1, §6.7): t8103 and t8103-usb4 are DART1, t6000 DART2 with T8020 registers, t8110 its own.</summary>
    public static DartRegisterLayout For(DartHardware hw)
    {
        ArgumentNullException.ThrowIfNull(hw);
        return hw.Variant switch
        {
            "t8110" => new DartRegisterLayout(T8110Translate, T8110Bypass, T8110FourLevel, DartTtbrEncoding.T8110, IoPgtableFormat.AppleDart2),
            "t6000" => new DartRegisterLayout(T8020Translate, T8020Bypass, 0, DartTtbrEncoding.T8020, IoPgtableFormat.AppleDart2),

            // The usb4 DART has no bypass TCR value (tcr_bypass = 0).
            "t8103-usb4" => new DartRegisterLayout(T8020Translate, 0, 0, DartTtbrEncoding.T8020, IoPgtableFormat.AppleDart),
            _ => new DartRegisterLayout(T8020Translate, T8020Bypass, 0, DartTtbrEncoding.T8020, IoPgtableFormat.AppleDart),
        };
    }

    /// <summary>The io-pgtable config apple_dart_finalize_domain() builds from this DART's PARAMS (page size, ias, oas).</summary>
    public IoPgtableConfig PgtableConfig(DartHardware hw)
    {
        ArgumentNullException.ThrowIfNull(hw);
        return Format == IoPgtableFormat.AppleDart
            ? IoPgtableConfig.AppleDart((ulong)hw.PgSize, hw.Ias, hw.Oas)
            : IoPgtableConfig.AppleDart2((ulong)hw.PgSize, hw.Ias, hw.Oas);
    }
}

/// <summary>
/// One DART's stream registers: a 32-bit TCR per stream and <c>ttbr_count</c> 32-bit TTBRs per stream, reset to
/// zero (translation disabled, no valid TTBR). The driver side models apple_dart_hw_enable_translation(),
/// apple_dart_hw_disable_dma(), apple_dart_hw_enable_bypass(), apple_dart_hw_set_ttbr() and
/// apple_dart_hw_clear_all_ttbrs(); the device side walks the stream's TTBRs with <see cref="HardwareWalker"/>.
/// </summary>
public sealed class DartRegisters : IommuHardware
{
    private readonly uint[] _tcr;
    private readonly uint[] _ttbr;
    private readonly bool[] _written;
    private readonly bool[] _bootloader;

    public DartRegisters(string name, DartHardware hw)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(hw);
        Name = name;
        Hw = hw;
        Layout = DartRegisterLayout.For(hw);
        _tcr = new uint[hw.NumStreams];
        _ttbr = new uint[hw.NumStreams * hw.TtbrsPerStream];
        _written = new bool[hw.NumStreams];
        _bootloader = new bool[hw.NumStreams];
    }

    public string Name { get; }

    public DartHardware Hw { get; }

    public DartRegisterLayout Layout { get; }

    public uint Tcr(int sid) => _tcr[sid];

    public uint Ttbr(int sid, int index) => _ttbr[sid * Hw.TtbrsPerStream + index];

    /// <summary>The TTBRs of a stream, valid or not.</summary>
    public ImmutableArray<uint> Ttbrs(int sid) => [.. _ttbr.AsSpan(sid * Hw.TtbrsPerStream, Hw.TtbrsPerStream)];

    /// <summary>
    /// Points the stream's TTBRs at <paramref name="table"/>'s top-level tables, clears the others and enables
    /// translation (with FOUR_LEVEL when the table has four levels). Models apple_dart_setup_translation().
    /// </summary>
    public void EnableTranslation(int sid, IoPageTable table)
    {
        ArgumentNullException.ThrowIfNull(table);
        if (table.Ttbrs.Length > Hw.TtbrsPerStream)
        {
            throw new InvalidOperationException($"model bug: a {table.Ttbrs.Length}-TTBR table on a DART with {Hw.TtbrsPerStream} TTBRs per stream");
        }

        for (var i = 0; i < Hw.TtbrsPerStream; i++)
        {
            _ttbr[sid * Hw.TtbrsPerStream + i] = i < table.Ttbrs.Length ? Layout.Ttbr.Encode(table.Ttbrs[i]) : 0;
        }

        _tcr[sid] = Layout.TcrTranslate | (table.DartLevels == 4 ? Layout.TcrFourLevel : 0);
        _written[sid] = true;
        _bootloader[sid] = false;
    }

    /// <summary>Writes the bypass TCR. Models apple_dart_hw_enable_bypass().</summary>
    public void EnableBypass(int sid)
    {
        _tcr[sid] = Layout.TcrBypass;
        _written[sid] = true;
        _bootloader[sid] = false;
    }

    /// <summary>Writes the disabled TCR (tcr_disabled = 0); TTBRs are left as they were. Models apple_dart_hw_disable_dma().</summary>
    public void DisableDma(int sid)
    {
        _tcr[sid] = 0;
        _written[sid] = true;
        _bootloader[sid] = false;
    }

    /// <summary>The state a bootloader leaves on a locked DART: translation through its own tables.</summary>
    public void BootloaderTranslation(int sid, IoPageTable table)
    {
        EnableTranslation(sid, table);
        _written[sid] = false;
        _bootloader[sid] = true;
    }

    public override HardwareAccess Access(PhysicalMemory memory, uint streamId, ulong address, DmaAccess access)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (streamId >= (uint)Hw.NumStreams)
        {
            return HardwareAccess.Disabled(address, $"sid {streamId} is beyond the DART's {Hw.NumStreams} streams");
        }

        var sid = (int)streamId;
        var tcr = _tcr[sid];
        if (Layout.TcrBypass != 0 && (tcr & Layout.TcrBypass) != 0)
        {
            return HardwareAccess.Bypassed(address, "TCR bypass");
        }

        if ((tcr & Layout.TcrTranslate) == 0)
        {
            return HardwareAccess.Disabled(address, _written[sid] ? "TCR disables the stream" : "translation never enabled");
        }

        if (Hw.PgSize is not (4096 or 16384))
        {
            return HardwareAccess.Walked(address, WalkResult.Faulted(WalkFaultKind.BadTtbr, 0, Layout.Format), $"page size {Hw.PgSize} cannot be walked");
        }

        var levels = Layout.TcrFourLevel != 0 && (tcr & Layout.TcrFourLevel) != 0 ? 4 : 3;
        var config = new DartWalkerConfig(Layout.Format, (ulong)Hw.PgSize, levels, Layout.Ttbr, Ttbrs(sid));
        var walk = HardwareWalker.Translate(memory, config, address, access);
        var name = walk.DartErrorName(levels);
        return HardwareAccess.Walked(address, walk, (_bootloader[sid] ? "bootloader tables" : "TTBR") + (name is null ? "" : ": " + name));
    }

    public override string DescribeStream(uint streamId)
    {
        if (streamId >= (uint)Hw.NumStreams)
        {
            return "no such stream";
        }

        var sid = (int)streamId;
        var ttbrs = string.Join(" ", Ttbrs(sid).Select(t => "0x" + t.ToString("x8", CultureInfo.InvariantCulture)));
        return $"TCR 0x{_tcr[sid]:x8} TTBR {ttbrs}";
    }
}
