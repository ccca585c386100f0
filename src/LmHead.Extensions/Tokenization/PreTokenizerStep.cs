namespace LmHead.Extensions.Tokenization;

/// <summary>One step of a Hugging Face pre-tokenizer sequence: splits a piece of text into smaller pieces.</summary>
internal abstract class PreTokenizerStep
{
    /// <summary>Adds the pieces <paramref name="text"/>[<paramref name="start"/>, +<paramref name="length"/>) splits into to <paramref name="pieces"/>.</summary>
    public abstract void Split(string text, int start, int length, List<(int Offset, int Length)> pieces);
}
