namespace LmHead.Extensions.SemanticKernel.Services;

/// <summary>
/// Finds how many of a conversation's oldest droppable parts to leave out so its rendered prompt fits a token budget,
/// with O(log n) renders and token counts instead of one per dropped part (a long chat used to be re-rendered and
/// re-tokenized after every dropped turn: quadratic in its length).
/// </summary>
internal static class PromptBudget
{
    /// <summary>
    /// Returns the prompt rendered with the fewest drops (0 to <paramref name="maxDrops"/>) whose token count is at most
    /// <paramref name="maxTokens"/>, or with every drop when none fits. Dropping more never lengthens a prompt, so a
    /// binary search gives the same answer as dropping one part at a time until the prompt fits.
    /// </summary>
    /// <param name="render">Renders the prompt with the given number of the oldest droppable parts left out.</param>
    /// <param name="maxDrops">How many parts may be dropped at most.</param>
    /// <param name="countTokens">Counts a prompt's tokens.</param>
    /// <param name="maxTokens">The budget.</param>
    public static string FewestDrops(Func<int, string> render, int maxDrops, Func<string, int> countTokens, int maxTokens)
    {
        string whole = render(0);
        if (maxDrops == 0 || countTokens(whole) <= maxTokens)
        {
            return whole;
        }

        // Invariant: dropping 'low' parts does not fit; dropping 'high' parts fits, or high == maxDrops.
        int low = 0;
        int high = maxDrops;
        string? best = null;
        while (high - low > 1)
        {
            int middle = low + ((high - low) / 2);
            string candidate = render(middle);
            if (countTokens(candidate) <= maxTokens)
            {
                high = middle;
                best = candidate;
            }
            else
            {
                low = middle;
            }
        }

        return best ?? render(high);
    }
}
