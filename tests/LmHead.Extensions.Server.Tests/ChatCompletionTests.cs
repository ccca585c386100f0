using System.Text;
using LmHead.Extensions.Decoding;
using LmHead.Extensions.Generation;
using LmHead.Extensions.SemanticKernel.Services;
using OpenAI.Chat;
using MeaiChatFinishReason = Microsoft.Extensions.AI.ChatFinishReason;

namespace LmHead.Extensions.Server.Tests;

/// <summary><c>/v1/chat/completions</c> through the official OpenAI .NET SDK, against the chat client called directly.</summary>
[TestClass]
public sealed class ChatCompletionTests
{
    private const string Question = "Good morrow, what news?";

    private static async Task<ChatClient> ChatAsync() => (await ServerFixture.ServerAsync()).CreateClient().GetChatClient(ServerFixture.ModelId);

    private static GenerationOptions Options(int seed, int maxTokens, float temperature = 1.2f) =>
        new() { MaxNewTokens = maxTokens, Decoding = DecodingOptions.Default with { Seed = (ulong)seed, Temperature = temperature } };

    [TestMethod]
    public async Task ReplyEqualsTheChatClientsWithItsFinishReasonAndUsage()
    {
        var chat = await ChatAsync();
        var expected = await ServerFixture.ExpectedChatAsync(Question, Options(7, 12));

        ChatCompletion completion = await chat.CompleteChatAsync(
            [new UserChatMessage(Question)], new ChatCompletionOptions { Seed = 7, MaxOutputTokenCount = 12, Temperature = 1.2f });

        Assert.AreEqual(expected.Text, completion.Content[0].Text);
        Assert.AreEqual(expected.FinishReason == MeaiChatFinishReason.Length ? ChatFinishReason.Length : ChatFinishReason.Stop, completion.FinishReason);
        Assert.AreEqual(expected.Usage!.InputTokenCount, completion.Usage.InputTokenCount);
        Assert.AreEqual(expected.Usage.OutputTokenCount, completion.Usage.OutputTokenCount);
        int promptTokens = Tokenization.Gpt2Tokenizer.Default.EncodeToIds(ChatPromptFormat.Render([new(Microsoft.Extensions.AI.ChatRole.User, Question)])).Count;
        Assert.AreEqual(promptTokens, completion.Usage.InputTokenCount);
        Assert.AreEqual(ServerFixture.ModelId, completion.Model);
        StringAssert.StartsWith(completion.Id, "chatcmpl-");
    }

    [TestMethod]
    public async Task StreamedReplyEqualsTheWholeOneAndEndsWithUsage()
    {
        var chat = await ChatAsync();
        var options = new ChatCompletionOptions { Seed = 11, MaxOutputTokenCount = 16, Temperature = 1.2f };
        ChatCompletion whole = await chat.CompleteChatAsync([new UserChatMessage(Question)], options);

        var text = new StringBuilder();
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        int updates = 0;
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage(Question)], options))
        {
            updates++;
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }

            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }

        Assert.AreEqual(whole.Content[0].Text, text.ToString());
        Assert.AreEqual(whole.FinishReason, finish);
        Assert.IsNotNull(usage, "The SDK asks for stream_options.include_usage; the last chunk must carry usage.");
        Assert.AreEqual(whole.Usage.OutputTokenCount, usage.OutputTokenCount);
        Assert.AreEqual(whole.Usage.InputTokenCount, usage.InputTokenCount);
        Assert.IsGreaterThan(2, updates, "The reply must arrive in several chunks.");
    }

    [TestMethod]
    public async Task SameSeedGivesTheSameReplyAndOtherSeedsOtherReplies()
    {
        var chat = await ChatAsync();
        async Task<string> ReplyAsync(long seed) => (await chat.CompleteChatAsync(
            [new UserChatMessage(Question)], new ChatCompletionOptions { Seed = seed, MaxOutputTokenCount = 20, Temperature = 1.5f })).Value.Content[0].Text;

        string first = await ReplyAsync(3);
        Assert.AreEqual(first, await ReplyAsync(3));
        string[] others = [await ReplyAsync(4), await ReplyAsync(5), await ReplyAsync(6)];
        Assert.IsGreaterThan(1, others.Append(first).Distinct().Count(), "Four seeds at T = 1.5 over 20 tokens gave one text: the seed is not applied.");
    }

    [TestMethod]
    public async Task StopSequenceEndsTheReplyBeforeIt()
    {
        var chat = await ChatAsync();
        var options = new ChatCompletionOptions { Seed = 21, MaxOutputTokenCount = 30, Temperature = 1.2f };
        string full = (await chat.CompleteChatAsync([new UserChatMessage(Question)], options)).Value.Content[0].Text;
        Assert.IsGreaterThan(10, full.Length, $"The unstopped reply is too short to pick a stop from: '{full}'.");
        string stop = full.Substring(6, 3);

        options.StopSequences.Add(stop);
        ChatCompletion stopped = await chat.CompleteChatAsync([new UserChatMessage(Question)], options);

        Assert.AreEqual(full[..full.IndexOf(stop, StringComparison.Ordinal)].TrimEnd(), stopped.Content[0].Text.TrimEnd());
        Assert.AreEqual(ChatFinishReason.Stop, stopped.FinishReason);
    }

    [TestMethod]
    public async Task MaxTokensEndsWithLength()
    {
        var chat = await ChatAsync();
        ChatCompletion completion = await chat.CompleteChatAsync(
            [new UserChatMessage(Question)], new ChatCompletionOptions { Seed = 2, MaxOutputTokenCount = 5, Temperature = 1.2f, StopSequences = { "\u0001" } });

        Assert.AreEqual(ChatFinishReason.Length, completion.FinishReason);
        Assert.AreEqual(5, completion.Usage.OutputTokenCount);
    }

    [TestMethod]
    public async Task LogProbabilitiesEqualTheChatClients()
    {
        var chat = await ChatAsync();
        var expected = await ServerFixture.ExpectedChatAsync(Question, Options(9, 6) with { TopLogProbabilities = 3 });
        var expectedTokens = (IReadOnlyList<TokenLogProbability>)expected.AdditionalProperties![LmHeadMetadataKeys.LogProbabilities]!;

        ChatCompletion completion = await chat.CompleteChatAsync([new UserChatMessage(Question)], new ChatCompletionOptions
        {
            Seed = 9, MaxOutputTokenCount = 6, Temperature = 1.2f, IncludeLogProbabilities = true, TopLogProbabilityCount = 3,
        });

        var tokens = completion.ContentTokenLogProbabilities;
        Assert.HasCount(expectedTokens.Count, tokens);
        for (int i = 0; i < tokens.Count; i++)
        {
            Assert.AreEqual(expectedTokens[i].Text, tokens[i].Token);
            Assert.AreEqual(expectedTokens[i].LogProbability, tokens[i].LogProbability, 1e-6);
            CollectionAssert.AreEqual(Encoding.UTF8.GetBytes(expectedTokens[i].Text), tokens[i].Utf8Bytes!.Value.ToArray());
            Assert.HasCount(3, tokens[i].TopLogProbabilities);
            string[] expectedTop = [.. expectedTokens[i].TopAlternatives.Select(a => a.Text)];
            string[] top = [.. tokens[i].TopLogProbabilities.Select(a => a.Token)];
            CollectionAssert.AreEqual(expectedTop, top);
        }
    }
}
