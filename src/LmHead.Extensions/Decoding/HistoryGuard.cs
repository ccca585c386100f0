namespace LmHead.Extensions.Decoding;

/// <summary>Checks history token ids against the vocabulary.</summary>
internal static class HistoryGuard
{
    public static void RequireInVocabulary(long[] tokens, long vocabulary, string paramName)
    {
        foreach (long token in tokens)
        {
            if (token < 0 || token >= vocabulary)
            {
                throw new ArgumentException($"{paramName} holds token id {token}, outside the vocabulary of {vocabulary} tokens.", paramName);
            }
        }
    }
}
