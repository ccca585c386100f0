namespace LmHead.Extensions.Tokenization;

/// <summary>
/// Hugging Face's <c>Digits</c> pre-tokenizer: numeric characters are split from the rest, each on its own
/// (<c>individual_digits</c>) or as runs.
/// </summary>
internal sealed class DigitsSplitStep(bool individualDigits) : PreTokenizerStep
{
    /// <inheritdoc/>
    public override void Split(string text, int start, int length, List<(int Offset, int Length)> pieces)
    {
        int end = start + length, runStart = start;
        for (int i = start; i < end; i++)
        {
            bool digit = char.IsNumber(text[i]);
            bool boundary = i > runStart && (digit != char.IsNumber(text[i - 1]) || (digit && individualDigits));
            if (boundary)
            {
                pieces.Add((runStart, i - runStart));
                runStart = i;
            }
        }

        if (end > runStart)
        {
            pieces.Add((runStart, end - runStart));
        }
    }
}
