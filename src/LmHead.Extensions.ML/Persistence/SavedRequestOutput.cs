using Microsoft.ML.Data;

namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// Output of the projection's weight request: one vector per power of two up to 2^30 (a loaded <c>CustomMapping</c>
/// declares its vector sizes at compile time); the saved chain concatenates those that add up to the weights' length.
/// </summary>
internal sealed class SavedRequestOutput
{
    /// <summary>2^0 slots.</summary>
    [ColumnName("LmHead.Request.0"), VectorType(1)]
    public VBuffer<float> Bit0 { get; set; }

    /// <summary>2^1 slots.</summary>
    [ColumnName("LmHead.Request.1"), VectorType(2)]
    public VBuffer<float> Bit1 { get; set; }

    /// <summary>2^2 slots.</summary>
    [ColumnName("LmHead.Request.2"), VectorType(4)]
    public VBuffer<float> Bit2 { get; set; }

    /// <summary>2^3 slots.</summary>
    [ColumnName("LmHead.Request.3"), VectorType(8)]
    public VBuffer<float> Bit3 { get; set; }

    /// <summary>2^4 slots.</summary>
    [ColumnName("LmHead.Request.4"), VectorType(16)]
    public VBuffer<float> Bit4 { get; set; }

    /// <summary>2^5 slots.</summary>
    [ColumnName("LmHead.Request.5"), VectorType(32)]
    public VBuffer<float> Bit5 { get; set; }

    /// <summary>2^6 slots.</summary>
    [ColumnName("LmHead.Request.6"), VectorType(64)]
    public VBuffer<float> Bit6 { get; set; }

    /// <summary>2^7 slots.</summary>
    [ColumnName("LmHead.Request.7"), VectorType(128)]
    public VBuffer<float> Bit7 { get; set; }

    /// <summary>2^8 slots.</summary>
    [ColumnName("LmHead.Request.8"), VectorType(256)]
    public VBuffer<float> Bit8 { get; set; }

    /// <summary>2^9 slots.</summary>
    [ColumnName("LmHead.Request.9"), VectorType(512)]
    public VBuffer<float> Bit9 { get; set; }

    /// <summary>2^10 slots.</summary>
    [ColumnName("LmHead.Request.10"), VectorType(1024)]
    public VBuffer<float> Bit10 { get; set; }

    /// <summary>2^11 slots.</summary>
    [ColumnName("LmHead.Request.11"), VectorType(2048)]
    public VBuffer<float> Bit11 { get; set; }

    /// <summary>2^12 slots.</summary>
    [ColumnName("LmHead.Request.12"), VectorType(4096)]
    public VBuffer<float> Bit12 { get; set; }

    /// <summary>2^13 slots.</summary>
    [ColumnName("LmHead.Request.13"), VectorType(8192)]
    public VBuffer<float> Bit13 { get; set; }

    /// <summary>2^14 slots.</summary>
    [ColumnName("LmHead.Request.14"), VectorType(16384)]
    public VBuffer<float> Bit14 { get; set; }

    /// <summary>2^15 slots.</summary>
    [ColumnName("LmHead.Request.15"), VectorType(32768)]
    public VBuffer<float> Bit15 { get; set; }

    /// <summary>2^16 slots.</summary>
    [ColumnName("LmHead.Request.16"), VectorType(65536)]
    public VBuffer<float> Bit16 { get; set; }

    /// <summary>2^17 slots.</summary>
    [ColumnName("LmHead.Request.17"), VectorType(131072)]
    public VBuffer<float> Bit17 { get; set; }

    /// <summary>2^18 slots.</summary>
    [ColumnName("LmHead.Request.18"), VectorType(262144)]
    public VBuffer<float> Bit18 { get; set; }

    /// <summary>2^19 slots.</summary>
    [ColumnName("LmHead.Request.19"), VectorType(524288)]
    public VBuffer<float> Bit19 { get; set; }

    /// <summary>2^20 slots.</summary>
    [ColumnName("LmHead.Request.20"), VectorType(1048576)]
    public VBuffer<float> Bit20 { get; set; }

    /// <summary>2^21 slots.</summary>
    [ColumnName("LmHead.Request.21"), VectorType(2097152)]
    public VBuffer<float> Bit21 { get; set; }

    /// <summary>2^22 slots.</summary>
    [ColumnName("LmHead.Request.22"), VectorType(4194304)]
    public VBuffer<float> Bit22 { get; set; }

    /// <summary>2^23 slots.</summary>
    [ColumnName("LmHead.Request.23"), VectorType(8388608)]
    public VBuffer<float> Bit23 { get; set; }

    /// <summary>2^24 slots.</summary>
    [ColumnName("LmHead.Request.24"), VectorType(16777216)]
    public VBuffer<float> Bit24 { get; set; }

    /// <summary>2^25 slots.</summary>
    [ColumnName("LmHead.Request.25"), VectorType(33554432)]
    public VBuffer<float> Bit25 { get; set; }

    /// <summary>2^26 slots.</summary>
    [ColumnName("LmHead.Request.26"), VectorType(67108864)]
    public VBuffer<float> Bit26 { get; set; }

    /// <summary>2^27 slots.</summary>
    [ColumnName("LmHead.Request.27"), VectorType(134217728)]
    public VBuffer<float> Bit27 { get; set; }

    /// <summary>2^28 slots.</summary>
    [ColumnName("LmHead.Request.28"), VectorType(268435456)]
    public VBuffer<float> Bit28 { get; set; }

    /// <summary>2^29 slots.</summary>
    [ColumnName("LmHead.Request.29"), VectorType(536870912)]
    public VBuffer<float> Bit29 { get; set; }

    /// <summary>2^30 slots.</summary>
    [ColumnName("LmHead.Request.30"), VectorType(1073741824)]
    public VBuffer<float> Bit30 { get; set; }

    /// <summary>Sets the vector of 2^<paramref name="bit"/> slots.</summary>
    public void Set(int bit, VBuffer<float> value)
    {
        switch (bit)
        {
            case 0: Bit0 = value; break;
            case 1: Bit1 = value; break;
            case 2: Bit2 = value; break;
            case 3: Bit3 = value; break;
            case 4: Bit4 = value; break;
            case 5: Bit5 = value; break;
            case 6: Bit6 = value; break;
            case 7: Bit7 = value; break;
            case 8: Bit8 = value; break;
            case 9: Bit9 = value; break;
            case 10: Bit10 = value; break;
            case 11: Bit11 = value; break;
            case 12: Bit12 = value; break;
            case 13: Bit13 = value; break;
            case 14: Bit14 = value; break;
            case 15: Bit15 = value; break;
            case 16: Bit16 = value; break;
            case 17: Bit17 = value; break;
            case 18: Bit18 = value; break;
            case 19: Bit19 = value; break;
            case 20: Bit20 = value; break;
            case 21: Bit21 = value; break;
            case 22: Bit22 = value; break;
            case 23: Bit23 = value; break;
            case 24: Bit24 = value; break;
            case 25: Bit25 = value; break;
            case 26: Bit26 = value; break;
            case 27: Bit27 = value; break;
            case 28: Bit28 = value; break;
            case 29: Bit29 = value; break;
            case 30: Bit30 = value; break;
            default: throw new ArgumentOutOfRangeException(nameof(bit), bit, "A request bit is 0 to 30.");
        }
    }
}
