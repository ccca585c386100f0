using System.Text;
using LmHead.Extensions.Models;
using LmHead.Extensions.Tests.Models;

namespace LmHead.Extensions.Tests.Reliability;

/// <summary>
/// Hostile <c>vocab.json</c> / <c>merges.txt</c> pairs: <see cref="Gpt2Pretrained.LoadTokenizer"/> either returns a
/// tokenizer that encodes and decodes without throwing, or throws <see cref="ModelFormatException"/>.
/// </summary>
[TestClass]
[DoNotParallelize]
public sealed class TokenizerFilesFuzzTests
{
    private const int CaseCount = 1000;
    private const int Seed = 911;

    private static readonly string s_vocabulary =
        "{\"a\": 0, \"b\": 1, \"c\": 2, \"ab\": 3, \"abc\": 4, \"\u0120\": 5, \"\u0120a\": 6, \"<|endoftext|>\": 7}";

    private static readonly string s_merges = "#version: 0.2\na b\nab c\n\u0120 a\n";

    [TestMethod]
    [Timeout(300_000, CooperativeCancellation = true)]
    public void EveryMutatedTokenizerPairLoadsOrThrowsAModelFormatException()
    {
        string folder = TinyGpt2.NewFolder();
        byte[] vocabulary = Encoding.UTF8.GetBytes(s_vocabulary);
        byte[] merges = Encoding.UTF8.GetBytes(s_merges);
        int loaded = 0, rejected = 0;
        var failures = new List<string>();
        for (int i = 0; i < CaseCount; i++)
        {
            var random = new Random(Seed + i);
            bool vocabularyCase = random.Next(2) == 0;
            byte[] target = vocabularyCase ? vocabulary : merges;
            byte[] mutated = random.Next(5) switch
            {
                0 => target[..random.Next(target.Length)],
                1 => Flip(random, target),
                2 => [.. target[..(random.Next(target.Length))], 0xFF, 0xC3, 0x28, .. target],
                3 => vocabularyCase
                    ? Encoding.UTF8.GetBytes(new[] { "[]", "null", "{\"a\": \"x\"}", "{\"a\": -1}", "{\"a\": 99999999999}", "{\"a\": 0, \"a\": 1}", "{}", "" }[random.Next(8)])
                    : Encoding.UTF8.GetBytes(new[] { "a\n", "a b c\n", "#version: 0.2\nz q\n", "\n\n\n", "", "#version: 0.2\na  b\n" }[random.Next(6)]),
                _ => Flip(random, Flip(random, target)),
            };
            File.WriteAllBytes(Path.Combine(folder, Gpt2Pretrained.VocabularyFileName), vocabularyCase ? mutated : vocabulary);
            File.WriteAllBytes(Path.Combine(folder, Gpt2Pretrained.MergesFileName), vocabularyCase ? merges : mutated);

            try
            {
                var tokenizer = Gpt2Pretrained.LoadTokenizer(folder);
                loaded++;
                try
                {
                    var ids = tokenizer.EncodeToIds("abc a cab");
                    _ = tokenizer.Decode(ids);
                }
                catch (Exception ex)
                {
                    failures.Add($"case {i} (seed {Seed + i}) loaded but then failed to encode: {ex.GetType().Name}: {ex.Message}");
                }
            }
            catch (ModelFormatException)
            {
                rejected++;
            }
            catch (Exception ex)
            {
                failures.Add($"case {i} (seed {Seed + i}, {(vocabularyCase ? "vocab.json" : "merges.txt")}) threw {ex.GetType().Name}: {ex.Message}");
            }
        }

        Assert.IsEmpty(failures, string.Join("\n", failures.Take(20)));
        Assert.IsGreaterThan(0, loaded);
        Assert.IsGreaterThan(0, rejected);
    }

    private static byte[] Flip(Random random, byte[] bytes)
    {
        byte[] copy = (byte[])bytes.Clone();
        copy[random.Next(copy.Length)] ^= (byte)(1 << random.Next(8));
        return copy;
    }
}
