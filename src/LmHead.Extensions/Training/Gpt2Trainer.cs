using System.Diagnostics;
using System.Text.Json;
using LmHead.Extensions.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LmHead.Extensions.Training;

/// <summary>
/// Trains a <see cref="Gpt2Model"/> on a token stream: AdamW with decoupled weight decay, linear warm-up then cosine
/// decay, global gradient-norm clipping, a held-out validation split at the end of the corpus, a fixed seed, and
/// checkpoints in the Hugging Face layout (config.json + model.safetensors) written atomically.
/// </summary>
/// <remarks>
/// <para>
/// Vocabulary pooling: a small corpus uses only a fraction of GPT-2's 50,257 tokens, and the full softmax over the
/// unused ones would dominate the cost on a CPU. The trainer therefore ties every token that never occurs in the corpus
/// to one shared embedding row <c>u</c>. A softmax over the full vocabulary with those rows tied is exactly a softmax over
/// the used tokens plus one pooled class with logit <c>h·u + ln(unused count)</c>, which is what the loss computes.
/// Checkpoints copy <c>u</c> into every unused row, so the saved model is an ordinary GPT-2 whose full-vocabulary
/// cross-entropy equals the reported loss.
/// </para>
/// </remarks>
public sealed class Gpt2Trainer
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };
    private readonly Gpt2Model _model;
    private readonly Gpt2TrainingOptions _options;

    /// <summary>Creates a trainer.</summary>
    /// <param name="model">The model to train in place.</param>
    /// <param name="options">The hyper-parameters.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range, or the sequence length exceeds n_positions.</exception>
    public Gpt2Trainer(Gpt2Model model, Gpt2TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (options.SequenceLength > model.Config.MaxPositions)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.SequenceLength,
                $"SequenceLength {options.SequenceLength} exceeds the model's n_positions {model.Config.MaxPositions}.");
        }

        _model = model;
        _options = options;
    }

    /// <summary>Initialises weights as GPT-2 does: N(0, 0.02), residual projections N(0, 0.02/√(2·n_layer)), biases 0, LayerNorm gains 1.</summary>
    /// <param name="model">The model.</param>
    /// <param name="seed">The seed.</param>
    public static void InitializeWeights(Gpt2Model model, int seed)
    {
        ArgumentNullException.ThrowIfNull(model);
        torch.random.manual_seed(seed);
        double residualStd = 0.02 / Math.Sqrt(2.0 * model.Config.LayerCount);
        using var noGrad = no_grad();
        foreach (var (name, parameter) in model.named_parameters())
        {
            if (name.EndsWith(".bias", StringComparison.Ordinal))
            {
                parameter.zero_();
            }
            else if (name.Contains(".ln_", StringComparison.Ordinal) || name.Contains("ln_f", StringComparison.Ordinal))
            {
                parameter.fill_(1.0);
            }
            else
            {
                nn.init.normal_(parameter, 0, name.EndsWith("c_proj.weight", StringComparison.Ordinal) ? residualStd : 0.02);
            }
        }
    }

    /// <summary>Trains on a token stream and writes checkpoints.</summary>
    /// <param name="tokens">The whole corpus as token ids; the last <see cref="Gpt2TrainingOptions.ValidationFraction"/> is held out.</param>
    /// <param name="checkpointDirectory">Where to write the model (replaced atomically at every evaluation and at the end).</param>
    /// <param name="progress">Receives a report after every step, or <see langword="null"/>.</param>
    /// <param name="storageDtype">The dtype of the saved weights (Float16 keeps checkpoints small).</param>
    /// <param name="cancellationToken">Stops training at the next step boundary; the checkpoint is still written.</param>
    /// <returns>What the run did.</returns>
    /// <exception cref="ArgumentException">The corpus is too short for the sequence length, or holds ids outside the vocabulary.</exception>
    public TrainingResult Train(IReadOnlyList<int> tokens, string checkpointDirectory, IProgress<TrainingProgress>? progress = null,
        ScalarType storageDtype = ScalarType.Float16, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(checkpointDirectory);
        int split = (int)(tokens.Count * (1 - _options.ValidationFraction));
        int window = _options.SequenceLength + 1;
        if (split < window * 2 || tokens.Count - split < window)
        {
            throw new ArgumentException($"The corpus has {tokens.Count} tokens; at least {window * 3} are needed for SequenceLength {_options.SequenceLength}.", nameof(tokens));
        }

        var vocabulary = PooledVocabulary.Create(tokens, _model.Config.VocabularySize);
        int[] train = [.. tokens.Take(split)];
        int[] validation = [.. tokens.Skip(split)];
        var random = new Random(_options.Seed);

        var parameters = _model.parameters().ToList();
        foreach (var p in parameters)
        {
            p.requires_grad_(true);
        }

        var decayed = parameters.Where(p => p.dim() >= 2).ToList();
        var plain = parameters.Where(p => p.dim() < 2).ToList();
        var optimizer = optim.AdamW(
            [new AdamW.ParamGroup(decayed, new AdamW.Options { weight_decay = _options.WeightDecay }),
             new AdamW.ParamGroup(plain, new AdamW.Options { weight_decay = 0 })],
            lr: _options.LearningRate, beta1: 0.9, beta2: 0.95);

        var clock = Stopwatch.StartNew();
        double loss = double.NaN;
        double? validationLoss = null;
        int step = 0;
        _model.train();
        try
        {
            while (step < _options.Steps && !cancellationToken.IsCancellationRequested)
            {
                double rate = LearningRateAt(step);
                foreach (var group in optimizer.ParamGroups)
                {
                    group.LearningRate = rate;
                }

                using (var scope = NewDisposeScope())
                {
                    optimizer.zero_grad();
                    var batch = SampleBatch(train, random);
                    var lossTensor = vocabulary.Loss(_model, batch);
                    lossTensor.backward();
                    nn.utils.clip_grad_norm_(parameters, _options.GradientClip);
                    optimizer.step();
                    loss = lossTensor.item<float>();
                }

                step++;
                if (step % _options.EvaluateEvery == 0 || step == _options.Steps)
                {
                    validationLoss = Evaluate(vocabulary, validation);
                    SaveCheckpoint(vocabulary, checkpointDirectory, storageDtype, step, loss, validationLoss.Value, clock.Elapsed, tokens.Count);
                }

                progress?.Report(new TrainingProgress(step, _options.Steps, loss, validationLoss, rate,
                    step * (double)_options.BatchSize * _options.SequenceLength / clock.Elapsed.TotalSeconds, clock.Elapsed));
            }

            bool cancelled = step < _options.Steps;
            if (cancelled || validationLoss is null)
            {
                validationLoss = Evaluate(vocabulary, validation);
                SaveCheckpoint(vocabulary, checkpointDirectory, storageDtype, step, loss, validationLoss.Value, clock.Elapsed, tokens.Count);
            }

            return new TrainingResult(step, loss, validationLoss.Value, clock.Elapsed, cancelled);
        }
        finally
        {
            _model.eval();
            foreach (var p in parameters)
            {
                p.requires_grad_(false);
            }

            optimizer.Dispose();
        }
    }

    private double LearningRateAt(int step)
    {
        if (step < _options.WarmupSteps)
        {
            return _options.LearningRate * (step + 1) / _options.WarmupSteps;
        }

        double progress = (step - _options.WarmupSteps) / (double)Math.Max(1, _options.Steps - _options.WarmupSteps);
        return _options.MinLearningRate + 0.5 * (_options.LearningRate - _options.MinLearningRate) * (1 + Math.Cos(Math.PI * Math.Min(1, progress)));
    }

    private Tensor SampleBatch(int[] source, Random random)
    {
        int window = _options.SequenceLength + 1;
        var data = new long[_options.BatchSize * window];
        for (int b = 0; b < _options.BatchSize; b++)
        {
            int start = random.Next(source.Length - window);
            for (int t = 0; t < window; t++)
            {
                data[b * window + t] = source[start + t];
            }
        }

        return tensor(data, [_options.BatchSize, window]);
    }

    private double Evaluate(PooledVocabulary vocabulary, int[] validation)
    {
        _model.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        int window = _options.SequenceLength + 1;
        int available = validation.Length / window;
        int count = Math.Min(available, _options.ValidationBatches * _options.BatchSize);
        double total = 0;
        int done = 0;
        while (done < count)
        {
            int rows = Math.Min(_options.BatchSize, count - done);
            var data = new long[rows * window];
            for (int r = 0; r < rows; r++)
            {
                Array.Copy(validation.Select(v => (long)v).Skip((done + r) * window).Take(window).ToArray(), 0, data, r * window, window);
            }

            total += vocabulary.Loss(_model, tensor(data, [rows, window])).item<float>() * rows;
            done += rows;
        }

        _model.train();
        return total / count;
    }

    private void SaveCheckpoint(PooledVocabulary vocabulary, string directory, ScalarType storageDtype,
        int step, double loss, double validationLoss, TimeSpan elapsed, int corpusTokens)
    {
        vocabulary.TieUnusedRows(_model);
        string full = Path.GetFullPath(directory);
        string partial = full.TrimEnd(Path.DirectorySeparatorChar) + ".partial";
        if (Directory.Exists(partial))
        {
            Directory.Delete(partial, recursive: true);
        }

        Gpt2Pretrained.Save(_model, partial, storageDtype);
        var record = new
        {
            step,
            training_loss = loss,
            validation_loss = validationLoss,
            training_seconds = Math.Round(elapsed.TotalSeconds),
            corpus_tokens = corpusTokens,
            used_vocabulary = vocabulary.UsedCount,
            options = _options,
        };
        File.WriteAllText(Path.Combine(partial, "training.json"), JsonSerializer.Serialize(record, Indented));
        Directory.CreateDirectory(full);
        foreach (var file in Directory.GetFiles(partial))
        {
            File.Move(file, Path.Combine(full, Path.GetFileName(file)), overwrite: true);
        }

        Directory.Delete(partial);
    }
}
