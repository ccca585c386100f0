using LmHead.Extensions.Decoding;
using LmHead.Extensions.SemanticKernel.Services;
using LmHead.Extensions.Tokenization;
using Microsoft.Extensions.AI;
using static TorchSharp.torch;

namespace LmHead.Extensions.SemanticKernel.Tests.Services;

/// <summary>
/// The reply's leading white space (after the prompt's "Assistant:") is dropped before the caller's stop sequences are
/// matched: with stop = ["\n\n"], a model that answers "\n\nYes, my lord.\n\nNo" replies "Yes, my lord.", not "".
/// The model's output is forced by a served pipeline whose stage allows only the scripted token at each step.
/// </summary>
[TestClass]
public sealed class ChatStopAfterLeadingWhitespaceTests
{
    /// <summary>Masks every logit but the script's token for the current step (or end-of-text after the script).</summary>
    private sealed class ScriptStage(IReadOnlyList<int> script) : ITokenHistoryStage
    {
        public Tensor Apply(Tensor logits) => Apply(logits, TokenHistory.Empty);

        public Tensor Apply(Tensor logits, TokenHistory history)
        {
            int step = history.GeneratedTokens.Count;
            int token = step < script.Count ? script[step] : 50256;
            var allowed = full_like(logits, float.NegativeInfinity);
            using var column = allowed.narrow(-1, token, 1);   // [V] or [B, V]
            column.fill_(0f);
            return allowed;
        }
    }

    private static LmHeadChatClient ScriptedClient(string reply) =>
        new(TinyModels.GeneratorA, "scripted")
        {
            Pipeline = new DecodingPipelineBuilder().Use(new ScriptStage(Gpt2Tokenizer.Default.EncodeToIds(reply))).UseGreedy().Build(),
        };

    [TestMethod]
    public async Task AStopSequenceMadeOfWhiteSpaceDoesNotMatchTheRepliesLeadingWhiteSpace()
    {
        using var client = ScriptedClient("\n\nYes, my lord.\n\nNo, my lord.");

        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Art thou there?")], new ChatOptions { StopSequences = ["\n\n"], MaxOutputTokens = 30 });

        Assert.AreEqual("Yes, my lord.", response.Text);
        Assert.AreEqual(ChatFinishReason.Stop, response.FinishReason);
    }

    [TestMethod]
    public async Task StreamingGivesTheSameTextAndNeverLeaksAPartOfTheStopSequence()
    {
        using var client = ScriptedClient(" \n \n\nHark! A word.\n\nMore");
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "Speak.")], new ChatOptions { StopSequences = ["\n\n", "zzz"], MaxOutputTokens = 30 }))
        {
            updates.Add(update);
        }

        Assert.AreEqual("Hark! A word.", string.Concat(updates.Select(u => u.Text)));
        Assert.AreEqual(ChatFinishReason.Stop, updates[^1].FinishReason);
        Assert.AreEqual(1, updates.Count(u => u.FinishReason is not null), "Exactly one final update.");
        Assert.IsTrue(updates[^1].Contents.OfType<UsageContent>().Any(), "The final update carries the usage.");
    }

    [TestMethod]
    public async Task WithoutAStopTheReplyEndsAtEndOfTextWithHeldTextReleased()
    {
        // "\n" could begin "\n\n": it is held back until the generation ends, then released (trailing text kept).
        using var client = ScriptedClient("\nFarewell.\n");

        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Go.")], new ChatOptions { StopSequences = ["\n\n"], MaxOutputTokens = 30 });

        Assert.AreEqual("Farewell.\n", response.Text);
        Assert.AreEqual(ChatFinishReason.Stop, response.FinishReason);
    }
}
