using System.Text;
using Microsoft.ML.Tokenizers;

namespace LmHead.Extensions.Tokenization;

/// <summary>Encoding one piece of text: characters (or their byte tokens) merged by rank, lowest first.</summary>
internal sealed partial class SentencePieceBpeTokenizer
{
    private void EncodePiece(string text, int offset, int length, List<EncodedToken> tokens)
    {
        if (length == 0)
        {
            return;
        }

        bool startsWithSpace = text[offset] == ' ';
        bool prepend = _prepend switch
        {
            PrependScheme.EveryPiece => true,
            PrependScheme.Always => !startsWithSpace,
            PrependScheme.First => offset == 0 && !startsWithSpace,
            _ => false,
        };

        // Symbols: (id, start, end) over the original text; the prepended ▁ covers no original character.
        var ids = new List<int>(length + 1);
        var starts = new List<int>(length + 1);
        var ends = new List<int>(length + 1);
        if (prepend)
        {
            AddCharacter(Space.ToString(), offset, offset, ids, starts, ends);
        }

        for (int i = offset; i < offset + length;)
        {
            int width = char.IsHighSurrogate(text[i]) && i + 1 < offset + length && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
            string character = text[i] == ' ' ? Space.ToString() : text.Substring(i, width);
            AddCharacter(character, i, i + width, ids, starts, ends);
            i += width;
        }

        Merge(ids, starts, ends);
        for (int i = 0; i < ids.Count; i++)
        {
            tokens.Add(new EncodedToken(ids[i], _tokens.TryGetValue(ids[i], out string? value) ? value : string.Empty, new Range(starts[i], ends[i])));
        }
    }

    private void AddCharacter(string character, int start, int end, List<int> ids, List<int> starts, List<int> ends)
    {
        if (_vocabulary.TryGetValue(character, out int id))
        {
            ids.Add(id);
            starts.Add(start);
            ends.Add(end);
            return;
        }

        byte[] utf8 = Encoding.UTF8.GetBytes(character);
        if (utf8.All(b => _byteIds[b] >= 0))
        {
            foreach (byte b in utf8)
            {
                ids.Add(_byteIds[b]);
                starts.Add(start);
                ends.Add(end);
            }

            return;
        }

        if (_unknownId is not { } unknown)
        {
            throw new ArgumentException($"The text holds '{character}' (at index {start}), which the vocabulary has neither as a token nor as byte tokens, and the file names no unk_token.", nameof(character));
        }

        if (_fuseUnknown && ids.Count > 0 && ids[^1] == unknown && ends[^1] == start)
        {
            ends[^1] = end;
            return;
        }

        ids.Add(unknown);
        starts.Add(start);
        ends.Add(end);
    }

    // Hugging Face's Word::merge_all: repeatedly merge the adjacent pair with the lowest rank, the leftmost on a tie.
    private void Merge(List<int> ids, List<int> starts, List<int> ends)
    {
        int n = ids.Count;
        if (n < 2)
        {
            return;
        }

        int[] next = new int[n], previous = new int[n];
        for (int i = 0; i < n; i++)
        {
            next[i] = i + 1 < n ? i + 1 : -1;
            previous[i] = i - 1;
        }

        int[] id = [.. ids];
        int[] end = [.. ends];
        var queue = new PriorityQueue<(int Left, int LeftId, int RightId), (int Rank, int Position)>();
        for (int i = 0; i + 1 < n; i++)
        {
            Enqueue(i);
        }

        bool[] removed = new bool[n];
        while (queue.TryDequeue(out var pair, out _))
        {
            int left = pair.Left;
            int right = next[left];
            if (removed[left] || right < 0 || id[left] != pair.LeftId || id[right] != pair.RightId)
            {
                continue;
            }

            id[left] = _merges[(pair.LeftId, pair.RightId)].Merged;
            end[left] = end[right];
            removed[right] = true;
            next[left] = next[right];
            if (next[right] >= 0)
            {
                previous[next[right]] = left;
            }

            if (previous[left] >= 0)
            {
                Enqueue(previous[left]);
            }

            Enqueue(left);
        }

        var keptIds = new List<int>(n);
        var keptStarts = new List<int>(n);
        var keptEnds = new List<int>(n);
        for (int i = 0; i >= 0; i = next[i])
        {
            keptIds.Add(id[i]);
            keptStarts.Add(starts[i]);
            keptEnds.Add(end[i]);
        }

        ids.Clear();
        ids.AddRange(keptIds);
        starts.Clear();
        starts.AddRange(keptStarts);
        ends.Clear();
        ends.AddRange(keptEnds);

        void Enqueue(int left)
        {
            int right = next[left];
            if (right >= 0 && _merges.TryGetValue((id[left], id[right]), out var merge))
            {
                queue.Enqueue((left, id[left], id[right]), (merge.Rank, left));
            }
        }
    }
}
