using LmHead.Extensions.Models;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Models.Llama;

/// <summary>
/// An independent float64 implementation of Hugging Face's <c>LlamaForCausalLM</c> / <c>Qwen2ForCausalLM</c> /
/// <c>MistralForCausalLM</c> forward pass, written in plain loops from modeling_llama.py (RMSNorm, rotate_half rotary
/// embeddings with <c>_compute_llama3_parameters</c>, repeat_kv, eager attention, SwiGLU), reading the weights straight
/// from a checkpoint folder's safetensors files. It shares no code with <see cref="LlamaModel"/>.
/// </summary>
internal sealed class ReferenceLlama
{
    private readonly Dictionary<string, double[]> _w = new(StringComparer.Ordinal);
    private readonly int _d, _heads, _kvHeads, _headDim, _inner, _layers, _vocab;
    private readonly double _eps;
    private readonly double[] _invFreq;
    private readonly bool _qkvBias, _oBias, _tied;

    internal ReferenceLlama(string folder, LlamaConfig c)
    {
        foreach (string file in Directory.GetFiles(folder, "*.safetensors"))
        {
            foreach (var (name, t) in SafeTensorsFile.ReadAll(file))
            {
                using (t)
                using (var wide = t.to_type(ScalarType.Float64).contiguous())
                {
                    _w[name] = wide.data<double>().ToArray();
                }
            }
        }

        _d = c.HiddenSize;
        _heads = c.HeadCount;
        _kvHeads = c.KeyValueHeadCount ?? c.HeadCount;
        _headDim = c.HeadDim ?? (c.HiddenSize / c.HeadCount);
        _inner = c.IntermediateSize;
        _layers = c.LayerCount;
        _vocab = c.VocabularySize;
        _eps = c.RmsNormEpsilon;
        _qkvBias = c.ModelType == "qwen2" || c.AttentionBias;
        _oBias = c.ModelType != "qwen2" && c.AttentionBias;
        _tied = c.TieWordEmbeddings;
        _invFreq = new double[_headDim / 2];
        for (int i = 0; i < _invFreq.Length; i++)
        {
            _invFreq[i] = 1.0 / Math.Pow(c.RopeTheta, (2.0 * i) / _headDim);
        }

        if (c.RopeScaling is { RopeType: "llama3" } s)
        {
            // transformers.modeling_rope_utils._compute_llama3_parameters
            double lowWavelen = s.OriginalMaxPositions / s.LowFrequencyFactor, highWavelen = s.OriginalMaxPositions / s.HighFrequencyFactor;
            for (int i = 0; i < _invFreq.Length; i++)
            {
                double wavelen = 2 * Math.PI / _invFreq[i];
                double llama = wavelen > lowWavelen ? _invFreq[i] / s.Factor : _invFreq[i];
                double smooth = ((s.OriginalMaxPositions / wavelen) - s.LowFrequencyFactor) / (s.HighFrequencyFactor - s.LowFrequencyFactor);
                double smoothed = ((1 - smooth) * llama / s.Factor) + (smooth * llama);
                bool medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
                _invFreq[i] = medium ? smoothed : llama;
            }
        }
        else if (c.RopeScaling is { RopeType: "linear" } linear)
        {
            for (int i = 0; i < _invFreq.Length; i++)
            {
                _invFreq[i] /= linear.Factor;
            }
        }
    }

