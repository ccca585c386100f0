using System.Text.Json.Serialization;

namespace LmHead.Extensions.Generation;

/// <summary>
/// What a request does when its tokens do not fit the model's context window (<c>n_positions</c>):
/// <see cref="GenerationOptions.ContextOverflow"/>, JSON <c>"context_overflow"</c>.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<ContextOverflow>))]
public enum ContextOverflow
{
    /// <summary>
    /// A prompt longer than the context is an error (<see cref="ArgumentException"/>), and generation ends with
    /// <see cref="FinishReason.Length"/> when the context is full. JSON <c>"error"</c>. The default of
    /// <see cref="GenerationOptions"/>: nothing is dropped without the caller asking.
    /// </summary>
    [JsonStringEnumMemberName("error")]
    Error,

    /// <summary>
    /// The request fits itself to the window: a prompt longer than three quarters of the context keeps its last
    /// <c>n_positions − n_positions / 4</c> tokens (a chat drops its oldest turns first, keeping the system turns), and
    /// when the context fills during generation the last <c>n_positions / 2</c> tokens are encoded again as a fresh
    /// context and generation goes on, so it runs until <see cref="GenerationOptions.MaxNewTokens"/>, a stop sequence or
    /// the end of text. GPT-2's positions are absolute, so the window is re-encoded rather than its cache shifted: one
    /// prompt pass of <c>n_positions / 2</c> tokens every <c>n_positions / 2</c> generated tokens. JSON <c>"sliding_window"</c>.
    /// The chat client's default.
    /// </summary>
    [JsonStringEnumMemberName("sliding_window")]
    SlidingWindow,
}
