using System.Text.Json;

namespace LmHead.Extensions.Tests.Models;

/// <summary>
/// GPT-2 written from the Hugging Face definition (modeling_gpt2.py, eager attention) with plain arrays and loops in
/// double precision, reading the weights straight from the folder's F32 safetensors file. It shares no code with the
/// library, so agreement is evidence that the library computes GPT-2.
/// </summary>
internal sealed class ReferenceGpt2
{
    private readonly Dictionary<string, SafeTensorsTestFile.TestTensor> _w;
    private readonly int _d, _layers, _heads, _vocab;
    private readonly double _eps;
    private readonly bool _tied;

    internal ReferenceGpt2(string folder)
    {
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "config.json")));
        var root = config.RootElement;
        _d = root.GetProperty("n_embd").GetInt32();
        _layers = root.GetProperty("n_layer").GetInt32();
        _heads = root.GetProperty("n_head").GetInt32();
        _vocab = root.GetProperty("vocab_size").GetInt32();
        _eps = root.GetProperty("layer_norm_epsilon").GetDouble();
        _tied = !root.TryGetProperty("tie_word_embeddings", out var tie) || tie.GetBoolean();
        _w = SafeTensorsTestFile.ReadF32(Path.Combine(folder, "model.safetensors"))
            .ToDictionary(kv => kv.Key.StartsWith("transformer.", StringComparison.Ordinal) ? kv.Key["transformer.".Length..] : kv.Key, kv => kv.Value);
    }

    /// <summary>Logits [T][V] for a token sequence.</summary>
    internal double[][] Logits(int[] ids)
    {
        int t = ids.Length, d = _d;
        float[] wte = _w["wte.weight"].Data, wpe = _w["wpe.weight"].Data;
        var x = new double[t][];
        for (int i = 0; i < t; i++)
        {
            x[i] = new double[d];
            for (int j = 0; j < d; j++)
            {
                x[i][j] = wte[ids[i] * d + j] + wpe[i * d + j];
            }
        }

        for (int layer = 0; layer < _layers; layer++)
        {
            string p = $"h.{layer}.";
            var a = x.Select(row => LayerNorm(row, p + "ln_1")).ToArray();
            var qkv = a.Select(row => Conv1D(row, p + "attn.c_attn")).ToArray();
            var attended = Attention(qkv);
            var projected = attended.Select(row => Conv1D(row, p + "attn.c_proj")).ToArray();
            for (int i = 0; i < t; i++)
            {
                for (int j = 0; j < d; j++)
                {
                    x[i][j] += projected[i][j];
                }
            }

            var m = x.Select(row => LayerNorm(row, p + "ln_2")).ToArray();
            for (int i = 0; i < t; i++)
            {
                var hidden = Conv1D(m[i], p + "mlp.c_fc").Select(GeluNew).ToArray();
                var output = Conv1D(hidden, p + "mlp.c_proj");
                for (int j = 0; j < d; j++)
                {
                    x[i][j] += output[j];
                }
            }
        }

        float[] head = _tied ? wte : _w["lm_head.weight"].Data;
        var logits = new double[t][];
        for (int i = 0; i < t; i++)
        {
            var final = LayerNorm(x[i], "ln_f");
            logits[i] = new double[_vocab];
            for (int v = 0; v < _vocab; v++)
            {
                double sum = 0;
                for (int j = 0; j < d; j++)
                {
                    sum += final[j] * head[v * d + j];
                }

                logits[i][v] = sum;
            }
        }

        return logits;
    }

    private double[][] Attention(double[][] qkv)
    {
        int t = qkv.Length, d = _d, hd = d / _heads;
        var output = new double[t][];
        for (int i = 0; i < t; i++)
        {
            output[i] = new double[d];
        }

        for (int h = 0; h < _heads; h++)
        {
            for (int i = 0; i < t; i++)
            {
                // causal: query i sees keys 0..i
                var scores = new double[i + 1];
                for (int s = 0; s <= i; s++)
                {
                    double dot = 0;
                    for (int j = 0; j < hd; j++)
                    {
                        dot += qkv[i][h * hd + j] * qkv[s][d + h * hd + j];
                    }

                    scores[s] = dot / Math.Sqrt(hd);
                }

                double max = scores.Max();
                double total = scores.Sum(s => Math.Exp(s - max));
                for (int s = 0; s <= i; s++)
                {
                    double weight = Math.Exp(scores[s] - max) / total;
                    for (int j = 0; j < hd; j++)
                    {
                        output[i][h * hd + j] += weight * qkv[s][2 * d + h * hd + j];
                    }
                }
            }
        }

        return output;
    }

    private double[] LayerNorm(double[] row, string name)
    {
        float[] gamma = _w[name + ".weight"].Data, beta = _w[name + ".bias"].Data;
        double mean = row.Average();
        double variance = row.Sum(v => (v - mean) * (v - mean)) / row.Length;
        double scale = 1.0 / Math.Sqrt(variance + _eps);
        return [.. row.Select((v, j) => (v - mean) * scale * gamma[j] + beta[j])];
    }

    /// <summary>Hugging Face Conv1D: weight stored [in, out], y = x W + b.</summary>
    private double[] Conv1D(double[] row, string name)
    {
        var weight = _w[name + ".weight"];
        float[] bias = _w[name + ".bias"].Data;
        int inputs = (int)weight.Shape[0], outputs = (int)weight.Shape[1];
        var y = new double[outputs];
        for (int o = 0; o < outputs; o++)
        {
            double sum = bias[o];
            for (int i = 0; i < inputs; i++)
            {
                sum += row[i] * weight.Data[i * outputs + o];
            }

            y[o] = sum;
        }

        return y;
    }

    private static double GeluNew(double x) => 0.5 * x * (1.0 + Math.Tanh(Math.Sqrt(2.0 / Math.PI) * (x + 0.044715 * x * x * x)));
}
