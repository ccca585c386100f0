namespace LmHead.Extensions.Generation;

/// <summary>The scheduler's part for output constraints (structured output).</summary>
internal sealed partial class GenerationScheduler
{
    /// <summary>
    /// Whether <paramref name="request"/> may take part in the coming step as far as its output constraint goes. The
    /// first visit of a grammar node walks the vocabulary's trie (milliseconds per node; seconds for a large schema's
    /// first request on a 50k vocabulary), which on the step thread would stall every stream. So a request whose next
    /// mask needs tables that are not built yet has them built on the thread pool, and sits out of the steps that would
    /// draw its token meanwhile (its prompt still prefills); the warm-up wakes the loop when done. Other requests keep
    /// decoding. A request's output does not change: it only waits.
    /// </summary>
    private bool ConstraintAllowsDrawing(GenerationRequest request) =>
        request.Pipeline.Constraint is not { } constraint || constraint.IsReadyToDraw(request.History, Wake) || !request.DrawsNextStep;
}
