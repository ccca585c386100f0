using System.Text.Json.Serialization;
using LmHead.Extensions.Generation;

namespace LmHead.Extensions.SemanticKernel.Settings;

/// <content>The sampling controls beyond temperature and top-k: top-p, min-p, penalties and logit bias.</content>
public sealed partial class LmHeadPromptExecutionSettings
{
    /// <summary>OpenAI's logit-bias convention: a bias at or below this bans the token.</summary>
    public const float BanThreshold = -100f;

    private float? _topP;
    private float? _minP;
    private float? _repetitionPenalty;
    private float? _frequencyPenalty;
    private float? _presencePenalty;
    private IDictionary<int, float>? _logitBias;

    /// <summary>Nucleus sampling: keep the smallest set of tokens with mass ≥ p, in (0, 1] (<c>top_p</c>; default off).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside (0, 1].</exception>
    /// <exception cref="InvalidOperationException">The settings are frozen.</exception>
    [JsonPropertyName(LmHeadSettingNames.TopP)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? TopP
    {
        get => _topP;
        set => _topP = Checked(value, LmHeadSettingNames.TopP, v => _ = new GenerationOptions { TopP = v });
    }

    /// <summary>Min-p: keep tokens with probability ≥ min_p × the top one, in [0, 1] (<c>min_p</c>; default off).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside [0, 1].</exception>
    /// <exception cref="InvalidOperationException">The settings are frozen.</exception>
    [JsonPropertyName(LmHeadSettingNames.MinP)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? MinP
    {
        get => _minP;
        set => _minP = Checked(value, LmHeadSettingNames.MinP, v => _ = new GenerationOptions { MinP = v });
    }

    /// <summary>Hugging Face's repetition penalty over prompt and output, &gt; 0; 1 is off (<c>repetition_penalty</c>).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a finite number &gt; 0.</exception>
    /// <exception cref="InvalidOperationException">The settings are frozen.</exception>
    [JsonPropertyName(LmHeadSettingNames.RepetitionPenalty)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? RepetitionPenalty
    {
        get => _repetitionPenalty;
        set => _repetitionPenalty = Checked(value, LmHeadSettingNames.RepetitionPenalty, v => _ = new GenerationOptions { RepetitionPenalty = v });
    }

    /// <summary>OpenAI's frequency penalty over generated tokens, finite (<c>frequency_penalty</c>; default 0).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is NaN or infinite.</exception>
    /// <exception cref="InvalidOperationException">The settings are frozen.</exception>
    [JsonPropertyName(LmHeadSettingNames.FrequencyPenalty)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? FrequencyPenalty
    {
        get => _frequencyPenalty;
        set => _frequencyPenalty = Checked(value, LmHeadSettingNames.FrequencyPenalty, v => _ = new GenerationOptions { FrequencyPenalty = v ?? 0 });
    }

    /// <summary>OpenAI's presence penalty over generated tokens, finite (<c>presence_penalty</c>; default 0).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is NaN or infinite.</exception>
    /// <exception cref="InvalidOperationException">The settings are frozen.</exception>
    [JsonPropertyName(LmHeadSettingNames.PresencePenalty)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? PresencePenalty
    {
        get => _presencePenalty;
        set => _presencePenalty = Checked(value, LmHeadSettingNames.PresencePenalty, v => _ = new GenerationOptions { PresencePenalty = v ?? 0 });
    }

    /// <summary>
    /// Token id → additive logit bias (<c>logit_bias</c>). As in OpenAI's API, a bias of -100 or less bans the token.
    /// The settings keep their own copy of the map.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A token id is negative or a bias is NaN or +infinity.</exception>
    /// <exception cref="InvalidOperationException">The settings are frozen.</exception>
    [JsonPropertyName(LmHeadSettingNames.LogitBias)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IDictionary<int, float>? LogitBias
    {
        get => _logitBias;
        set
        {
            ThrowIfFrozen();
            if (value is not null)
            {
                Validate(LmHeadSettingNames.LogitBias, () => _ = new GenerationOptions { LogitBias = BansFromOpenAi(value) });
            }

            _logitBias = value is null ? null : new Dictionary<int, float>(value);
        }
    }

    private static Dictionary<int, float> BansFromOpenAi(IDictionary<int, float> bias) =>
        bias.ToDictionary(p => p.Key, p => p.Value <= BanThreshold ? float.NegativeInfinity : p.Value);

    private T Checked<T>(T value, string setting, Action<T> validate)
    {
        ThrowIfFrozen();
        if (value is not null)
        {
            Validate(setting, () => validate(value));
        }

        return value;
    }

    private static void Validate(string setting, Action validate)
    {
        try
        {
            validate();
        }
        catch (ArgumentOutOfRangeException ex)
        {
            throw new ArgumentOutOfRangeException(setting, ex.ActualValue, $"The setting '{setting}' is invalid: {ex.Message}");
        }
    }
}
