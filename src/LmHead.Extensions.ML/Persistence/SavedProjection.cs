using LmHead.Extensions.Decoding;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using static TorchSharp.torch;

namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// The saved form of <see cref="LogitsProjectionTransformer"/> (format v2). The weights are stored by a stock
/// <c>ReplaceMissingValues</c> transform fitted by slot on one row that holds them: ML.NET writes that row raw and reads it
/// back in one piece, instead of the compressed lookup table that <c>MapValue</c> re-compresses on every load (format v1
/// took 11-24 s to load a 768 x 50257 head and copied the whole matrix on every scored row).
/// </summary>
/// <remarks>
/// <para>The chain a loaded model runs, per row:</para>
/// <list type="number">
/// <item><c>CopyColumns</c> the hidden state to <c>LmHead.Input</c>; a <c>CustomMapping</c> adds the constant key 0;
/// <c>MapValue</c> maps it to a small header: V, d, has-bias and a 128-bit id of the saved weights.</item>
/// <item>A <c>CustomMapping</c> (<see cref="SavedContracts.ProjectionWeightRequest"/>) looks the id up in
/// <see cref="SavedProjectionSlots"/>. Until the projection has been rebuilt it asks for the weights by emitting NaN
/// vectors whose sizes are the powers of two that add up to the weights' length L; afterwards it emits empty sparse
/// vectors of the same sizes. (A loaded <c>CustomMapping</c> can only declare vector sizes fixed at compile time, and
/// <c>ReplaceMissingValues</c> needs a vector of exactly L slots, so <c>ConcatenateColumns</c> joins the powers of
/// two.)</item>
/// <item><c>ReplaceMissingValues</c> fills each NaN slot with the stored weight of that slot: the first row receives the
/// weights, later rows an empty sparse vector at no cost.</item>
/// <item>A <c>CustomMapping</c> (<see cref="SavedContracts.ProjectToLogitsV2"/>) rebuilds the <see cref="LogitsProjector"/>
/// once from the weights it receives, keeps it in the slot shared by every loaded copy of the same saved model, and
/// projects each row exactly as before saving.</item>
/// </list>
/// </remarks>
internal static class SavedProjection
{
    /// <summary>Header layout: V, d, has-bias, then the id as eight 16-bit values.</summary>
    private const int HeaderLength = 3 + IdWords;

    private const int IdWords = 8;

    /// <summary>The largest power of two a request column carries (2^30; a float array holds fewer than 2^31 values).</summary>
    internal const int MaxBit = 30;

    public static TransformerChain<ITransformer> Build(MLContext ml, LogitsProjectionTransformer stage, IDataView emptyInput)
    {
        float[] payload = stage.SavedParameters();
        int v = (int)payload[0], d = (int)payload[1];
        bool hasBias = payload[2] != 0;
        int length = payload.Length - 3;
        int nonFinite = 0;
        foreach (float value in payload.AsSpan(3))
        {
            nonFinite += float.IsFinite(value) ? 0 : 1;
        }

        if (nonFinite > 0)
        {
            throw new NotSupportedException(
                $"ProjectToLogits: the weights or bias hold {nonFinite} NaN or infinite values; a model can only be saved with finite weights.");
        }

        float[] header = new float[HeaderLength];
        header[0] = v;
        header[1] = d;
        header[2] = hasBias ? 1 : 0;
        Span<byte> id = stackalloc byte[16];
        Guid.NewGuid().TryWriteBytes(id);
        for (int i = 0; i < IdWords; i++)
        {
            header[3 + i] = BitConverter.ToUInt16(id[(2 * i)..]);
        }

        var bits = RequestBits(length);
        var requestColumns = bits.Select(SavedColumns.RequestBit).ToArray();
        var head = new EstimatorChain<ITransformer>()
            .Append<ITransformer>(ml.Transforms.CopyColumns(SavedColumns.Input, stage.InputColumnName))
            .Append<ITransformer>(ml.Transforms.CustomMapping(new SavedParameterKeyFactory().GetMapping(), SavedContracts.ParameterKey))
            .Append<ITransformer>(ml.Transforms.Conversion.MapValue(
                SavedColumns.Parameters, [new KeyValuePair<uint, float[]>(0, header)], SavedColumns.ParameterKey))
            .Append<ITransformer>(ml.Transforms.CustomMapping(new SavedWeightRequestFactory().GetMapping(), SavedContracts.ProjectionWeightRequest))
            .Append<ITransformer>(ml.Transforms.Concatenate(SavedColumns.Request, requestColumns))
            .Fit(emptyInput);

        var weights = WeightsFitter(ml).Fit(OneRow(ml, payload, length));
        var chain = head.Append<ITransformer>(weights);
        var afterWeights = chain.Transform(emptyInput);
        var tail = new EstimatorChain<ITransformer>()
            .Append<ITransformer>(ml.Transforms.CustomMapping(new SavedProjectionV2Factory().GetMapping(), SavedContracts.ProjectToLogitsV2))
            .Append<ITransformer>(ml.Transforms.CopyColumns(stage.OutputColumnName, SavedColumns.Output))
            .Append<ITransformer>(ml.Transforms.DropColumns(
                [SavedColumns.Input, SavedColumns.ParameterKey, SavedColumns.Parameters, .. requestColumns, SavedColumns.Request, SavedColumns.Weights, SavedColumns.Output]))
            .Fit(afterWeights);
        foreach (var transformer in tail)
        {
            chain = chain.Append(transformer);
        }

        return chain;
    }

