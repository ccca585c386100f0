namespace LmHead.Extensions.Decoding;

/// <summary>Checks history token ids against the vocabulary, the same way for every <see cref="ITokenHistoryStage"/>.</summary>
internal static class HistoryGuard
{
    /// <summary>
    /// Throws when any token of the history (prompt and generated, whatever part a stage's window reads) is negative or not
    /// below <paramref name="vocabulary"/>: a history that does not belong to these logits is an error even where a stage
    /// would not read the token, so the penalties accept and reject exactly the same histories.
    /// </summary>
    /// <exception cref="ArgumentException">A token id is outside <c>[0, vocabulary)</c>.</exception>
    public static void RequireInVocabulary(TokenHistory history, long vocabulary, string paramName)
    {
        Check(history.PromptTokens, "prompt", vocabulary, paramName);
        Check(history.GeneratedTokens, "generated", vocabulary, paramName);
    }

    private static void Check(IReadOnlyList<int> tokens, string part, long vocabulary, string paramName)
    {
        for (int i = 0; i < tokens.Count; i++)
        {
            int token = tokens[i];
            if (token < 0 || token >= vocabulary)
            {
                throw new ArgumentException(
                    $"{paramName} holds token id {token} ({part} token {i}), outside the vocabulary of {vocabulary} tokens: ids must be in [0, {vocabulary}).",
                    paramName);
            }
        }
    }
}
