namespace IommuLab.Firmware.Topology;

/// <summary>The Linux errno values the DT parsing functions return (numbers as on arm64/x86).</summary>
public enum Errno
{
    ENOENT = 2,
    EFAULT = 14,
    ENODEV = 19,
    EINVAL = 22,
}
