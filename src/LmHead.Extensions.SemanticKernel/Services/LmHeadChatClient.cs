using System.Runtime.CompilerServices;
using System.Text;
using LmHead.Extensions.Chat;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.Decoding.Grammar;
using LmHead.Extensions.Generation;
using LmHead.Extensions.SemanticKernel.Settings;
using Microsoft.Extensions.AI;

namespace LmHead.Extensions.SemanticKernel.Services;

/// <summary>
/// A Microsoft.Extensions.AI <see cref="IChatClient"/> on a local GPT-2 base model: the conversation is rendered with
/// <see cref="ChatPromptFormat"/>, the reply streams as <see cref="ChatResponseUpdate"/>s, and the last update carries
/// the <see cref="ChatFinishReason"/> and a <see cref="UsageContent"/>. Use it in Semantic Kernel through
/// <c>AsChatCompletionService()</c>, or register it with <c>AddLmHeadChatClient</c>.
/// </summary>
/// <remarks>
/// <para>
/// <see cref="ChatOptions"/> mapping: <see cref="ChatOptions.Temperature"/>, <see cref="ChatOptions.TopK"/> (0 keeps
/// all tokens), <see cref="ChatOptions.MaxOutputTokens"/>, <see cref="ChatOptions.StopSequences"/> (plus
/// <see cref="ChatPromptFormat.TurnStopSequence"/>; the caller's list is not changed), <see cref="ChatOptions.Seed"/>
/// (≥ 0), <see cref="ChatOptions.Instructions"/>, <see cref="ChatOptions.TopP"/>, <see cref="ChatOptions.FrequencyPenalty"/>,
/// <see cref="ChatOptions.PresencePenalty"/>, and the additional properties <c>logprobs</c>, <c>top_logprobs</c>,
/// <c>min_p</c>, <c>repetition_penalty</c>, <c>logit_bias</c>, <c>allow_special_tokens</c> and <c>response_format</c>.
/// <see cref="ChatOptions.ResponseFormat"/>: JSON and JSON schema (so <c>GetResponseAsync&lt;T&gt;</c>) constrain the reply
/// token by token with a grammar (see docs/structured-output.md). Options the model cannot honour are not ignored:
/// reasoning options, a conversation id, a continuation token, another model id or an
/// unknown additional property throw <see cref="NotSupportedException"/> naming the option.
/// </para>
/// <para>
/// <see cref="ChatOptions.Tools"/> (function tools) with <see cref="ChatOptions.ToolMode"/>: the reply is generated under
/// the grammar of <see cref="ToolCallFormat"/>, so it is always a call of one offered function whose arguments match
/// that function's parameter schema, or (unless the mode requires a call) an answer; a call comes back as a
/// <see cref="FunctionCallContent"/> with <see cref="ChatFinishReason.ToolCalls"/>, ready for
/// <c>UseFunctionInvocation()</c> or Semantic Kernel's function calling. One call per reply; the reply arrives as one update.
/// </para>
/// <para>
/// Message text is user text: the literal text of a special token (GPT-2's <c>&lt;|endoftext|&gt;</c>) in a message
/// encodes as plain text unless the additional property <c>allow_special_tokens</c> is <see langword="true"/>.
/// </para>
/// <para>
/// Finish reasons: a stop sequence, the end-of-text token or the turn marker give <see cref="ChatFinishReason.Stop"/>;
/// a completed grammar also gives <see cref="ChatFinishReason.Stop"/>; the token limit or a full context gives
/// <see cref="ChatFinishReason.Length"/>.
/// </para>
/// </remarks>
public sealed class LmHeadChatClient : IChatClient
{
    /// <summary>The provider name reported in <see cref="ChatClientMetadata"/>.</summary>
    public const string ProviderName = "lmhead";

    private readonly Lazy<TextGenerator> _generator;
    private readonly ChatClientMetadata _metadata;
    private Lazy<ChatModelMetadata?> _chat = new((ChatModelMetadata?)null);

    /// <summary>Creates a chat client over a generator.</summary>
    /// <param name="generator">The generator; it may be shared with other services.</param>
    /// <param name="modelId">The model id, reported as <see cref="ChatClientMetadata.DefaultModelId"/> and on every response.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="modelId"/> is empty or white space.</exception>
    public LmHeadChatClient(TextGenerator generator, string modelId)
        : this(new Lazy<TextGenerator>(generator ?? throw new ArgumentNullException(nameof(generator))), modelId)
    {
    }

