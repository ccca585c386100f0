namespace LmHead.Extensions.Decoding;

/// <summary>Default values of the decoding options, in one place.</summary>
public static class DecodingDefaults
{
    /// <summary>The temperature of the seed's <c>lm_head</c>: 0.7.</summary>
    public const float Temperature = 0.7f;

    /// <summary>The top-k of the seed's <c>lm_head</c>: 50.</summary>
    public const int TopK = 50;

    /// <summary>How many candidates a <see cref="NextTokenResult"/> reports: 10.</summary>
    public const int CandidateCount = 10;
}
