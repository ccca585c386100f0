using LmHead.Extensions.Decoding;
using LmHead.Extensions.Decoding.Cpu;
using LmHead.Extensions.Generation;
using static TorchSharp.torch;

namespace LmHead.Extensions.Tests.Generation;

[TestClass]
public sealed class BatchedHeadProjectionTests
{
    /// <summary>V not a multiple of the kernel's row block, d with a tail after the 32-wide blocks.</summary>
    private const int Vocabulary = 2500, Hidden = 77;

    private static Tensor RandomMatrix(int rows, int columns, ulong seed)
    {
        var generator = new Generator(seed);
        return randn(rows, columns, generator: generator);
    }

    [TestMethod]
    public void EachRowIsBitIdenticalWhateverTheBatchAroundIt()
    {
        using var weight = RandomMatrix(Vocabulary, Hidden, 1);
        using var hidden = RandomMatrix(16, Hidden, 2);
        using var projector = new LogitsProjector(weight);
        float[][] alone = [.. Enumerable.Range(0, 16).Select(b =>
        {
            using var row = hidden[b..(b + 1)];
            using var logits = BatchedHeadProjection.Project(projector, row);
            return logits.data<float>().ToArray();
        })];

        foreach (int batch in new[] { 2, 3, 7, 16 })
        {
            // Row b sits at a different position beside different companions in every batch size.
            using var order = tensor(Enumerable.Range(0, batch).Select(i => (long)((i * 5 + batch) % 16)).ToArray());
            using var rows = hidden.index_select(0, order);
            using var logits = BatchedHeadProjection.Project(projector, rows);
            long[] picked = order.data<long>().ToArray();
            for (int i = 0; i < batch; i++)
            {
                using var row = logits[i];
                CollectionAssert.AreEqual(alone[picked[i]], row.data<float>().ToArray(), $"row {picked[i]} at position {i} of a batch of {batch}");
            }
        }
    }

    [TestMethod]
    public void MatchesAPlainDoubleComputation()
    {
        using var weight = RandomMatrix(Vocabulary, Hidden, 3);
        using var hidden = RandomMatrix(5, Hidden, 4);
        using var projector = new LogitsProjector(weight);
        var w = new float[Vocabulary, Hidden];
        float[] flat = weight.data<float>().ToArray();
        Buffer.BlockCopy(flat, 0, w, 0, flat.Length * sizeof(float));

        using var logits = BatchedHeadProjection.Project(projector, hidden);

        Assert.AreEqual(ScalarType.Float32, logits.dtype);
        CollectionAssert.AreEqual(new long[] { 5, Vocabulary }, logits.shape);
        for (int b = 0; b < 5; b++)
        {
            using var row = hidden[b];
            using var actual = logits[b];
            Reference.AssertClose(Reference.Project(w, null, row.data<float>().ToArray()), actual.data<float>().ToArray(), 1e-4f, $"row {b}");
        }
    }

    [TestMethod]
    public void AFloat32RowEqualsTheSingleRowProjectionOfTheHead()
    {
        // The scheduler's batched head and LogitsProjector sum in the same order, so batching changes no logit at all.
        using var weight = RandomMatrix(Vocabulary, Hidden, 5);
        using var hidden = RandomMatrix(4, Hidden, 6);
        using var projector = new LogitsProjector(weight) { UseSimdKernel = true };

        using var logits = BatchedHeadProjection.Project(projector, hidden);

        for (int b = 0; b < 4; b++)
        {
            using var row = hidden[b];
            using var single = projector.Project(row);
            using var actual = logits[b];
            CollectionAssert.AreEqual(single.data<float>().ToArray(), actual.data<float>().ToArray(), $"row {b}");
        }
    }

    [TestMethod]
    [DataRow(2503, 96)]
    [DataRow(1027, 45)]
    public void SixteenRowsEqualTheSingleRowProjectionWhateverTheShape(int vocabulary, int hidden)
    {
        // Sixteen rows take the four-by-four tiles where the CPU has them; a vocabulary that is not a multiple of four
        // leaves rows for the one-row kernel, and a hidden size below or off the 32-wide blocks a tail.
        using var weight = RandomMatrix(vocabulary, hidden, 7);
        using var states = RandomMatrix(16, hidden, 8);
        using var projector = new LogitsProjector(weight) { UseSimdKernel = true };

        using var logits = BatchedHeadProjection.Project(projector, states);

        for (int b = 0; b < 16; b++)
        {
            using var row = states[b];
            using var single = projector.Project(row);
            using var actual = logits[b];
            CollectionAssert.AreEqual(single.data<float>().ToArray(), actual.data<float>().ToArray(), $"row {b}");
        }
    }

