using IommuLab.Firmware.DeviceTree;

namespace IommuLab.Tests.DeviceTree;

public sealed class DtPropertyTests
{
    [Fact]
    public void Cells_are_read_big_endian()
    {
        var p = new DtProperty("reg", new byte[] { 0, 0, 0, 1, 0x12, 0x34, 0x56, 0x78 });
        Assert.Equal(2, p.CellCount);
        Assert.Equal([1u, 0x12345678u], p.GetCells()!);
    }

    [Fact]
    public void A_value_that_is_not_whole_cells_has_no_cells()
    {
        var p = new DtProperty("x", new byte[] { 0, 0, 1 });
        Assert.Equal(-1, p.CellCount);
        Assert.Null(p.GetCells());
        Assert.False(p.TryGetU32(out _));
    }

    [Fact]
    public void String_lists_split_on_nul_and_reject_unterminated_values()
    {
        var ok = new DtProperty("compatible", "apple,t8103-dart\0apple,dart\0"u8.ToArray());
        Assert.Equal(["apple,t8103-dart", "apple,dart"], ok.GetStringList()!);
        Assert.Equal("apple,t8103-dart", ok.GetString());
        var bad = new DtProperty("compatible", "abc"u8.ToArray());
        Assert.Null(bad.GetStringList());
        Assert.Null(bad.GetString());
    }
}
