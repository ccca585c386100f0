using System.Globalization;
using LmHead.Extensions.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Benchmarks.LlamaCpp;

/// <summary>
/// Converts a GPT-2 checkpoint in the Hugging Face folder layout (<c>config.json</c> + <c>model.safetensors</c>, as
/// <see cref="Gpt2Pretrained.Save"/> writes it) to a llama.cpp GGUF file of architecture <c>gpt2</c>, in C# without
/// Python: what llama.cpp's <c>convert_hf_to_gguf.py</c> (class <c>GPT2Model</c>) writes, with the tensor names and
/// shapes that <c>llama-model.cpp</c> loads for <c>LLM_ARCH_GPT2</c>.
/// </summary>
/// <remarks>
/// The Conv1D weights (<c>c_attn</c>, <c>c_proj</c>, <c>c_fc</c>) are stored <c>[in, out]</c> by Hugging Face and are
/// transposed to ggml's <c>[out][in]</c> rows. <c>output.weight</c> is written as a copy of <c>token_embd</c> when the
/// embeddings are tied (llama.cpp's gpt2 loader requires it). With <see cref="GgmlType.F16"/> (<see cref="GgmlType.BF16"/>)
/// the matrices and embeddings are stored in half precision (bfloat16) and the norms and biases stay F32
/// (convert_hf_to_gguf's <c>--outtype f16</c> / <c>bf16</c>).
/// </remarks>
internal static class Gpt2GgufConverter
{
    private const string Prefix = "transformer.";

    /// <summary>Writes <paramref name="ggufPath"/> from the checkpoint in <paramref name="folder"/>.</summary>
    /// <param name="folder">The Hugging Face folder.</param>
    /// <param name="ggufPath">The GGUF file to write.</param>
    /// <param name="type">The type of the matrices and embeddings.</param>
    /// <exception cref="InvalidDataException">A tensor the gpt2 architecture needs is missing or has the wrong shape.</exception>
    public static void Convert(string folder, string ggufPath, GgmlType type)
    {
        var config = Gpt2Config.Load(Path.Combine(folder, Gpt2Pretrained.ConfigFileName));
        string weightsPath = Path.Combine(folder, Gpt2Pretrained.WeightsFileName);
        using var stream = SafeTensorsFile.Open(weightsPath, out var entries, out long dataStart);
        var byName = entries.ToDictionary(e => e.Name.StartsWith(Prefix, StringComparison.Ordinal) ? e.Name[Prefix.Length..] : e.Name, StringComparer.Ordinal);

        var gguf = new GgufWriter();
        gguf.AddString("general.architecture", "gpt2");
        gguf.AddString("general.name", Path.GetFileName(Path.TrimEndingDirectorySeparator(folder)));
        gguf.AddUInt32("general.file_type", type switch { GgmlType.F32 => 0u, GgmlType.F16 => 1u, _ => 32u }); // LLAMA_FTYPE_ALL_F32, _MOSTLY_F16, _MOSTLY_BF16
        gguf.AddUInt32("gpt2.context_length", (uint)config.MaxPositions);
        gguf.AddUInt32("gpt2.embedding_length", (uint)config.HiddenSize);
        gguf.AddUInt32("gpt2.feed_forward_length", (uint)config.EffectiveInnerSize);
        gguf.AddUInt32("gpt2.block_count", (uint)config.LayerCount);
        gguf.AddUInt32("gpt2.attention.head_count", (uint)config.HeadCount);
        gguf.AddFloat32("gpt2.attention.layer_norm_epsilon", (float)config.LayerNormEpsilon);

        var vocabulary = Gpt2GgufVocabulary.FromFolder(folder, config.VocabularySize);
        gguf.AddString("tokenizer.ggml.model", "gpt2");
        gguf.AddString("tokenizer.ggml.pre", "gpt-2");
        gguf.AddStringArray("tokenizer.ggml.tokens", vocabulary.Tokens);
        gguf.AddInt32Array("tokenizer.ggml.token_type", vocabulary.TokenTypes);
        gguf.AddStringArray("tokenizer.ggml.merges", vocabulary.Merges);
        if (config.BosTokenId is { } bos)
        {
            gguf.AddUInt32("tokenizer.ggml.bos_token_id", (uint)bos);
        }

        if (config.EosTokenId is { } eos)
        {
            gguf.AddUInt32("tokenizer.ggml.eos_token_id", (uint)eos);
        }

        long d = config.HiddenSize, inner = config.EffectiveInnerSize;
        void Add(string ggufName, string hfName, long[] hfShape, bool transpose = false)
        {
            if (!byName.TryGetValue(hfName, out var entry))
            {
                throw new InvalidDataException($"{weightsPath} has no tensor '{hfName}' (nor '{Prefix}{hfName}'), which llama.cpp's {ggufName} needs.");
            }

            if (!entry.Shape.SequenceEqual(hfShape))
            {
                throw new InvalidDataException(
                    $"{weightsPath}: '{entry.Name}' has shape [{string.Join(", ", entry.Shape)}]; config.json implies [{string.Join(", ", hfShape)}].");
            }

            var tensorType = hfShape.Length == 1 ? GgmlType.F32 : type;
            long[] stored = transpose ? [hfShape[1], hfShape[0]] : hfShape;
            gguf.AddTensor(ggufName, tensorType, [.. stored.Reverse()], () =>
            {
                using var scope = NewDisposeScope();
                var tensor = SafeTensorsFile.ReadTensor(stream, weightsPath, dataStart, entry);
                var converted = (transpose ? tensor.t() : tensor).to_type(RandomGpt2Checkpoint.ToScalarType(tensorType)).contiguous();
                return converted.bytes.ToArray();
            });
        }

        Add("token_embd.weight", "wte.weight", [config.VocabularySize, d]);
        Add("position_embd.weight", "wpe.weight", [config.MaxPositions, d]);
        for (int i = 0; i < config.LayerCount; i++)
        {
            string block = string.Create(CultureInfo.InvariantCulture, $"blk.{i}."), hf = string.Create(CultureInfo.InvariantCulture, $"h.{i}.");
            Add(block + "attn_norm.weight", hf + "ln_1.weight", [d]);
            Add(block + "attn_norm.bias", hf + "ln_1.bias", [d]);
            Add(block + "attn_qkv.weight", hf + "attn.c_attn.weight", [d, 3 * d], transpose: true);
            Add(block + "attn_qkv.bias", hf + "attn.c_attn.bias", [3 * d]);
            Add(block + "attn_output.weight", hf + "attn.c_proj.weight", [d, d], transpose: true);
            Add(block + "attn_output.bias", hf + "attn.c_proj.bias", [d]);
            Add(block + "ffn_norm.weight", hf + "ln_2.weight", [d]);
            Add(block + "ffn_norm.bias", hf + "ln_2.bias", [d]);
            Add(block + "ffn_up.weight", hf + "mlp.c_fc.weight", [d, inner], transpose: true);
            Add(block + "ffn_up.bias", hf + "mlp.c_fc.bias", [inner]);
            Add(block + "ffn_down.weight", hf + "mlp.c_proj.weight", [inner, d], transpose: true);
            Add(block + "ffn_down.bias", hf + "mlp.c_proj.bias", [d]);
        }

        Add("output_norm.weight", "ln_f.weight", [d]);
        Add("output_norm.bias", "ln_f.bias", [d]);
        Add("output.weight", config.TieWordEmbeddings ? "wte.weight" : "lm_head.weight", [config.VocabularySize, d]);
        gguf.Write(ggufPath);
    }
}
