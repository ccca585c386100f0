namespace LmHead.Extensions.Training;

/// <summary>What a <see cref="Gpt2Trainer"/> run did.</summary>
/// <param name="Steps">Steps completed (fewer than planned when cancelled).</param>
/// <param name="FinalLoss">The training loss of the last step.</param>
/// <param name="ValidationLoss">The validation loss at the end.</param>
/// <param name="Elapsed">Wall-clock training time.</param>
/// <param name="Cancelled">Whether the run stopped early on cancellation (the checkpoint was still written).</param>
public sealed record TrainingResult(int Steps, double FinalLoss, double ValidationLoss, TimeSpan Elapsed, bool Cancelled);
