using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Triage.Worker.Hosting;

/// <summary>The <c>Model</c> section: which model directory to load and where to run it.</summary>
internal sealed class ModelOptions
{
    public const string SectionName = "Model";
    public const string DefaultPath = "models/bbc-news";
    public const string DefaultDevice = "auto";

    /// <summary>A Triage model directory (config.json, vocab.txt, model.safetensors, triage.json). Default
    /// <c>models/bbc-news</c>; a relative path is looked up in the current directory, then above the binary (the
    /// repository a build runs from).</summary>
    [Required]
    public string Path { get; set; } = DefaultPath;

    /// <summary><c>auto</c> (CUDA when present, else CPU), <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>. Default auto.</summary>
    [Required]
    [RegularExpression("^(auto|cpu|cuda|cuda:[0-9]+)$", ErrorMessage = "Model:Device must be auto, cpu, cuda or cuda:N.")]
    public string Device { get; set; } = DefaultDevice;

    /// <summary>libtorch intra-op threads; 0 (default) lets the runtime choose.</summary>
    [Range(0, 1024)]
    public int Threads { get; set; }
}

[OptionsValidator]
internal sealed partial class ModelOptionsValidator : IValidateOptions<ModelOptions>;
