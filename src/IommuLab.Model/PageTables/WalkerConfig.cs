using System.Collections.Immutable;

namespace IommuLab.Model.PageTables;

/// <summary>
/// How a DART variant lays a table address into a 32-bit TTBR register (apple-dart.c <c>struct apple_dart_hw</c>:
/// ttbr_valid, ttbr_addr_field_shift, ttbr_shift).
/// </summary>
/// <param name="ValidBit">The register's valid bit.</param>
/// <param name="AddressFieldShift">Where the address field starts in the register.</param>
/// <param name="AddressShift">Low address bits dropped (the table alignment the register can express).</param>
public sealed record DartTtbrEncoding(uint ValidBit, int AddressFieldShift, int AddressShift)
{
    /// <summary>t8020 and t6000: valid bit 31, address &gt;&gt; 12 in bits 30:0.</summary>
    public static DartTtbrEncoding T8020 { get; } = new(1U << 31, 0, 12);

    /// <summary>t8110: valid bit 0, address &gt;&gt; 14 from bit 2.</summary>
    public static DartTtbrEncoding T8110 { get; } = new(1U << 0, 2, 14);

    private uint FieldMask => ~ValidBit >> AddressFieldShift;

    /// <summary>
    /// The register value for a table at <paramref name="tableAddress"/>; false when the address is misaligned or does
    /// not fit (the driver WARNs on misalignment and writes the register anyway).
    /// </summary>
    public bool TryEncode(ulong tableAddress, out uint register)
    {
        var field = tableAddress >> AddressShift;
        if ((tableAddress & ((1UL << AddressShift) - 1)) != 0 || field > FieldMask)
        {
            register = 0;
            return false;
        }

        register = ValidBit | ((uint)field << AddressFieldShift);
        return true;
    }

    /// <summary>Models apple_dart_hw_set_ttbr() (drivers/iommu/apple-dart.c): the value written.</summary>
    public uint Encode(ulong tableAddress) =>
        TryEncode(tableAddress, out var register)
            ? register
            : throw new InvalidOperationException($"model bug: table 0x{tableAddress:x} cannot be expressed in a TTBR");

    /// <summary>Whether the register's valid bit is set.</summary>
    public bool IsValid(uint register) => (register & ValidBit) != 0;

    /// <summary>The table address the hardware reads from the register (ignoring the valid bit).</summary>
    public ulong Decode(uint register) => (ulong)((register >> AddressFieldShift) & FieldMask) << AddressShift;
}

/// <summary>What a hardware walker is given for one stream: the format and the registers that point at the tables.</summary>
public abstract record WalkerConfig
{
    private protected WalkerConfig()
    {
    }
}

/// <summary>
/// One DART stream's translation registers: its TTBR registers (all of them, valid or not), the page size from
/// PARAMS1 and the level count the TCR selects (3, or 4 with the t8110 FOUR_LEVEL bit).
/// </summary>
public sealed record DartWalkerConfig(IoPgtableFormat Format, ulong PageSize, int Levels, DartTtbrEncoding Encoding,
    ImmutableArray<uint> TtbrRegisters) : WalkerConfig
{
    /// <summary>
    /// The registers a driver writes when it attaches <paramref name="table"/> to a stream with
    /// <paramref name="ttbrCount"/> TTBR registers: the table's TTBRs, then cleared ones. Models what
    /// apple_dart_setup_translation() (drivers/iommu/apple-dart.c) leaves in the stream's registers.
    /// </summary>
    public static DartWalkerConfig ForTable(IoPageTable table, DartTtbrEncoding encoding, int ttbrCount)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(encoding);
        if (table.Dart is null || ttbrCount < table.Ttbrs.Length)
        {
            throw new ArgumentException($"a DART stream with {ttbrCount} TTBRs cannot hold this {table.Format} table");
        }

        var registers = new uint[ttbrCount];
        for (var i = 0; i < table.Ttbrs.Length; i++)
        {
            registers[i] = encoding.Encode(table.Ttbrs[i]);
        }

        return new DartWalkerConfig(table.Format, table.MinPageSize, table.DartLevels, encoding, [.. registers]);
    }
}

/// <summary>
/// One stage-1 context as an SMMU holds it (context descriptor or context bank): TTB0, T0SZ, TG0, IPS and whether
/// walks through TTB0 are enabled (EPD0 clear, descriptor valid).
/// </summary>
public sealed record LpaeWalkerConfig(ulong Ttbr, int Tsz, int Tg, int Ips, bool WalksEnabled = true) : WalkerConfig
{
    /// <summary>The context a driver programs for <paramref name="table"/>.</summary>
    public static LpaeWalkerConfig ForTable(IoPageTable table)
    {
        ArgumentNullException.ThrowIfNull(table);
        var registers = table.LpaeRegisters ?? throw new ArgumentException($"{table.Format} is not an LPAE table");
        return new LpaeWalkerConfig(registers.Ttbr, registers.Tsz, registers.Tg, registers.Ips);
    }
}
