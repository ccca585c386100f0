using LmHead.Extensions.Decoding;
using LmHead.Extensions.Models;
using static TorchSharp.torch;

// "expect-clear-error": built with -p:LmHeadPatchLibTorchSharp=false on a host whose libstdc++ lacks GLIBCXX_3.4.32,
// the first call into the library (here the model constructor Gpt2Pretrained.Load uses) must throw our
// InvalidOperationException naming the cause, not TorchSharp's DllNotFoundException.
if (args is ["expect-clear-error"])
{
    try
    {
        using var model = new Gpt2Model(new Gpt2Config { HiddenSize = 8, LayerCount = 1, HeadCount = 2, VocabularySize = 16, MaxPositions = 8 });
        Console.WriteLine("package consumer: TorchSharp loaded although the fix was turned off (does this host's libstdc++ have GLIBCXX_3.4.32?)");
        return File.ReadAllText("/usr/lib/x86_64-linux-gnu/libstdc++.so.6").Contains("GLIBCXX_3.4.32\0") ? 0 : 1;
    }
    catch (InvalidOperationException ex) when (ex.Message.Contains("GLIBCXX_3.4.32") && ex.Message.Contains("LmHeadPatchLibTorchSharp=false"))
    {
        Console.WriteLine($"package consumer: clear error as promised: {ex.Message}");
        return 0;
    }
}

var pipeline = new DecodingPipelineBuilder().UseTemperature(0.7f).UseTopK(2).UseSeed(1).Build();
using var logits = tensor(new[] { 1f, 3f, 2f, 0f });
var next = pipeline.NextToken(logits);
Console.WriteLine($"package consumer: token {next.TokenId} p={next.Probability:F3}");
return next.TokenId is 1 or 2 ? 0 : 1;
