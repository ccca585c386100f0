using LmHead.Extensions.Decoding;

namespace LmHead.Extensions.MachineLearning;

/// <summary>A penalty stage plus the history column it reads and how that column maps to a <see cref="TokenHistory"/>.</summary>
internal sealed record LogitsPenalty(ITokenHistoryStage Stage, string HistoryColumnName, string StageName, bool HistoryIsGenerated)
{
    /// <summary>Converts a row's history column to a history, checking that every entry is a whole, non-negative id.</summary>
    public TokenHistory ToHistory(ReadOnlySpan<float> values)
    {
        var ids = new int[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            float v = values[i];
            if (!(v >= 0) || v != MathF.Floor(v) || v > 16_777_216f)
            {
                throw new InvalidOperationException($"{StageName}: history column '{HistoryColumnName}' holds {v} at position {i}; token ids must be whole numbers from 0 to 2^24.");
            }

            ids[i] = (int)v;
        }

        return HistoryIsGenerated ? new TokenHistory([], ids) : new TokenHistory(ids, []);
    }
}