    /// <summary>Logits <c>[T][V]</c> of one unpadded sequence at positions 0..T-1.</summary>
    internal double[][] Logits(IReadOnlyList<int> ids)
    {
        int n = ids.Count;
        var x = new double[n][];
        var embed = _w["model.embed_tokens.weight"];
        for (int t = 0; t < n; t++)
        {
            x[t] = embed.AsSpan(ids[t] * _d, _d).ToArray();
        }

        for (int l = 0; l < _layers; l++)
        {
            string p = $"model.layers.{l}.";
            var h = x.Select(row => RmsNorm(row, _w[p + "input_layernorm.weight"])).ToArray();
            var q = h.Select(row => Linear(row, p + "self_attn.q_proj", _heads * _headDim, _qkvBias)).ToArray();
            var k = h.Select(row => Linear(row, p + "self_attn.k_proj", _kvHeads * _headDim, _qkvBias)).ToArray();
            var v = h.Select(row => Linear(row, p + "self_attn.v_proj", _kvHeads * _headDim, _qkvBias)).ToArray();
            for (int t = 0; t < n; t++)
            {
                Rotate(q[t], _heads, t);
                Rotate(k[t], _kvHeads, t);
            }

            for (int t = 0; t < n; t++)
            {
                var attended = new double[_heads * _headDim];
                for (int head = 0; head < _heads; head++)
                {
                    int kvHead = head / (_heads / _kvHeads);
                    var scores = new double[t + 1];
                    for (int s = 0; s <= t; s++)
                    {
                        double dot = 0;
                        for (int i = 0; i < _headDim; i++)
                        {
                            dot += q[t][(head * _headDim) + i] * k[s][(kvHead * _headDim) + i];
                        }

                        scores[s] = dot / Math.Sqrt(_headDim);
                    }

                    double max = scores.Max(), sum = scores.Sum(z => Math.Exp(z - max));
                    for (int s = 0; s <= t; s++)
                    {
                        double weight = Math.Exp(scores[s] - max) / sum;
                        for (int i = 0; i < _headDim; i++)
                        {
                            attended[(head * _headDim) + i] += weight * v[s][(kvHead * _headDim) + i];
                        }
                    }
                }

                var o = Linear(attended, p + "self_attn.o_proj", _d, _oBias);
                for (int i = 0; i < _d; i++)
                {
                    x[t][i] += o[i];
                }
            }

            for (int t = 0; t < n; t++)
            {
                var m = RmsNorm(x[t], _w[p + "post_attention_layernorm.weight"]);
                var gate = Linear(m, p + "mlp.gate_proj", _inner, false);
                var up = Linear(m, p + "mlp.up_proj", _inner, false);
                var act = gate.Select((g, i) => g / (1 + Math.Exp(-g)) * up[i]).ToArray();
                var down = Linear(act, p + "mlp.down_proj", _d, false);
                for (int i = 0; i < _d; i++)
                {
                    x[t][i] += down[i];
                }
            }
        }

        string headName = _tied ? "model.embed_tokens" : "lm_head";
        return [.. x.Select(row => Linear(RmsNorm(row, _w["model.norm.weight"]), headName, _vocab, false))];
    }

    /// <summary>Greedy continuation: the argmax token appended <paramref name="count"/> times, recomputing from scratch.</summary>
    internal int[] Greedy(IReadOnlyList<int> prompt, int count)
    {
        var ids = prompt.ToList();
        for (int i = 0; i < count; i++)
        {
            var last = Logits(ids)[^1];
            ids.Add(Array.IndexOf(last, last.Max()));
        }

        return [.. ids.Skip(prompt.Count)];
    }

    private double[] RmsNorm(double[] x, double[] weight)
    {
        double meanSquare = x.Sum(z => z * z) / x.Length;
        double scale = 1 / Math.Sqrt(meanSquare + _eps);
        return [.. x.Select((z, i) => weight[i] * z * scale)];
    }

    private double[] Linear(double[] x, string name, int outputs, bool bias)
    {
        var w = _w[name + ".weight"];
        var y = new double[outputs];
        for (int o = 0; o < outputs; o++)
        {
            double sum = bias ? _w[name + ".bias"][o] : 0;
            for (int i = 0; i < x.Length; i++)
            {
                sum += w[(o * x.Length) + i] * x[i];
            }

            y[o] = sum;
        }

        return y;
    }

    /// <summary>apply_rotary_pos_emb: x·cos + rotate_half(x)·sin with rotate_half(x) = cat(-x2, x1).</summary>
    private void Rotate(double[] x, int heads, int position)
    {
        int half = _headDim / 2;
        for (int head = 0; head < heads; head++)
        {
            int b = head * _headDim;
            for (int i = 0; i < half; i++)
            {
                double angle = position * _invFreq[i], cos = Math.Cos(angle), sin = Math.Sin(angle);
                double x1 = x[b + i], x2 = x[b + half + i];
                x[b + i] = (x1 * cos) - (x2 * sin);
                x[b + half + i] = (x2 * cos) + (x1 * sin);
            }
        }
    }
}
