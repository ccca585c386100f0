using System.Text.RegularExpressions;
using LmHead.Extensions.Decoding.Grammar;

namespace LmHead.Extensions.Tests.Decoding.Grammar;

[TestClass]
public sealed class RegexGrammarCompilerTests
{
    [TestMethod]
    [DataRow(@"\d{3}-\d{2,4}")]
    [DataRow(@"(cat|dog)s?")]
    [DataRow(@"[A-Z][a-z]*( [A-Z][a-z]*)*")]
    [DataRow(@"^(?:[^,\n]+,)+$")]
    [DataRow(@"\w+@\w+\.(com|org)")]
    [DataRow(@"[\u00e0-\u00ff]+x?")]
    [DataRow(@"a.c")]
    [DataRow(@"\s*\S+")]
    public void AgreesWithDotNetRegexOnSampledStrings(string pattern)
    {
        var grammar = CompiledGrammar.Compile(OutputConstraint.Regex(pattern));
        var whole = new Regex($@"\A(?:{pattern.TrimStart('^').TrimEnd('$')})\z");
        // \S, \D and \W generate their ASCII members only: every accepted string matches, not every match is accepted.
        bool subset = pattern.Contains(@"\S", StringComparison.Ordinal);
        var random = new Random(17);
        string alphabet = "abcdoAZgst-0129 ,.\n@\u00e0\u00e9\u00ff\u4e2dx";
        int matches = 0;
        for (int i = 0; i < 4000; i++)
        {
            int length = random.Next(0, 9);
            string text = new([.. Enumerable.Range(0, length).Select(_ => alphabet[random.Next(alphabet.Length)])]);
            bool expected = whole.IsMatch(text);
            matches += expected ? 1 : 0;
            bool accepted = grammar.Accepts(text);
            Assert.IsTrue(subset ? !accepted || expected : accepted == expected, $"'{text}' against {pattern}: accepted {accepted}, matches {expected}");
        }

        foreach (string known in new[] { "123-45", "cats", "Ab Cd", "a,b,", "x@y.com", "\u00e0\u00e9", "abc", "  x" })
        {
            Assert.IsTrue(whole.IsMatch(known) == grammar.Accepts(known) || (subset && !grammar.Accepts(known)), known);
            matches += grammar.Accepts(known) ? 1 : 0;
        }

        Assert.IsGreaterThan(0, matches, "some strings match, so the agreement is not vacuous");
    }

    [TestMethod]
    [DataRow(@"(a)\1", "\\1")]
    [DataRow(@"(?=a)b", "lookarounds")]
    [DataRow(@"a^b", "anchor")]
    [DataRow(@"[a-", "']'")]
    [DataRow(@"a{3,2}", "maximum")]
    public void UnsupportedConstructsAreNamed(string pattern, string named)
    {
        var error = Assert.ThrowsExactly<ArgumentException>(() => CompiledGrammar.Compile(OutputConstraint.Regex(pattern)));
        StringAssert.Contains(error.Message, named);
        Assert.AreEqual("constraint", error.ParamName);
    }
}
