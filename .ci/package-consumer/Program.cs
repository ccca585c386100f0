using LmHead.Extensions.Decoding;
using static TorchSharp.torch;

var pipeline = new DecodingPipelineBuilder().UseTemperature(0.7f).UseTopK(2).UseSeed(1).Build();
using var logits = tensor(new[] { 1f, 3f, 2f, 0f });
var next = pipeline.NextToken(logits);
Console.WriteLine($"package consumer: token {next.TokenId} p={next.Probability:F3}");
return next.TokenId is 1 or 2 ? 0 : 1;
