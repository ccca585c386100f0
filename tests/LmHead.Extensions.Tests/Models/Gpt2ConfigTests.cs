using LmHead.Extensions.Models;

namespace LmHead.Extensions.Tests.Models;

[TestClass]
public sealed class Gpt2ConfigTests
{
    // The config.json of Hugging Face's "gpt2" (124M), as published.
    private const string HuggingFaceGpt2 = """
        {
          "activation_function": "gelu_new",
          "architectures": ["GPT2LMHeadModel"],
          "attn_pdrop": 0.1,
          "bos_token_id": 50256,
          "embd_pdrop": 0.1,
          "eos_token_id": 50256,
          "initializer_range": 0.02,
          "layer_norm_epsilon": 1e-05,
          "model_type": "gpt2",
          "n_ctx": 1024,
          "n_embd": 768,
          "n_head": 12,
          "n_layer": 12,
          "n_positions": 1024,
          "resid_pdrop": 0.1,
          "summary_activation": null,
          "summary_first_dropout": 0.1,
          "summary_proj_to_labels": true,
          "summary_type": "cls_index",
          "summary_use_proj": true,
          "task_specific_params": { "text-generation": { "do_sample": true, "max_length": 50 } },
          "vocab_size": 50257
        }
        """;

    [TestMethod]
    public void ReadsHuggingFacesGpt2ConfigWithTiedEmbeddingsByDefault()
    {
        var config = Gpt2Config.FromJson(HuggingFaceGpt2);

        Assert.AreEqual(768, config.HiddenSize);
        Assert.AreEqual(12, config.LayerCount);
        Assert.AreEqual(64, config.HeadSize);
        Assert.AreEqual(3072, config.EffectiveInnerSize);
        Assert.AreEqual(1024, config.MaxPositions);
        Assert.AreEqual(1e-5, config.LayerNormEpsilon);
        Assert.IsTrue(config.TieWordEmbeddings);
        Assert.AreEqual(50256, config.EosTokenId);
    }

    [TestMethod]
    public void RoundTripsThroughJsonWithHuggingFaceNames()
    {
        var config = TinyGpt2.Config(tied: false);

        string json = config.ToJson();
        var back = Gpt2Config.FromJson(json);

        Assert.Contains("\"tie_word_embeddings\": false", json);
        Assert.Contains("\"n_positions\": 64", json);
        Assert.AreEqual(config.HiddenSize, back.HiddenSize);
        Assert.AreEqual(config.TieWordEmbeddings, back.TieWordEmbeddings);
        Assert.AreEqual(config.EosTokenId, back.EosTokenId);
    }

    [TestMethod]
    public void RejectsAnEosTokenOutsideTheVocabulary()
    {
        var config = TinyGpt2.Config() with { EosTokenId = 300 };

        var ex = Assert.ThrowsExactly<ArgumentException>(config.Validate);

        Assert.AreEqual("eos_token_id", ex.ParamName);
    }
}
