namespace IommuLab.Model.Kernel;

/// <summary>
/// A kernel return code as the kernel passes it: 0 for success, a negative errno, or the positive internal
/// <c>NO_IOMMU</c> (=1) of K66/K67 <c>of_iommu_configure()</c>. Values per spec §0.2 (include/uapi/asm-generic/errno*.h).
/// </summary>
public readonly record struct Errno(int Value)
{
    public static readonly Errno Ok = new(0);
    public static readonly Errno NoIommu = new(1);
    public static readonly Errno ENOENT = new(-2);
    public static readonly Errno ENXIO = new(-6);
    public static readonly Errno EAGAIN = new(-11);
    public static readonly Errno ENOMEM = new(-12);
    public static readonly Errno EFAULT = new(-14);
    public static readonly Errno EBUSY = new(-16);
    public static readonly Errno ENODEV = new(-19);
    public static readonly Errno EINVAL = new(-22);
    public static readonly Errno ENOSPC = new(-28);
    public static readonly Errno ERANGE = new(-34);
    public static readonly Errno ETIMEDOUT = new(-110);
    public static readonly Errno EPROBE_DEFER = new(-517);

    public bool IsOk => Value == 0;

    public bool IsError => Value < 0;

    /// <summary>The kernel's symbolic name: "0", "NO_IOMMU", "-EINVAL"...</summary>
    public string Name => Value switch
    {
        0 => "0",
        1 => "NO_IOMMU",
        -2 => "-ENOENT",
        -6 => "-ENXIO",
        -11 => "-EAGAIN",
        -12 => "-ENOMEM",
        -14 => "-EFAULT",
        -16 => "-EBUSY",
        -19 => "-ENODEV",
        -22 => "-EINVAL",
        -28 => "-ENOSPC",
        -34 => "-ERANGE",
        -110 => "-ETIMEDOUT",
        -517 => "-EPROBE_DEFER",
        _ => Value.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    public override string ToString() => Name;
}
