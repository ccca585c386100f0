namespace LmHead.Extensions.Decoding;

/// <summary>A model whose output embeddings can feed a <see cref="LogitsProjector"/> (Hugging Face's <c>get_output_embeddings()</c>).</summary>
public interface IHasOutputEmbeddings
{
    /// <summary>Returns a new projector over the model's output-embedding matrix; the caller disposes it.</summary>
    /// <returns>A projector sharing the model's parameters (no copy).</returns>
    LogitsProjector GetOutputEmbeddings();
}
