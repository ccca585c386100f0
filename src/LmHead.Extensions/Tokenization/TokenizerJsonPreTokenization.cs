using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using LmHead.Extensions.Models;
using Microsoft.ML.Tokenizers;

namespace LmHead.Extensions.Tokenization;

/// <summary>Reads the <c>normalizer</c> and <c>pre_tokenizer</c> sections of a <c>tokenizer.json</c>.</summary>
internal sealed class TokenizerJsonPreTokenization(string filePath)
{
    /// <summary>Whether a <c>ByteLevel</c> pre-tokenizer was read (the vocabulary then spells bytes).</summary>
    public bool ByteLevel { get; private set; }

    /// <summary>The steps read from <c>pre_tokenizer</c>.</summary>
    public List<PreTokenizerStep> Steps { get; } = [];

    /// <summary>Reads <c>normalizer</c>: null, a Unicode normal form, or a sequence of them.</summary>
    public Normalizer? ReadNormalizer(JsonElement normalizer)
    {
        var forms = new List<NormalizationForm>();
        AddNormalizer(normalizer, "normalizer", forms);
        return forms.Count == 0 ? null : new UnicodeFormNormalizer(forms);
    }

    /// <summary>Reads <c>pre_tokenizer</c> into <see cref="Steps"/> and <see cref="ByteLevel"/>.</summary>
    public void ReadPreTokenizer(JsonElement preTokenizer) => AddPreTokenizer(preTokenizer, "pre_tokenizer");

    private void AddNormalizer(JsonElement element, string path, List<NormalizationForm> forms)
    {
        if (element.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            return;
        }

        string type = TypeOf(element, path);
        switch (type)
        {
            case "NFC": forms.Add(NormalizationForm.FormC); break;
            case "NFKC": forms.Add(NormalizationForm.FormKC); break;
            case "NFD": forms.Add(NormalizationForm.FormD); break;
            case "NFKD": forms.Add(NormalizationForm.FormKD); break;
            case "Sequence":
                int i = 0;
                foreach (var inner in ArrayOf(element, "normalizers", path))
                {
                    AddNormalizer(inner, $"{path}.normalizers[{i++}]", forms);
                }

                break;
            default:
                throw Unsupported($"{path}.type", type,
                    "supported normalizers are NFC, NFKC, NFD, NFKD and a Sequence of them (and, in SentencePiece-style files, Prepend and Replace)");
        }
    }

    private void AddPreTokenizer(JsonElement element, string path)
    {
        if (element.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            return;
        }

        string type = TypeOf(element, path);
        switch (type)
        {
            case "Sequence":
                int i = 0;
                foreach (var inner in ArrayOf(element, "pretokenizers", path))
                {
                    AddPreTokenizer(inner, $"{path}.pretokenizers[{i++}]");
                }

                break;
            case "ByteLevel":
                if (Bool(element, "add_prefix_space", path, fallback: false))
                {
                    throw Unsupported($"{path}.add_prefix_space", "true", "only false is supported (GPT-2, Llama 3, Qwen2 and SmolLM2 use false)");
                }

                ByteLevel = true;
                if (Bool(element, "use_regex", path, fallback: true))
                {
                    Steps.Add(new RegexSplitStep(new Regex(RegexSplitStep.Gpt2Pattern, RegexOptions.CultureInvariant), removeMatches: false));
                }

                break;
            case "Split":
                Steps.Add(ReadSplit(element, path));
                break;
            case "Digits":
                Steps.Add(new DigitsSplitStep(Bool(element, "individual_digits", path, fallback: false)));
                break;
            default:
                throw Unsupported($"{path}.type", type, "supported pre-tokenizers are ByteLevel, Split, Digits and a Sequence of them");
        }
    }

    private RegexSplitStep ReadSplit(JsonElement element, string path)
    {
        if (Bool(element, "invert", path, fallback: false))
        {
            throw Unsupported($"{path}.invert", "true", "only false is supported");
        }

        string behavior = element.TryGetProperty("behavior", out var b) && b.ValueKind == JsonValueKind.String ? b.GetString()! : "Isolated";
        if (behavior is not ("Isolated" or "Removed"))
        {
            throw Unsupported($"{path}.behavior", behavior, "supported behaviors are Isolated and Removed");
        }

        if (!element.TryGetProperty("pattern", out var pattern) || pattern.ValueKind != JsonValueKind.Object)
        {
            throw new ModelFormatException(filePath, $"{path}.pattern", $"{path}.pattern must be an object with a \"Regex\" or \"String\" member.");
        }

        string regex;
        if (pattern.TryGetProperty("Regex", out var r) && r.ValueKind == JsonValueKind.String)
        {
            regex = r.GetString()!;
        }
        else if (pattern.TryGetProperty("String", out var s) && s.ValueKind == JsonValueKind.String)
        {
            regex = Regex.Escape(s.GetString()!);
        }
        else
        {
            throw new ModelFormatException(filePath, $"{path}.pattern", $"{path}.pattern must have a string \"Regex\" or \"String\" member.");
        }

        try
        {
            return new RegexSplitStep(new Regex(regex, RegexOptions.CultureInvariant), removeMatches: behavior == "Removed");
        }
        catch (ArgumentException ex)
        {
            throw new ModelFormatException(filePath, $"{path}.pattern.Regex", $"{path}.pattern.Regex '{regex}' is not a regular expression .NET can compile: {ex.Message}", ex);
        }
    }

    private string TypeOf(JsonElement element, string path) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String
            ? type.GetString()!
            : throw new ModelFormatException(filePath, $"{path}.type", $"{path} must be null or an object with a string \"type\".");

    private JsonElement.ArrayEnumerator ArrayOf(JsonElement element, string name, string path) =>
        element.TryGetProperty(name, out var array) && array.ValueKind == JsonValueKind.Array
            ? array.EnumerateArray()
            : throw new ModelFormatException(filePath, $"{path}.{name}", $"{path}.{name} must be an array.");

    private bool Bool(JsonElement element, string name, string path, bool fallback) =>
        !element.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null ? fallback
        : value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.GetBoolean()
        : throw new ModelFormatException(filePath, $"{path}.{name}", $"{path}.{name} must be true or false, but is {value.GetRawText()}.");

    private ModelFormatException Unsupported(string path, string value, string allowed) =>
        new(filePath, path, $"{path} is '{value}', which this library does not support: {allowed}.");
}
