using System.Text;
using Microsoft.ML.Tokenizers;

namespace LmHead.Extensions.Tokenization;

/// <summary>Hugging Face's <c>NFC</c>/<c>NFKC</c>/<c>NFD</c>/<c>NFKD</c> normalizers (Qwen2's files use NFC), applied in order.</summary>
internal sealed class UnicodeFormNormalizer(IReadOnlyList<NormalizationForm> forms) : Normalizer
{
    /// <inheritdoc/>
    public override string Normalize(string original)
    {
        string text = original ?? string.Empty;
        foreach (var form in forms)
        {
            text = text.Normalize(form);
        }

        return text;
    }

    /// <inheritdoc/>
    public override string Normalize(ReadOnlySpan<char> original) => Normalize(original.ToString());
}
