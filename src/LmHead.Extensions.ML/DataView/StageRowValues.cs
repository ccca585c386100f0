namespace LmHead.Extensions.MachineLearning;

/// <summary>The values a stage computed for one row; reused from row to row by a cursor.</summary>
internal sealed class StageRowValues
{
    public StageRowValues(int vectorSize) => Vector = new float[vectorSize];

    public float[] Vector { get; }

    public uint TokenId { get; set; }

    public float Probability { get; set; }
}
