using System.Text;
using LmHead.Extensions.Generation;
using LmHead.Extensions.Models;
using LmHead.Extensions.Tokenization;
using Microsoft.ML.Tokenizers;

namespace LmHead.Extensions.Tests.Tokenization;

/// <summary>
/// A folder with only a SentencePiece <c>tokenizer.model</c> (protobuf), read by Microsoft.ML.Tokenizers'
/// <see cref="LlamaTokenizer"/>: the models are written field by field in the test, and every expected id list is worked
/// by hand from SentencePiece's BPE (the highest-scored piece merged first; a "▁" prepended; spaces spelled "▁"; with
/// byte fallback, a character outside the vocabulary spelled as its UTF-8 bytes).
/// </summary>
[TestClass]
public sealed class SentencePieceModelTests
{
    // Ids of ByteFallbackProtobuf.
    private const int Bos = 1, Eos = 2, Sp = 259, H = 260, O = 263, Ell = 266, SpHello = 268;

    private static int Byte(char c) => 3 + c;

    [TestMethod]
    public void ALlamaFolderWithOnlyTokenizerModelReadsTheSentencePieceProtobuf()
    {
        string folder = Directory.CreateTempSubdirectory().FullName;
        File.WriteAllBytes(Path.Combine(folder, SentencePieceModel.FileName), SentencePieceProtobuf());

        var tokenizer = LlamaPretrained.LoadTokenizer(folder);

        Assert.IsInstanceOfType<LlamaTokenizer>(tokenizer);
        // Pieces by score: ▁h (-1) > ll (-2) > ell (-3) > ▁hell (-4) > ▁hello (-5), so "▁hello" is one piece (id 9);
        // "<s>" is recognised as the BOS id 1 and no BOS is added on its own.
        CollectionAssert.AreEqual(new[] { 9 }, tokenizer.EncodeToIds("hello").ToArray());
        CollectionAssert.AreEqual(new[] { 1, 9 }, tokenizer.EncodeToIds("<s>hello").ToArray());
        Assert.AreEqual("hello", tokenizer.Decode([9]));
    }

    [TestMethod]
    public void ATokenizerModelThatIsNotAProtobufIsAModelFormatError()
    {
        string path = Path.Combine(Directory.CreateTempSubdirectory().FullName, SentencePieceModel.FileName);
        File.WriteAllBytes(path, [0xFF, 0xFF, 0xFF, 0xFF, 0x01]);

        var error = Assert.ThrowsExactly<ModelFormatException>(() => SentencePieceModel.Load(path));

        Assert.Contains(path, error.Message);
    }

    [TestMethod]
    public void StreamedChunksKeepTheSpaceBeforeEachWord()
    {
        var tokenizer = LoadByteFallback();
        // "hello", " hello", " ", "é" as two byte tokens, "h": the whole decodes to "hello hello éh".
        int[] ids = [SpHello, SpHello, Sp, Byte('\u00C3'), Byte('\u00A9'), H];
        Assert.AreEqual("hello hello \u00E9h", tokenizer.Decode(ids), "the hand-worked whole");

        var decoder = new IncrementalTextDecoder(tokenizer);
        var streamed = new StringBuilder();
        foreach (int id in ids)
        {
            streamed.Append(decoder.Push(id));
        }

        streamed.Append(decoder.Flush());
        Assert.AreEqual(tokenizer.Decode(ids), streamed.ToString());
    }

    [TestMethod]
    public void PromptsEncodeBosAndEosTextAsPlainTextUnlessAllowed()
    {
        var tokenizer = LoadByteFallback();

        // "▁hello</s>": ▁h, ll, ell, ▁hell, ▁hello; '<' '/' 's' '>' are no pieces, so they become their bytes.
        int[] plain = PromptEncoding.Encode(tokenizer, "hello</s>", allowSpecialTokens: false);
        int[] allowed = PromptEncoding.Encode(tokenizer, "hello</s>", allowSpecialTokens: true);
        CollectionAssert.AreEqual(new[] { SpHello, Byte('<'), Byte('/'), Byte('s'), Byte('>') }, plain);
        CollectionAssert.AreEqual(new[] { SpHello, Eos }, allowed);

        // "▁<s>hello": the "▁" stays alone before '<'; "hello" without "▁" merges ll, then ell.
        plain = PromptEncoding.Encode(tokenizer, "<s>hello", allowSpecialTokens: false);
        CollectionAssert.AreEqual(new[] { Sp, Byte('<'), Byte('s'), Byte('>'), H, Ell, O }, plain);
        Assert.AreEqual("<s>hello", tokenizer.Decode(plain));
        CollectionAssert.AreEqual(new[] { Bos, SpHello }, PromptEncoding.Encode(tokenizer, "<s>hello", allowSpecialTokens: true));
    }

