using LmHead.Extensions.Generation;
using LmHead.Extensions.SemanticKernel.Services;
using LmHead.Extensions.Tokenization;
using Microsoft.Extensions.AI;

namespace LmHead.Extensions.SemanticKernel.Tests.Services;

/// <summary>
/// A chat keeps working past the model's context: by default the chat client drops the oldest non-system turns so the
/// rendered prompt fits three quarters of the context, and generation slides; "context_overflow": "error" restores the
/// strict behaviour.
/// </summary>
[TestClass]
public sealed class ChatContextTests
{
    private static int Count(string text) => Gpt2Tokenizer.Default.CountTokens(text);

    [TestMethod]
    public void RenderWithinDropsTheOldestTurnsFirstAndKeepsSystemTurnsAndTheLastMessage()
    {
        List<ChatMessage> messages =
        [
            new(ChatRole.System, "You are a player in a play."),
            .. Enumerable.Range(1, 12).SelectMany(i => new[]
            {
                new ChatMessage(ChatRole.User, $"Question number {i}: who is there, and why?"),
                new ChatMessage(ChatRole.Assistant, $"Answer number {i}: nobody, my lord."),
            }),
            new(ChatRole.User, "Last question: where is Juliet?"),
        ];
        string full = ChatPromptFormat.Render(messages, "Be brief.");
        int budget = Count(full) / 3;

        string fitted = ChatPromptFormat.RenderWithin(messages, "Be brief.", Count, budget);

        Assert.IsLessThanOrEqualTo(budget, Count(fitted));
        Assert.StartsWith("System: Be brief.\nSystem: You are a player in a play.\n", fitted, "System turns stay, in order.");
        Assert.EndsWith("User: Last question: where is Juliet?\nAssistant:", fitted, "The last message stays.");
        Assert.EndsWith(fitted[fitted.IndexOf("\nUser:", StringComparison.Ordinal)..], full, "What is kept is the conversation's most recent end.");
        Assert.DoesNotContain("number 1:", fitted, "The oldest turns went first.");

        // One more token of budget than the kept prompt has: nothing more is dropped than needed.
        string roomier = ChatPromptFormat.RenderWithin(messages, "Be brief.", Count, Count(full));
        Assert.AreEqual(full, roomier);
    }

    [TestMethod]
    public void RenderWithinKeepsWhatDroppingOneTurnAtATimeKeepsAtEveryBudget()
    {
        // Independent computation: the plain rule (drop the oldest non-system turn that is not the last, re-render,
        // re-count, until it fits or nothing can go), written here with the public Render.
        List<ChatMessage> messages =
        [
            new(ChatRole.User, "Hello there, how are you?"),
            new(ChatRole.System, "Speak in verse."),
            .. Enumerable.Range(1, 9).SelectMany(i => new[]
            {
                new ChatMessage(ChatRole.Assistant, $"Reply {i}: " + string.Concat(Enumerable.Repeat("la ", i))),
                new ChatMessage(ChatRole.User, $"Again {i}?"),
            }),
        ];
        int fullCount = Count(ChatPromptFormat.Render(messages, "Be brief."));
        for (int budget = 0; budget <= fullCount + 1; budget++)
        {
            var kept = new List<ChatMessage>(messages);
            while (Count(ChatPromptFormat.Render(kept, "Be brief.")) > budget
                && kept.FindIndex(m => m.Role != ChatRole.System) is var oldest && oldest >= 0 && oldest < kept.Count - 1)
            {
                kept.RemoveAt(oldest);
            }

            Assert.AreEqual(ChatPromptFormat.Render(kept, "Be brief."), ChatPromptFormat.RenderWithin(messages, "Be brief.", Count, budget), $"budget {budget}");
        }
    }

    [TestMethod]
    public void RenderWithinCountsTokensALogarithmicNumberOfTimesForALongChat()
    {
        // 2,000 turns: dropping one turn at a time re-rendered and re-counted the whole chat ~2,000 times.
        List<ChatMessage> messages = [.. Enumerable.Range(0, 2_000).Select(i => new ChatMessage(i % 2 == 0 ? ChatRole.User : ChatRole.Assistant, $"turn {i} of a long chat"))];
        int calls = 0;
        int Counting(string text)
        {
            calls++;
            return Count(text);
        }

        string fitted = ChatPromptFormat.RenderWithin(messages, null, Counting, 100);

        Assert.IsLessThanOrEqualTo(100, Count(fitted));
        Assert.IsGreaterThan(100, Count(ChatPromptFormat.Render(messages.Skip(messages.Count - fitted.Split('\n').Length).ToList())), "Nothing more was dropped than needed.");
        Assert.IsLessThanOrEqualTo(13, calls, $"{calls} token counts for 2,000 droppable turns; a binary search needs 1 + ceil(log2 2000) = 12.");
    }

    [TestMethod]
    public void RenderWithinReturnsTheKeptTurnsWhenEvenTheyDoNotFit()
    {
        List<ChatMessage> messages = [new(ChatRole.User, "one two three"), new(ChatRole.User, "four five six seven eight nine ten")];
        string fitted = ChatPromptFormat.RenderWithin(messages, null, Count, 2);
        Assert.AreEqual("User: four five six seven eight nine ten\nAssistant:", fitted);
    }

    [TestMethod]
    public async Task ATwentyTurnChatRunsPastTheContextByDefault()
    {
        using var client = new LmHeadChatClient(TinyModels.GeneratorA, "tiny");
        var conversation = new List<ChatMessage> { new(ChatRole.System, "You are terse.") };
        for (int turn = 1; turn <= 20; turn++)
        {
            conversation.Add(new ChatMessage(ChatRole.User, $"Turn {turn}: tell me something about the moon and the stars, please."));
            var reply = await client.GetResponseAsync(conversation, new ChatOptions { MaxOutputTokens = 24, Seed = turn });
            Assert.IsNotNull(reply.FinishReason, $"turn {turn}");
            conversation.Add(new ChatMessage(ChatRole.Assistant, reply.Text));
        }

        int context = TinyModels.Config().MaxPositions;
        Assert.IsGreaterThan(context, Count(ChatPromptFormat.Render(conversation)), "The conversation outgrew the context, so turns were dropped.");
    }

    [TestMethod]
    public async Task TheErrorPolicyRefusesAConversationLongerThanTheContext()
    {
        using var client = new LmHeadChatClient(TinyModels.GeneratorA, "tiny");
        var conversation = Enumerable.Range(0, 40).Select(i => new ChatMessage(ChatRole.User, $"Line {i} of a very long conversation about nothing much.")).ToList();
        var options = new ChatOptions { MaxOutputTokens = 4, AdditionalProperties = new() { ["context_overflow"] = "error" } };

        var ex = await Assert.ThrowsExactlyAsync<ArgumentException>(() => client.GetResponseAsync(conversation, options));
        StringAssert.Contains(ex.Message, "context_overflow");
    }
}
