namespace LmHead.Extensions.Generation;

/// <summary>
/// Finds stop sequences in streamed text. It releases text as soon as it cannot be part of a stop sequence and holds
/// back only the shortest tail that could still begin one, so a stop sequence split over several pushes never leaks.
/// </summary>
internal sealed class StopSequenceMatcher
{
    private readonly string[] _stops;
    private string _held = "";

    internal StopSequenceMatcher(IReadOnlyList<string> stops) => _stops = [.. stops];

    /// <summary>Whether a stop sequence was found; after that, nothing more is released.</summary>
    internal bool Stopped { get; private set; }

    /// <summary>Text held back because it could be the start of a stop sequence.</summary>
    internal string Held => _held;

    /// <summary>Adds text and returns what can be released now.</summary>
    internal string Push(string text)
    {
        if (Stopped)
        {
            return "";
        }

        string pending = _held + text;
        int first = -1;
        foreach (string stop in _stops)
        {
            int at = pending.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || at < first))
            {
                first = at;
            }
        }

        if (first >= 0)
        {
            Stopped = true;
            _held = "";
            return pending[..first];
        }

        int holdFrom = pending.Length;
        for (int start = Math.Max(0, pending.Length - LongestStop() + 1); start < pending.Length; start++)
        {
            string tail = pending[start..];
            if (_stops.Any(stop => stop.StartsWith(tail, StringComparison.Ordinal)))
            {
                holdFrom = start;
                break;
            }
        }

        _held = pending[holdFrom..];
        return pending[..holdFrom];
    }

    /// <summary>At the end of generation: releases the held text (it never became a stop sequence).</summary>
    internal string Flush()
    {
        string rest = Stopped ? "" : _held;
        _held = "";
        return rest;
    }

    private int LongestStop() => _stops.Length == 0 ? 0 : _stops.Max(s => s.Length);
}