    private static Tokenizer LoadByteFallback()
    {
        string folder = Directory.CreateTempSubdirectory().FullName;
        File.WriteAllBytes(Path.Combine(folder, SentencePieceModel.FileName), ByteFallbackProtobuf());
        return LlamaPretrained.LoadTokenizer(folder);
    }

    // A SentencePiece ModelProto written field by field (sentencepiece_model.proto): pieces (1), trainer_spec (2) with
    // model_type BPE, unk/bos/eos ids, and normalizer_spec (3) with a dummy prefix and escaped spaces.
    private static byte[] SentencePieceProtobuf() => SentencePieceProtobuf(
        [
            ("<unk>", 0, 2), ("<s>", 0, 3), ("</s>", 0, 3), ("\u2581", 0, 1), ("h", 0, 1), ("e", 0, 1), ("l", 0, 1), ("o", 0, 1),
            ("\u2581h", -1, 1), ("\u2581hello", -5, 1), ("ll", -2, 1), ("ell", -3, 1), ("\u2581hell", -4, 1),
        ], byteFallback: false);

    // The same pieces after Llama 2's layout: control tokens, the 256 byte pieces <0x00>..<0xFF> (type 6), then the
    // rest, with byte fallback: a character outside the vocabulary becomes its UTF-8 bytes.
    private static byte[] ByteFallbackProtobuf() => SentencePieceProtobuf(
        [
            ("<unk>", 0, 2), ("<s>", 0, 3), ("</s>", 0, 3), .. Enumerable.Range(0, 256).Select(b => ($"<0x{b:X2}>", 0f, 6)),
            ("\u2581", 0, 1), ("h", 0, 1), ("e", 0, 1), ("l", 0, 1), ("o", 0, 1),
            ("\u2581h", -1, 1), ("ll", -2, 1), ("ell", -3, 1), ("\u2581hell", -4, 1), ("\u2581hello", -5, 1),
        ], byteFallback: true);

    private static byte[] SentencePieceProtobuf((string Piece, float Score, int Type)[] pieces, bool byteFallback)
    {
        var model = new MemoryStream();
        foreach (var (piece, score, type) in pieces)
        {
            var entry = new MemoryStream();
            WriteBytes(entry, 1, Encoding.UTF8.GetBytes(piece));
            WriteTag(entry, 2, 5);
            entry.Write(BitConverter.GetBytes(score));
            WriteVarintField(entry, 3, type);
            WriteBytes(model, 1, entry.ToArray());
        }

        var trainer = new MemoryStream();
        WriteVarintField(trainer, 3, 2); // model_type: BPE
        WriteVarintField(trainer, 40, 0); // unk_id
        WriteVarintField(trainer, 41, 1); // bos_id
        WriteVarintField(trainer, 42, 2); // eos_id
        WriteVarintField(trainer, 35, byteFallback ? 1 : 0); // byte_fallback
        WriteBytes(model, 2, trainer.ToArray());
        var normalizer = new MemoryStream();
        WriteBytes(normalizer, 1, Encoding.UTF8.GetBytes("identity"));
        WriteVarintField(normalizer, 3, 1); // add_dummy_prefix
        WriteVarintField(normalizer, 4, 0); // remove_extra_whitespaces
        WriteVarintField(normalizer, 5, 1); // escape_whitespaces
        WriteBytes(model, 3, normalizer.ToArray());
        return model.ToArray();

        static void WriteVarint(Stream s, ulong v)
        {
            while (v >= 0x80)
            {
                s.WriteByte((byte)(v | 0x80));
                v >>= 7;
            }

            s.WriteByte((byte)v);
        }

        static void WriteTag(Stream s, int field, int wire) => WriteVarint(s, (ulong)((field << 3) | wire));
        static void WriteVarintField(Stream s, int field, int value)
        {
            WriteTag(s, field, 0);
            WriteVarint(s, (ulong)value);
        }

        static void WriteBytes(Stream s, int field, byte[] bytes)
        {
            WriteTag(s, field, 2);
            WriteVarint(s, (ulong)bytes.Length);
            s.Write(bytes);
        }
    }
}