    [TestMethod]
    public void AHalfPrecisionHeadIsProjectedRowByRowAsTheSingleRowPathDoes()
    {
        using var full = RandomMatrix(Vocabulary, Hidden, 7);
        using var weight = full.to_type(ScalarType.BFloat16);
        using var hidden = RandomMatrix(3, Hidden, 8);
        using var projector = new LogitsProjector(weight);

        using var logits = BatchedHeadProjection.Project(projector, hidden);

        Assert.AreEqual(ScalarType.Float32, logits.dtype);
        for (int b = 0; b < 3; b++)
        {
            using var row = hidden[b];
            using var single = projector.Project(row);
            using var expected = single.to_type(ScalarType.Float32);
            using var actual = logits[b];
            CollectionAssert.AreEqual(expected.data<float>().ToArray(), actual.data<float>().ToArray(), $"row {b}");
        }
    }

    [TestMethod]
    [DataRow(2503, 96, 5)]
    [DataRow(2503, 96, 7)]
    [DataRow(1027, 45, 13)]
    [DataRow(1027, 45, 18)]
    [DataRow(1027, 45, 2)]
    [DataRow(2503, 96, 3)]
    public void RowsBesideTheFourByFourGroupsEqualTheSingleRowProjection(int vocabulary, int hidden, int batch)
    {
        // A batch that is not a multiple of four (or two) leaves rows of hidden states for the pair kernel beside the 4 × 4
        // (8 × 2) tiles, and a vocabulary that is not a multiple of eight leaves weight rows of each block for the 4 × 4,
        // two-row and one-row kernels; 45 columns leave a tail of 13 after the 32-wide steps: every row must still equal its
        // single-row projection, with the 8 × 2 tile, with the 4 × 4 tile only, and with neither.
        using var weight = RandomMatrix(vocabulary, hidden, 9);
        using var states = RandomMatrix(batch, hidden, 10);
        using var projector = new LogitsProjector(weight) { UseSimdKernel = true };
        float[][] singles = [.. Enumerable.Range(0, batch).Select(b =>
        {
            using var row = states[b];
            using var single = projector.Project(row);
            return single.data<float>().ToArray();
        })];

        bool before = WideBatchKernel.UseFourByFourTile, beforeEight = WideBatchKernel.UseEightByTwoTile;
        try
        {
            foreach (var (eightByTwo, fourByFour) in new[] { (true, true), (false, true), (false, false) })
            {
                WideBatchKernel.UseEightByTwoTile = eightByTwo;
                WideBatchKernel.UseFourByFourTile = fourByFour;
                using var logits = BatchedHeadProjection.Project(projector, states);
                for (int b = 0; b < batch; b++)
                {
                    using var actual = logits[b];
                    CollectionAssert.AreEqual(singles[b], actual.data<float>().ToArray(), $"row {b} of {batch}, 8 × 2 tile {eightByTwo}, 4 × 4 tile {fourByFour}");
                }
            }
        }
        finally
        {
            WideBatchKernel.UseFourByFourTile = before;
            WideBatchKernel.UseEightByTwoTile = beforeEight;
        }
    }

    /// <summary>
    /// GPT-2-like weights, N(0, 0.02²), in a half dtype (in float16 0.24 % of them are subnormal), with every 997th weight a
    /// float16 subnormal as well: about one step of 64 columns in six holds one (its chunks take the exact widening), the
    /// others the shortcut.
    /// </summary>
    private static Tensor HalfWeights(ScalarType dtype, int rows, int columns, ulong seed)
    {
        using var normal = RandomMatrix(rows, columns, seed).mul_(0.02);
        float[] values = normal.data<float>().ToArray();
        for (int i = 0; i < values.Length; i += 997)
        {
            values[i] = (i % 2 == 0 ? 1 : -1) * (float)(3e-6 * (1 + (i % 5)));
        }

        using var full = tensor(values, [rows, columns]);
        return full.to_type(dtype);
    }

    private static float[][] SingleRowLogits(LogitsProjector projector, Tensor states) =>
        [.. Enumerable.Range(0, (int)states.size(0)).Select(b =>
        {
            using var row = states[b];
            using var single = projector.Project(row);
            using var widened = single.to_type(ScalarType.Float32);
            return widened.data<float>().ToArray();
        })];

