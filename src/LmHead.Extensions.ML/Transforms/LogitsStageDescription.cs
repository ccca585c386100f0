using LmHead.Extensions.Decoding;
using Microsoft.ML;

namespace LmHead.Extensions.MachineLearning;

/// <summary>
/// What the one logits-to-logits estimator and transformer pair needs to know about a stage: its catalog name, the
/// tensor stage, how a row held in a managed array is computed, and how the stage is saved. One factory method per
/// catalog verb; the saved contract names they use never change (see <see cref="SavedContracts"/>).
/// </summary>
internal sealed class LogitsStageDescription
{
    private LogitsStageDescription(string stageName, ILogitsStage stage, RowFunction computeRow)
    {
        StageName = stageName;
        Stage = stage;
        ComputeRow = computeRow;
    }

    /// <summary>Computes one row: <paramref name="input"/> and the row's history (empty unless the stage reads one) into <paramref name="output"/>.</summary>
    public delegate void RowFunction(float[] input, ReadOnlySpan<float> history, float[] output);

    /// <summary>The stage's name as the catalog spells it, used in error messages.</summary>
    public string StageName { get; }

    /// <summary>The tensor stage the transformer applies (a <see cref="ITokenHistoryStage"/> for the penalties).</summary>
    public ILogitsStage Stage { get; }

    /// <summary>Computes one row (managed arithmetic where the tensor stage's results can be reproduced exactly).</summary>
    public RowFunction ComputeRow { get; }

    /// <summary>The <c>Vector&lt;Single&gt;</c> column of token ids a penalty reads, or <see langword="null"/>.</summary>
    public string? HistoryColumnName { get; private init; }

    /// <summary>The parameters the saved form stores, or <see langword="null"/> when the stage cannot be saved yet.</summary>
    public float[]? SavedParameters { get; private init; }

    /// <summary>Creates the saved form's <c>CustomMapping</c>, or <see langword="null"/> when the stage cannot be saved yet.</summary>
    public Func<MLContext, IEstimator<ITransformer>>? CreateSavedMapping { get; private init; }

    /// <summary><c>ScaleTemperature</c>: logits divided by T (T = 0 keeps only the first maximum).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="temperature"/> is negative, NaN or infinite.</exception>
    public static LogitsStageDescription Temperature(float temperature)
    {
        var scaler = new TemperatureScaler(temperature);
        return new("ScaleTemperature", scaler, (input, _, output) => TensorRows.Scale(scaler, input, output))
        {
            SavedParameters = [temperature],
            CreateSavedMapping = ml => ml.Transforms.CustomMapping(new SavedTemperatureFactory().GetMapping(), SavedContracts.ScaleTemperature),
        };
    }

    /// <summary><c>KeepTopK</c>: the k highest logits, the rest -infinity.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="k"/> is not positive.</exception>
    public static LogitsStageDescription TopK(int k)
    {
        var filter = new TopKFilter(k);
        return new("KeepTopK", filter, (input, _, output) => TensorRows.KeepTop(filter, input, output))
        {
            SavedParameters = [k],
            CreateSavedMapping = ml => ml.Transforms.CustomMapping(new SavedTopKFactory().GetMapping(), SavedContracts.KeepTopK),
        };
    }

    /// <summary><c>KeepTopP</c>, <c>KeepMinP</c> or <c>AddLogitBias</c>, described by a <see cref="LogitsFilter"/> parameter list.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A parameter is out of the stage's range.</exception>
    public static LogitsStageDescription Filter(float[] parameters)
    {
        var stage = LogitsFilter.Create(parameters);
        return new(LogitsFilter.StageName(parameters), stage, (input, _, output) => TensorRows.Apply(input, output, stage.Apply))
        {
            SavedParameters = parameters,
            CreateSavedMapping = ml => ml.Transforms.CustomMapping(new SavedLogitsFilterFactory().GetMapping(), SavedContracts.FilterLogits),
        };
    }

    /// <summary><c>NormalizeToProbabilities</c>: a numerically stable softmax.</summary>
    public static LogitsStageDescription Softmax()
    {
        var softmax = new SoftmaxStage();
        return new("NormalizeToProbabilities", softmax, (input, _, output) => TensorRows.Normalize(softmax.Normalizer, input, output))
        {
            SavedParameters = [],
            CreateSavedMapping = ml => ml.Transforms.CustomMapping(new SavedSoftmaxFactory().GetMapping(), SavedContracts.NormalizeToProbabilities),
        };
    }

    /// <summary><c>ApplyRepetitionPenalty</c>, <c>ApplyFrequencyPresencePenalty</c> or <c>ApplyOutputConstraint</c>: reads a history column; not saveable yet.</summary>
    public static LogitsStageDescription Penalty(LogitsPenalty penalty) =>
        new(penalty.StageName, penalty.Stage, (input, history, output) =>
        {
            var tokens = penalty.ToHistory(history);
            TensorRows.Apply(input, output, logits => penalty.Stage.Apply(logits, tokens));
        })
        {
            HistoryColumnName = penalty.HistoryColumnName,
        };
}
