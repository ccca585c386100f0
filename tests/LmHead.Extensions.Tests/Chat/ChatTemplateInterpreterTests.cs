using LmHead.Extensions.Chat;

namespace LmHead.Extensions.Tests.Chat;

/// <summary>The Jinja subset construct by construct, with outputs worked out from Jinja's (and Python's) rules.</summary>
[TestClass]
public sealed class ChatTemplateInterpreterTests
{
    private static string Render(string template) => ChatTemplate.Parse(template).Render([], new ChatTemplateOptions { AddGenerationPrompt = false });

    [TestMethod]
    [DataRow("a  {%- if true -%}  b  {%- endif -%}  c", "abc")]
    [DataRow("x\n    {% if true %}\n    y\n    {% endif %}\nz", "x\n    y\nz")]
    [DataRow("x\n  {%+ if true %}y{% endif %}", "x\n  y")]
    [DataRow("a {{- ' b ' -}} c", "a b c")]
    [DataRow("a\n{# note #}\nb", "a\nb")]
    [DataRow("{{ 'x' }}\ny", "x\ny")]
    public void AppliesWhitespaceControlLikeHuggingFacesJinjaSettings(string template, string expected) =>
        Assert.AreEqual(expected, Render(template));

    [TestMethod]
    public void NamespaceCarriesValuesOutOfALoopWhilePlainSetDoesNot()
    {
        Assert.AreEqual("6", Render("{% set ns = namespace(n=0) %}{% for m in [1,2,3] %}{% set ns.n = ns.n + m %}{% endfor %}{{ ns.n }}"));
        Assert.AreEqual("0", Render("{% set n = 0 %}{% for m in [1,2] %}{% set n = n + m %}{% endfor %}{{ n }}"));
    }

    [TestMethod]
    public void ExposesTheLoopVariables() =>
        Assert.AreEqual(
            "0a3F1b22c1L",
            Render("{% for x in 'abc' %}{{ loop.index0 }}{{ x }}{{ loop.revindex }}{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %}{% endfor %}"));

    [TestMethod]
    public void SlicesAndIndexesLikePython() =>
        Assert.AreEqual("[2, 3, 4]|[4, 3, 2, 1]|el|3|[1, 3]", Render("{{ [1,2,3,4][1:] }}|{{ [1,2,3,4][::-1] }}|{{ 'hello'[1:3] }}|{{ [1,2,3][-1] }}|{{ [1,2,3,4][:3:2] }}"));

    [TestMethod]
    public void AppliesTheFilters() =>
        Assert.AreEqual(
            "a b|2|d|ABab|a=1;b=2;|1-2|True|['b']|3",
            Render("{{ '  a b  ' | trim }}|{{ [1,2] | length }}|{{ x | default('d') }}|{{ 'Ab' | upper }}{{ 'Ab' | lower }}|"
                + "{% for k, v in {'a': 1, 'b': 2} | items %}{{ k }}={{ v }};{% endfor %}|{{ [1, 2] | join('-') }}|{{ [] | first is undefined }}|"
                + "{{ ['a', 'b'] | reject('equalto', 'a') | list }}|{{ '3' | int }}"));

    [TestMethod]
    public void ToJsonFormatsLikePythonsJsonDumps()
    {
        Assert.AreEqual(
            "{\"s\": \"é\\\"\\n\\u0001\", \"f\": 1.5, \"i\": 2, \"n\": null, \"b\": true, \"l\": [], \"d\": {}}",
            Render("{{ {'s': 'é\"\\n\\u0001', 'f': 1.5, 'i': 2, 'n': none, 'b': true, 'l': [], 'd': {}} | tojson }}"));
        Assert.AreEqual("[0.1, 100.0, 1e-05, 1e+16, 123456789012345.6, -2.5e-07]", Render("{{ [0.1, 100.0, 1e-05, 1e16, 123456789012345.6, -2.5e-07] | tojson }}"));
        Assert.AreEqual("[\n  1,\n  {\n    \"a\": []\n  }\n]", Render("{{ [1, {'a': []}] | tojson(indent=2) }}"));
    }

    [TestMethod]
    public void EvaluatesOperatorsTestsAndConditionals() =>
        Assert.AreEqual(
            "x1None|True|True|True|no|7|3|3.5|2|True|False",
            Render("{{ 'x' ~ 1 ~ none }}|{{ 'b' in 'abc' }}|{{ 2 in [1,2] }}|{{ 'k' in {'k': 1} }}|{{ 'yes' if y is defined else 'no' }}|"
                + "{{ 1 + 2 * 3 }}|{{ 7 // 2 }}|{{ 7 / 2 }}|{{ -7 % 3 }}|{{ none is none and not false }}|{{ 'a' is not string }}"));

    [TestMethod]
    public void CallsStringAndDictMethods() =>
        Assert.AreEqual("a|['a', 'b']|True|5|x y", Render("{{ ' a '.strip() }}|{{ 'a,b'.split(',') }}|{{ 'abc'.startswith('a') }}|{{ {'a': 1}.get('b', 5) }}|{{ ' '.join(['x', 'y']) }}"));

    [TestMethod]
    public void SupportsMacrosBreakAndContinue()
    {
        Assert.AreEqual("Hi Bo", Render("{% macro greet(name, p='Hi') %}{{ p }} {{ name }}{% endmacro %}{{ greet('Bo') }}"));
        Assert.AreEqual("02", Render("{% for i in range(5) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}"));
        Assert.AreEqual("none", Render("{% for i in [] %}{{ i }}{% else %}none{% endfor %}"));
        Assert.AreEqual("ab", Render("{% set x %}a{{ 'b' }}{% endset %}{{ x }}"));
    }

    [TestMethod]
    [DataRow("{% include 'x' %}", "unsupported construct '{% include %}'", 1, 4)]
    [DataRow("hello\n{{ x | frobnicate }}", "unsupported filter 'frobnicate'", 2, 8)]
    [DataRow("{% if false %}{{ 1 is frob }}{% endif %}", "unsupported test 'frob'", 1, 23)]
    [DataRow("{% if x %}", "missing '{% endif %}'", 1, 11)]
    [DataRow("{{ x + 1 }}", "'x' is undefined", 1, 6)]
    [DataRow("{{ 'a'.zfill(3) }}", "unsupported method 'zfill()'", 1, 13)]
    [DataRow("{{ 'abc }}", "unclosed string literal", 1, 4)]
    [DataRow("{% for x in y recursive %}{% endfor %}", "unsupported construct 'for ... recursive'", 1, 15)]
    public void NamesTheUnsupportedConstructAndItsPosition(string template, string construct, int line, int column)
    {
        var error = Assert.ThrowsExactly<ChatTemplateException>(() => Render(template));

        Assert.Contains(construct, error.Message);
        Assert.AreEqual((line, column), (error.Line, error.Column), error.Message);
    }
}