    /// <summary>Creates a client whose generator is created on first use (the model loads lazily).</summary>
    internal LmHeadChatClient(Lazy<TextGenerator> generator, string modelId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelId);
        _generator = generator;
        ModelId = modelId;
        _metadata = new ChatClientMetadata(ProviderName, null, modelId);
    }

    /// <summary>A client over a model folder: its generator and its chat metadata load with the model, on first use.</summary>
    internal static LmHeadChatClient ForFolder(LmHeadModelHandle handle, string modelId, DecodingPipeline? pipeline = null) =>
        new(handle.Generator, modelId) { Pipeline = pipeline, _chat = handle.Chat };

    /// <summary>
    /// The model folder's chat metadata (<see cref="ChatModelMetadata.Load"/>). When it has a chat template, the
    /// conversation is rendered with it (tools passed to it, special tokens in the rendered prompt encoded as such,
    /// generation ending on the folder's end ids rather than on <see cref="ChatPromptFormat.TurnStopSequence"/>)
    /// instead of <see cref="ChatPromptFormat"/>. Null (the default for a client made from a generator) keeps
    /// <see cref="ChatPromptFormat"/>; clients registered from a folder read it from the folder.
    /// </summary>
    public ChatModelMetadata? ChatMetadata
    {
        get => _chat.Value;
        init => _chat = new Lazy<ChatModelMetadata?>(value);
    }

    /// <summary>The model id.</summary>
    public string ModelId { get; }

    /// <summary>Generates the assistant's reply to a conversation.</summary>
    /// <param name="messages">The conversation.</param>
    /// <param name="options">The options, or <see langword="null"/> for the defaults.</param>
    /// <param name="cancellationToken">Checked before every token.</param>
    /// <returns>
    /// The reply with its finish reason and usage; when log-probabilities were requested, they are in
    /// <see cref="ChatResponse.AdditionalProperties"/> under <see cref="LmHeadMetadataKeys.LogProbabilities"/>.
    /// </returns>
    /// <exception cref="ArgumentNullException"><paramref name="messages"/> is null.</exception>
    /// <exception cref="ArgumentException">A message or content item is null (the message names its index), or an option value is out of range (the message names it).</exception>
    /// <exception cref="NotSupportedException">An option or message content the model cannot honour was given.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled.</exception>
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var text = new StringBuilder();
        var calls = new List<AIContent>();
        var logProbabilities = new List<TokenLogProbability>();
        ChatResponseUpdate? last = null;
        UsageDetails? usage = null;
        await foreach (var update in GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false))
        {
            text.Append(update.Text);
            calls.AddRange(update.Contents.OfType<FunctionCallContent>());
            if (update.AdditionalProperties?.TryGetValue(LmHeadMetadataKeys.LogProbabilities, out var value) == true
                && value is IReadOnlyList<TokenLogProbability> tokens)
            {
                logProbabilities.AddRange(tokens);
            }

            usage ??= update.Contents.OfType<UsageContent>().FirstOrDefault()?.Details;
            last = update;
        }

        var message = calls.Count == 0 ? new ChatMessage(ChatRole.Assistant, text.ToString()) : new ChatMessage(ChatRole.Assistant, calls);
        message.MessageId = last?.MessageId;
        var response = new ChatResponse(message)
        {
            ResponseId = last?.ResponseId,
            ModelId = ModelId,
            CreatedAt = last?.CreatedAt,
            FinishReason = last?.FinishReason,
            Usage = usage,
        };
        if (last?.AdditionalProperties?.ContainsKey(LmHeadMetadataKeys.LogProbabilities) == true)
        {
            response.AdditionalProperties = new() { [LmHeadMetadataKeys.LogProbabilities] = logProbabilities };
        }

        return response;
    }

    /// <summary>Generates the assistant's reply to a conversation as a stream of updates.</summary>
    /// <param name="messages">The conversation.</param>
    /// <param name="options">The options, or <see langword="null"/> for the defaults.</param>
    /// <param name="cancellationToken">Checked before every token.</param>
    /// <returns>
    /// The updates, each with the model id and response id; the last one carries the finish reason and a
    /// <see cref="UsageContent"/>. When log-probabilities were requested, every update has its tokens' ones in
    /// <see cref="ChatResponseUpdate.AdditionalProperties"/> under <see cref="LmHeadMetadataKeys.LogProbabilities"/>.
    /// </returns>
    /// <exception cref="ArgumentNullException"><paramref name="messages"/> is null.</exception>
    /// <exception cref="ArgumentException">A message or content item is null (the message names its index), or an option value is out of range (the message names it).</exception>
    /// <exception cref="NotSupportedException">An option or message content the model cannot honour was given.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled.</exception>
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var generationOptions = LmHeadPromptExecutionSettings.WithPipeline(ToGenerationOptions(options), Pipeline);
        var functions = ToolCallFormat.OfferedFunctions(options?.Tools, options?.ToolMode);
        string? instructions = options?.Instructions;
        if (functions.Count > 0)
        {
            // Tools: the reply is one JSON object in ToolCallFormat's shape, enforced token by token by the grammar.
            if (generationOptions.OutputConstraint is not null)
            {
                throw new NotSupportedException("ChatOptions.Tools and ChatOptions.ResponseFormat cannot be combined: with tools the reply's shape is the tool-call format.");
            }

            generationOptions = generationOptions with
            {
                OutputConstraint = OutputConstraint.JsonSchema(ToolCallFormat.ReplySchema(functions, options?.ToolMode is RequiredChatToolMode)),
            };
        }

        var generator = _generator.Value;
        var chat = _chat.Value;
        var template = chat?.SelectTemplate(functions.Count > 0);
        if (functions.Count > 0)
        {
            // A template with a tool section lists the tools its own way; the reply shape is stated either way.
            bool templateListsTools = template?.Source.Contains("tools", StringComparison.Ordinal) == true;
            string toolText = ToolCallFormat.Instructions(functions, options?.ToolMode is RequiredChatToolMode, listTools: !templateListsTools);
            instructions = string.IsNullOrEmpty(instructions) ? toolText : instructions + "\n" + toolText;
        }

        if (template is not null)
        {
            // The rendered template writes its special tokens (<|im_start|>, ...) out; they must encode as such, as
            // Hugging Face's apply_chat_template + encode does.
            generationOptions = generationOptions with { AllowSpecialTokensInPrompt = true, WithoutPromptPrefix = true };
        }

        int budget = generator.ContextLength - (generator.ContextLength / 4);
        Func<string, int>? countTokens = generationOptions.ContextOverflow == ContextOverflow.SlidingWindow
            ? text => generator.CountPromptTokens(text, generationOptions.AllowSpecialTokensInPrompt, !generationOptions.WithoutPromptPrefix)
            : null;

        // With tools, a template with a tool section also lists them its own way; the reply's shape is ToolCallFormat's
        // for every model (the instructions above say so and the grammar enforces it).
        string prompt = template is not null
            ? ChatTemplatePrompt.Render(template, chat!, messages, instructions, functions.Count > 0 ? options!.Tools : null, countTokens, budget)
            : countTokens is not null
                ? ChatPromptFormat.RenderWithin(messages, instructions, countTokens, budget)
                : ChatPromptFormat.Render(messages, instructions);
        string responseId = Guid.NewGuid().ToString("N");
        var createdAt = DateTimeOffset.UtcNow;

        // With the base-model format the prompt ends with "Assistant:"; the reply's separating white space is format,
        // not content, so it is dropped before the caller's stop sequences are matched (with stop = ["\n\n"], a reply
        // starting "\n\nYes" is "Yes...", not empty). The generator keeps only the turn marker; this client matches
        // the caller's sequences itself. A chat template ends with the assistant header: nothing to drop, and the
        // folder's end ids end the turn.
        bool started = template is not null;
        var callerStops = generationOptions.StopSequences.Where(s => s != ChatPromptFormat.TurnStopSequence).ToArray();
        var stops = new StopSequenceMatcher(callerStops);
        generationOptions = generationOptions with { StopSequences = template is null ? [ChatPromptFormat.TurnStopSequence] : [] };
        if (functions.Count > 0)
        {
            yield return await ToolReplyAsync(generator, prompt, generationOptions, responseId, createdAt, cancellationToken).ConfigureAwait(false);
            yield break;
        }

        await foreach (var chunk in generator.GenerateStreamingAsync(prompt, generationOptions, cancellationToken).ConfigureAwait(false))
        {
            string text = chunk.Text;
            if (!started)
            {
                text = text.TrimStart();
                started = text.Length > 0;
            }

            text = stops.Push(text);
            var finishReason = stops.Stopped ? FinishReason.StopSequence : chunk.FinishReason;
            if (chunk.FinishReason is not null && !stops.Stopped)
            {
                // The generation ended: release what was held back as a possible start of a stop sequence.
                text += stops.Flush();
            }

            bool final = finishReason is not null;
            if (!final && text.Length == 0 && chunk.LogProbabilities.Count == 0)
            {
                continue;
            }

            var update = new ChatResponseUpdate(ChatRole.Assistant, text)
            {
                ResponseId = responseId,
                MessageId = responseId,
                ModelId = ModelId,
                CreatedAt = createdAt,
            };
            if (generationOptions.IncludeLogProbabilities)
            {
                update.AdditionalProperties = new() { [LmHeadMetadataKeys.LogProbabilities] = chunk.LogProbabilities };
            }

            if (finishReason is { } finish)
            {
                update.FinishReason = finish == FinishReason.Length ? ChatFinishReason.Length : ChatFinishReason.Stop;
                update.Contents.Add(new UsageContent(new UsageDetails
                {
                    InputTokenCount = chunk.PromptTokenCount,
                    OutputTokenCount = chunk.CompletionTokenCount,
                    TotalTokenCount = chunk.PromptTokenCount + chunk.CompletionTokenCount,
                }));
            }

            yield return update;
            if (final)
            {
                // A caller's stop sequence ended the reply: leaving the loop disposes the stream, which ends the generation.
                yield break;
            }
        }
    }

    /// <summary>
    /// Generates a reply under the tool-call grammar and returns it as one update: a <see cref="FunctionCallContent"/>
    /// (finish reason <see cref="ChatFinishReason.ToolCalls"/>) or the answer's text; a reply cut off by the token limit
    /// is returned as its raw text with <see cref="ChatFinishReason.Length"/>.
    /// </summary>
    private async Task<ChatResponseUpdate> ToolReplyAsync(
        TextGenerator generator, string prompt, GenerationOptions options, string responseId, DateTimeOffset createdAt, CancellationToken cancellationToken)
    {
        var result = await generator.GenerateAsync(prompt, options, cancellationToken).ConfigureAwait(false);
        var update = new ChatResponseUpdate { Role = ChatRole.Assistant, ResponseId = responseId, MessageId = responseId, ModelId = ModelId, CreatedAt = createdAt };
        if (result.FinishReason == FinishReason.Length)
        {
            update.Contents.Add(new TextContent(result.Text));
            update.FinishReason = ChatFinishReason.Length;
        }
        else
        {
            var content = ToolCallFormat.ParseReply(result.Text, "call_" + Guid.NewGuid().ToString("N")[..24]);
            update.Contents.Add(content);
            update.FinishReason = content is FunctionCallContent ? ChatFinishReason.ToolCalls : ChatFinishReason.Stop;
        }

        update.Contents.Add(new UsageContent(new UsageDetails
        {
            InputTokenCount = result.PromptTokenCount,
            OutputTokenCount = result.CompletionTokenCount,
            TotalTokenCount = result.PromptTokenCount + result.CompletionTokenCount,
        }));
        return update;
    }

    /// <summary>Returns this client, its <see cref="ChatClientMetadata"/> or its <see cref="TextGenerator"/> when asked for them without a key.</summary>
    /// <param name="serviceType">The type of service asked for.</param>
    /// <param name="serviceKey">A key; this client offers no keyed services.</param>
    /// <returns>The service, or <see langword="null"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="serviceType"/> is null.</exception>
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null)
        {
            return null;
        }

        if (serviceType == typeof(ChatClientMetadata))
        {
            return _metadata;
        }

        if (serviceType == typeof(TextGenerator))
        {
            return _generator.Value;
        }

        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>Does nothing: the generator and model belong to whoever created them.</summary>
    public void Dispose()
    {
    }

    /// <summary>Whether <see cref="LmHeadSettingNames.HarmlessOpenAiSettings"/> in additional properties or Semantic Kernel settings are skipped instead of rejected.</summary>
    public bool IgnoreHarmlessOpenAiSettings { get; init; }

    /// <summary>
    /// A fixed decoding pipeline that decides every token (for example an ML.NET chain's, from <c>ToDecodingPipeline()</c>),
    /// or <see langword="null"/> to build one per request from the <see cref="ChatOptions"/>; with a pipeline, a decoding
    /// option in the request is an error.
    /// </summary>
    public DecodingPipeline? Pipeline { get; init; }

    // A chat keeps working past the model's context: the oldest turns are dropped and generation slides (the
    // request's "context_overflow" additional property overrides it).
    private static readonly GenerationOptions ChatDefaults = new() { ContextOverflow = ContextOverflow.SlidingWindow };

    private GenerationOptions ToGenerationOptions(ChatOptions? options)
    {
        string[] turnStop = [ChatPromptFormat.TurnStopSequence];
        if (options is null)
        {
            return new LmHeadPromptExecutionSettings(ChatDefaults).ToGenerationOptions(turnStop);
        }

        RejectUnsupported(options);
        if (options.Seed is < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Seed, $"ChatOptions.Seed (seed) must be 0 or more, but was {options.Seed}.");
        }

        // ChatOptions maps straight onto the one options record; a null property keeps the default.
        var decoding = DecodingOptions.Default;
        decoding = decoding with
        {
            Temperature = options.Temperature ?? decoding.Temperature,
            TopK = options.TopK ?? decoding.TopK,
            TopP = options.TopP ?? decoding.TopP,
            FrequencyPenalty = options.FrequencyPenalty ?? decoding.FrequencyPenalty,
            PresencePenalty = options.PresencePenalty ?? decoding.PresencePenalty,
            Seed = options.Seed is { } seed ? (ulong)seed : decoding.Seed,
        };
        var generation = ChatDefaults with { Decoding = decoding, OutputConstraint = ToOutputConstraint(options.ResponseFormat) };
        generation = generation with
        {
            MaxNewTokens = options.MaxOutputTokens ?? generation.MaxNewTokens,
            StopSequences = options.StopSequences is null ? generation.StopSequences : [.. options.StopSequences],
        };
        if (options.AdditionalProperties is { Count: > 0 } additional)
        {
            foreach (string key in additional.Keys)
            {
                bool harmless = IgnoreHarmlessOpenAiSettings && LmHeadSettingNames.HarmlessOpenAiSettings.Contains(key, StringComparer.OrdinalIgnoreCase);
                if (!harmless && !LmHeadSettingNames.All.Contains(key, StringComparer.OrdinalIgnoreCase))
                {
                    throw new NotSupportedException(
                        $"The LmHead chat client does not support the additional property '{key}' (supported: {string.Join(", ", LmHeadSettingNames.All)}).");
                }
            }

            generation = LmHeadPromptExecutionSettings.Read(additional, generation, IgnoreHarmlessOpenAiSettings);
        }

        return new LmHeadPromptExecutionSettings(generation).ToGenerationOptions(turnStop);
    }

    /// <summary>
    /// <see cref="ChatResponseFormat.Json"/> constrains the reply to any JSON, <see cref="ChatResponseFormat.ForJsonSchema(System.Text.Json.JsonElement, string?, string?)"/>
    /// (and so <c>GetResponseAsync&lt;T&gt;</c>) to JSON valid against the schema; text leaves it free.
    /// </summary>
    private static Decoding.Grammar.OutputConstraint? ToOutputConstraint(ChatResponseFormat? format) => format switch
    {
        ChatResponseFormatJson { Schema: { } schema } => Decoding.Grammar.OutputConstraint.JsonSchema(schema.GetRawText()),
        ChatResponseFormatJson => Decoding.Grammar.OutputConstraint.Json(),
        _ => null,
    };

    private void RejectUnsupported(ChatOptions options)
    {
        static NotSupportedException Unsupported(string option) =>
            new($"The LmHead chat client does not support ChatOptions.{option} yet; leave it unset.");

        if (options.Reasoning is not null)
        {
            throw Unsupported(nameof(ChatOptions.Reasoning));
        }

        if (options.ConversationId is not null)
        {
            throw Unsupported(nameof(ChatOptions.ConversationId));
        }

        if (options.ContinuationToken is not null)
        {
            throw Unsupported(nameof(ChatOptions.ContinuationToken));
        }

        if (options.ModelId is { } modelId && !string.Equals(modelId, ModelId, StringComparison.Ordinal))
        {
            throw new NotSupportedException($"ChatOptions.ModelId is '{modelId}', but this LmHead chat client serves '{ModelId}'.");
        }
    }
}
