using System.Globalization;

/// <summary>The Generate app's command line: <c>[explain] [prompt] [--model dir] [-t T] [-k K] [-n N] [--seed S] [--stop text]... [--steps N]</c>.</summary>
internal sealed record GenerateCommandLine(
    bool Explain, string Prompt, string? Model, float Temperature, int TopK, int MaxTokens, ulong? Seed, IReadOnlyList<string> Stops, int Steps, int Candidates,
    bool StrictContext, string? Png)
{
    public const string Usage = """
        usage: Generate [prompt] [options]            stream text from a prompt
               Generate explain [prompt] [options]    show how the LM head picks each next token
        options:
          --model <folder>      a GPT-2, Llama, Qwen2 or Mistral folder in the Hugging Face layout (default: the shipped models/tiny-shakespeare)
          -t, --temperature <T> 0 = greedy (default 0.7)
          -k, --top-k <k>       keep the k most likely tokens (default 50; 0 = off)
          -n, --max-tokens <n>  tokens to generate (default 120)
          --strict-context      refuse a prompt longer than the model's context and stop when it is full (default:
                                keep the prompt's last tokens and slide the window, so generation runs to -n)
          --seed <s>            reproducible output
          --stop <text>         stop before this text (repeatable; "\n\n" style escapes allowed)
          --steps <n>           explain: how many tokens to step through (default 3)
          --candidates <n>      explain: rows in the table (default 10)
          --png <file>          explain: also write a chart of the candidates' probabilities after each stage
        """;

    public static GenerateCommandLine? Parse(string[] args)
    {
        bool explain = args.Length > 0 && args[0] == "explain";
        string prompt = "ROMEO:";
        string? model = null;
        float temperature = 0.7f;
        int topK = 50, maxTokens = 120, steps = 3, candidates = 10;
        ulong? seed = null;
        string? png = null;
        var stops = new List<string>();
        bool promptSeen = false, strictContext = false;
        for (int i = explain ? 1 : 0; i < args.Length; i++)
        {
            string arg = args[i];
            string Next() => i + 1 < args.Length ? args[++i] : throw new FormatException($"{arg} needs a value");
            try
            {
                switch (arg)
                {
                    case "--model": model = Next(); break;
                    case "-t" or "--temperature": temperature = float.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "-k" or "--top-k": topK = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "-n" or "--max-tokens": maxTokens = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--seed": seed = ulong.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--stop": stops.Add(System.Text.RegularExpressions.Regex.Unescape(Next())); break;
                    case "--steps": steps = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--candidates": candidates = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--strict-context": strictContext = true; break;
                    case "--png": png = Next(); break;
                    case "-h" or "--help": Console.WriteLine(Usage); return null;
                    default:
                        if (arg.StartsWith('-') || promptSeen)
                        {
                            throw new FormatException($"unexpected argument '{arg}'");
                        }

                        prompt = System.Text.RegularExpressions.Regex.Unescape(arg);
                        promptSeen = true;
                        break;
                }
            }
            catch (FormatException ex)
            {
                Console.Error.WriteLine($"{ex.Message}\n{Usage}");
                return null;
            }
        }

        return new GenerateCommandLine(explain, prompt, model, temperature, topK, maxTokens, seed, stops, steps, candidates, strictContext, png);
    }
}
