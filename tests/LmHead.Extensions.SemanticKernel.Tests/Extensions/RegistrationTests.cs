using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using LmHead.Extensions.SemanticKernel.Services;
using LmHead.Extensions.SemanticKernel.Settings;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.Services;
using Microsoft.SemanticKernel.TextGeneration;

namespace LmHead.Extensions.SemanticKernel.Tests.Extensions;

[TestClass]
public sealed class RegistrationTests
{
    [TestMethod]
    public async Task FolderModelLoadsLazilyOnceAndIsSharedByTextServiceAndChatClient()
    {
        var services = new ServiceCollection().AddLmHeadTextGeneration(TinyModels.FolderA);
        services.AddLmHeadChatClient(TinyModels.FolderA + Path.DirectorySeparatorChar, serviceId: "chat");
        using var provider = services.BuildServiceProvider();
        string key = LmHeadModelHandle.KeyFor(Path.GetFullPath(TinyModels.FolderA));

        var text = provider.GetRequiredService<ITextGenerationService>();
        var chat = provider.GetRequiredKeyedService<IChatClient>("chat");
        var handle = provider.GetRequiredKeyedService<LmHeadModelHandle>(key);
        Assert.AreEqual(1, services.Count(d => d.ServiceType == typeof(LmHeadModelHandle)));
        Assert.IsFalse(handle.IsLoaded, "resolving the services must not load the model");
        Assert.AreEqual("tiny-a", text.GetModelId());
        Assert.AreEqual("tiny-a", chat.GetService<ChatClientMetadata>()!.DefaultModelId);

        await text.GetTextContentsAsync("Hello", new LmHeadPromptExecutionSettings(new GenerationOptions { MaxNewTokens = 2, Decoding = new() { Seed = 1 } }));

        Assert.IsTrue(handle.IsLoaded);
        Assert.AreSame(handle.Generator.Value, chat.GetService<TextGenerator>());
    }

    [TestMethod]
    public void LoadedModelOverloadsRegisterKeyedServices()
    {
        using var pretrained = Gpt2Pretrained.Load(TinyModels.FolderB);
        var kernel = Kernel.CreateBuilder()
            .AddLmHeadTextGeneration(pretrained, "b", serviceId: "text-b")
            .AddLmHeadChatClient(new TextGenerator(pretrained), "b", serviceId: "chat-b")
            .Build();

        Assert.AreEqual("b", kernel.GetRequiredService<ITextGenerationService>("text-b").GetModelId());
        Assert.AreEqual("b", kernel.Services.GetRequiredKeyedService<IChatClient>("chat-b").GetService<ChatClientMetadata>()!.DefaultModelId);
        Assert.IsNull(kernel.Services.GetService<ITextGenerationService>());
    }

    [TestMethod]
    public void RejectsMissingArguments()
    {
        var services = new ServiceCollection();

        Assert.Throws<ArgumentException>(() => services.AddLmHeadTextGeneration(" "));
        Assert.Throws<ArgumentException>(() => services.AddLmHeadChatClient(TinyModels.GeneratorA, ""));
        Assert.Throws<ArgumentNullException>(() => services.AddLmHeadTextGeneration((TextGenerator)null!, "x"));
    }

    [TestMethod]
    public async Task ChatClientRegistrationReturnsABuilderWhoseMiddlewareWrapsTheClient()
    {
        var services = new ServiceCollection();
        int calls = 0;
        services.AddLmHeadChatClient(TinyModels.GeneratorA, "tiny-a", serviceId: "chat")
            .Use((messages, options, next, cancellationToken) =>
            {
                Interlocked.Increment(ref calls);
                return next(messages, options, cancellationToken);
            })
            .UseOpenTelemetry(sourceName: "LmHead.Extensions.Tests");
        services.AddLmHeadChatClient(TinyModels.GeneratorA, "tiny-a").UseOpenTelemetry();
        using var provider = services.BuildServiceProvider();

        var keyed = provider.GetRequiredKeyedService<IChatClient>("chat");
        var plain = provider.GetRequiredService<IChatClient>();
        await keyed.GetResponseAsync("Hello", new ChatOptions { MaxOutputTokens = 2, Seed = 1 });

        Assert.AreEqual(1, calls);
        Assert.IsNotNull(keyed.GetService<OpenTelemetryChatClient>());
        Assert.IsNotNull(plain.GetService<OpenTelemetryChatClient>());
        Assert.AreSame(TinyModels.GeneratorA, keyed.GetService<TextGenerator>());
    }
}
