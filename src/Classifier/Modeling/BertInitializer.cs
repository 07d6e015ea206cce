using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Triage.Classifier.Modeling;

/// <summary>
/// BERT's initialisation (Hugging Face <c>_init_weights</c>): Linear and Embedding weights N(0, 0.02), biases zero,
/// LayerNorm weight one and bias zero, padding embedding row zero. TorchSharp's defaults (N(0, 1) embeddings,
/// Kaiming-uniform linears) give a tied MLM decoder logits in the hundreds and a far slower start.
/// </summary>
public static class BertInitializer
{
    public const double Std = 0.02;

    public static void Apply(nn.Module module, int padTokenId = 0)
    {
        ArgumentNullException.ThrowIfNull(module);
        using var mode = no_grad();
        foreach (var (_, child) in module.named_modules())
        {
            switch (child)
            {
                case Linear linear:
                    nn.init.normal_(linear.weight!, 0, Std);
                    if (linear.bias is { } bias)
                    {
                        nn.init.zeros_(bias);
                    }

                    break;
                case Embedding embedding:
                    nn.init.normal_(embedding.weight!, 0, Std);
                    if (padTokenId >= 0 && padTokenId < embedding.weight!.shape[0])
                    {
                        embedding.weight[padTokenId].zero_();
                    }

                    break;
                case LayerNorm norm:
                    nn.init.ones_(norm.weight!);
                    nn.init.zeros_(norm.bias!);
                    break;
            }
        }
    }
}
