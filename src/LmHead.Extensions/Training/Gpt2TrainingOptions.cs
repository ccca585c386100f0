namespace LmHead.Extensions.Training;

/// <summary>Hyper-parameters of <see cref="Gpt2Trainer"/>. Every value is checked by <see cref="Validate"/>.</summary>
public sealed record Gpt2TrainingOptions
{
    /// <summary>Optimizer steps to run.</summary>
    public int Steps { get; init; } = 2000;

    /// <summary>Sequences per step.</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>Tokens per sequence (at most the model's n_positions).</summary>
    public int SequenceLength { get; init; } = 128;

    /// <summary>The peak learning rate of AdamW.</summary>
    public double LearningRate { get; init; } = 3e-3;

    /// <summary>The learning rate at the end of the cosine decay.</summary>
    public double MinLearningRate { get; init; } = 1e-4;

    /// <summary>Steps of linear warm-up before the cosine decay.</summary>
    public int WarmupSteps { get; init; } = 100;

    /// <summary>AdamW's decoupled weight decay (applied to matrices, not to biases or LayerNorm gains).</summary>
    public double WeightDecay { get; init; } = 0.1;

    /// <summary>The global gradient-norm clip.</summary>
    public double GradientClip { get; init; } = 1.0;

    /// <summary>The fraction of the corpus held out, at its end, for validation.</summary>
    public double ValidationFraction { get; init; } = 0.1;

    /// <summary>Run a validation pass every this many steps (and at the end).</summary>
    public int EvaluateEvery { get; init; } = 200;

    /// <summary>Sequences used per validation pass.</summary>
    public int ValidationBatches { get; init; } = 8;

    /// <summary>The seed of weight initialisation and batch sampling.</summary>
    public int Seed { get; init; } = 1337;

    /// <summary>Checks every value.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range; the message names it.</exception>
    public void Validate()
    {
        Positive(Steps, nameof(Steps));
        Positive(BatchSize, nameof(BatchSize));
        Positive(SequenceLength, nameof(SequenceLength));
        Positive(EvaluateEvery, nameof(EvaluateEvery));
        Positive(ValidationBatches, nameof(ValidationBatches));
        if (WarmupSteps < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(WarmupSteps), WarmupSteps, "WarmupSteps must be 0 or more.");
        }

        if (!(LearningRate > 0) || !(MinLearningRate >= 0) || MinLearningRate > LearningRate)
        {
            throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, $"LearningRate must be > 0 and >= MinLearningRate ({MinLearningRate}) >= 0.");
        }

        if (!(ValidationFraction > 0 && ValidationFraction < 0.5))
        {
            throw new ArgumentOutOfRangeException(nameof(ValidationFraction), ValidationFraction, "ValidationFraction must be in (0, 0.5).");
        }

        if (!(WeightDecay >= 0) || !(GradientClip > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(GradientClip), GradientClip, "WeightDecay must be >= 0 and GradientClip > 0.");
        }
    }

    private static void Positive(int value, string name)
    {
        if (value <= 0)
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be at least 1, but was {value}.");
        }
    }
}