    /// <summary>The powers of two (as bit indices, largest first) that add up to <paramref name="length"/>.</summary>
    internal static int[] RequestBits(int length) =>
        [.. Enumerable.Range(0, MaxBit + 1).Reverse().Where(bit => (length & (1 << bit)) != 0)];

    /// <summary>Reads V, d and has-bias from a header and returns the weights' length.</summary>
    internal static (int V, int D, bool HasBias, int Length) ReadHeader(float[] header)
    {
        if (header.Length != HeaderLength)
        {
            throw new InvalidDataException($"ProjectToLogits: the saved header has {header.Length} values, expected {HeaderLength}; the model file is corrupt.");
        }

        const string Contract = SavedContracts.ProjectToLogitsV2;
        int v = SavedParameterChecks.RequireInteger(Contract, header, 0, "V", 1, int.MaxValue);
        int d = SavedParameterChecks.RequireInteger(Contract, header, 1, "d", 1, int.MaxValue);
        bool hasBias = SavedParameterChecks.RequireInteger(Contract, header, 2, "has-bias", 0, 1) == 1;
        for (int i = 0; i < IdWords; i++)
        {
            SavedParameterChecks.RequireInteger(Contract, header, 3 + i, $"id word {i}", 0, ushort.MaxValue);
        }

        long length = ((long)v * d) + (hasBias ? v : 0);
        if (length >= int.MaxValue)
        {
            throw new InvalidDataException($"ProjectToLogits: the saved header gives V = {v}, d = {d}; the model file is corrupt.");
        }

        return (v, d, hasBias, (int)length);
    }

    /// <summary>The id of the saved weights, from a header.</summary>
    internal static Guid ReadId(float[] header)
    {
        ReadHeader(header);
        Span<byte> id = stackalloc byte[16];
        for (int i = 0; i < IdWords; i++)
        {
            BitConverter.TryWriteBytes(id[(2 * i)..], (ushort)header[3 + i]);
        }

        return new Guid(id);
    }

    // Maximum by slot over a single row is that row, bit for bit (a finite value, -0 included); ML.NET stores the slot
    // values raw (not compressed by its binary format, only by the zip).
    private static MissingValueReplacingEstimator WeightsFitter(MLContext ml) =>
        ml.Transforms.ReplaceMissingValues(
            SavedColumns.Weights, SavedColumns.Request, MissingValueReplacingEstimator.ReplacementMode.Maximum, imputeBySlot: true);

    private static IDataView OneRow(MLContext ml, float[] payload, int length)
    {
        var definition = SchemaDefinition.Create(typeof(WeightsRow));
        definition[SavedColumns.Request].ColumnType = new VectorDataViewType(NumberDataViewType.Single, length);
        var values = new VBuffer<float>(length, payload.AsSpan(3).ToArray());
        return ml.Data.LoadFromEnumerable([new WeightsRow { Values = values }], definition);
    }

    private sealed class WeightsRow
    {
        [ColumnName(SavedColumns.Request)]
        public VBuffer<float> Values { get; set; }
    }
}