    [TestMethod]
    [DataRow(ScalarType.Float16, 2503, 96, 5)]
    [DataRow(ScalarType.Float16, 1027, 45, 9)]
    [DataRow(ScalarType.Float16, 1031, 130, 4)]
    [DataRow(ScalarType.Float16, 257, 2112, 6)]
    [DataRow(ScalarType.Float16, 300, 64, 1)]
    [DataRow(ScalarType.BFloat16, 2503, 96, 5)]
    [DataRow(ScalarType.BFloat16, 1027, 45, 9)]
    [DataRow(ScalarType.BFloat16, 1031, 130, 2)]
    public void AHalfPrecisionHeadReadOnceForTheBatchEqualsTheSingleRowProjection(ScalarType dtype, int vocabulary, int hidden, int batch)
    {
        // Each weight row is read once for the batch and widened once for every four states; every logit must still be
        // the single-state kernel's, rounded to the head's dtype: batches of 1-9 states (groups of four and the rest),
        // shapes with and without a 64-column loop, a chunk of 32 and a tail left, 2112 columns (a second word of
        // subnormal flags), subnormal float16 weights spread over the matrix.
        using var weight = HalfWeights(dtype, vocabulary, hidden, 11);
        using var states = RandomMatrix(batch, hidden, 12);
        using var projector = new LogitsProjector(weight);
        float[][] singles = SingleRowLogits(projector, states);

        using var input = states.contiguous();
        var output = new float[batch * vocabulary];
        bool done;
        unsafe
        {
            fixed (byte* w = weight.bytes)
            fixed (byte* h = input.bytes)
            fixed (float* y = output)
            {
                var format = dtype == ScalarType.Float16 ? MatrixVectorKernel.WeightFormat.Float16 : MatrixVectorKernel.WeightFormat.BFloat16;
                done = MatrixVectorKernel.TryMultiplyHalfBatch((nint)w, format, vocabulary, hidden, (float*)h, batch, y, projector.Float16Facts());
            }
        }

        Assert.AreEqual(MatrixVectorKernel.IsWideAccelerated, done, "the batched half-precision kernel runs wherever AVX-512 does");
        using (var one = states[0..1])
        using (var alone = BatchedHeadProjection.Project(projector, one))
        {
            CollectionAssert.AreEqual(singles[0], alone.data<float>().ToArray(), $"{dtype} a batch of one");
        }

        using var logits = BatchedHeadProjection.Project(projector, states);
        for (int b = 0; b < batch; b++)
        {
            using var actual = logits[b];
            CollectionAssert.AreEqual(singles[b], actual.data<float>().ToArray(), $"{dtype} state {b} of {batch} through the projection");
            if (done)
            {
                CollectionAssert.AreEqual(singles[b], output.Skip(b * vocabulary).Take(vocabulary).ToArray(), $"{dtype} state {b} of {batch} from the kernel");
            }
        }
    }

    [TestMethod]
    public void AHalfHeadTheBatchedKernelDeclinesIsStillProjectedAsEachStateAlone()
    {
        // Float16 weights holding an infinity are not known finite, and a state of 1e30 overflows h · 2^112: the batched
        // kernel declines both (the single-state kernel takes its exact paths there) and every row is projected alone.
        using var weight = HalfWeights(ScalarType.Float16, 1027, 96, 13);
        using var states = RandomMatrix(3, 96, 14);
        using (var huge = states[1])
        {
            huge.mul_(1e30);
        }

        using var projector = new LogitsProjector(weight);
        float[][] singles = SingleRowLogits(projector, states);
        using (var logits = BatchedHeadProjection.Project(projector, states))
        {
            for (int b = 0; b < 3; b++)
            {
                using var actual = logits[b];
                CollectionAssert.AreEqual(singles[b], actual.data<float>().ToArray(), $"state {b}, a huge state in the batch");
            }
        }

        using (no_grad())
        {
            weight[5, 7] = tensor(float.PositiveInfinity).to_type(ScalarType.Float16);
        }

        using var finiteStates = RandomMatrix(3, 96, 15);
        float[][] withInfinity = SingleRowLogits(projector, finiteStates);
        using var infinite = BatchedHeadProjection.Project(projector, finiteStates);
        for (int b = 0; b < 3; b++)
        {
            using var actual = infinite[b];
            CollectionAssert.AreEqual(withInfinity[b], actual.data<float>().ToArray(), $"state {b}, an infinite weight");
        }
    }
}
