namespace LmHead.Extensions.Training;

/// <summary>A report from <see cref="Gpt2Trainer"/> after each step.</summary>
/// <param name="Step">Steps done so far.</param>
/// <param name="TotalSteps">Steps planned.</param>
/// <param name="Loss">The training loss (cross-entropy, nats per token) of this step.</param>
/// <param name="ValidationLoss">The last validation loss, or <see langword="null"/> before the first evaluation.</param>
/// <param name="LearningRate">The learning rate used for this step.</param>
/// <param name="TokensPerSecond">Training tokens processed per second so far.</param>
/// <param name="Elapsed">Time since training started.</param>
public readonly record struct TrainingProgress(
    int Step, int TotalSteps, double Loss, double? ValidationLoss, double LearningRate, double TokensPerSecond, TimeSpan Elapsed)
{
    /// <summary>The estimated time left at the current speed.</summary>
    public TimeSpan Remaining => Step == 0 ? TimeSpan.Zero : Elapsed / Step * (TotalSteps - Step);
}
