using System.Globalization;
using System.Security;
using System.Text;
using Triage.Classifier.Evaluation;

namespace Triage.Worker.Cli;

/// <summary>A reliability diagram as SVG: accuracy against confidence per bin, the diagonal of perfect calibration, and
/// each bin's share of documents, so an operator can see where routing thresholds are trustworthy.</summary>
internal static class ReliabilityDiagram
{
    public static string Svg(IReadOnlyList<ReliabilityBin> bins, string title, double ece)
    {
        ArgumentNullException.ThrowIfNull(bins);
        var c = CultureInfo.InvariantCulture;
        const double left = 60, top = 40, size = 300;
        var total = Math.Max(1, bins.Sum(b => b.Count));
        double X(double v) => left + (v * size);
        double Y(double v) => top + size - (v * size);
        var svg = new StringBuilder();
        svg.AppendLine(c, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{left + size + 40}\" height=\"{top + size + 60}\" font-family=\"sans-serif\" font-size=\"11\">");
        svg.AppendLine(c, $"<text x=\"{left}\" y=\"20\" font-size=\"13\">{SecurityElement.Escape(title)} — ECE {ece:F4}</text>");
        svg.AppendLine(c, $"<rect x=\"{left}\" y=\"{top}\" width=\"{size}\" height=\"{size}\" fill=\"none\" stroke=\"#444\"/>");
        for (var tick = 0; tick <= 10; tick += 2)
        {
            var v = tick / 10.0;
            svg.AppendLine(c, $"<text x=\"{X(v):F1}\" y=\"{top + size + 14}\" text-anchor=\"middle\">{v:F1}</text><text x=\"{left - 6}\" y=\"{Y(v) + 4:F1}\" text-anchor=\"end\">{v:F1}</text>");
        }

        foreach (var b in bins)
        {
            var width = (b.Upper - b.Lower) * size;
            // Share of documents in the bin (grey, bottom) and the bin's accuracy (blue); the gap to the diagonal is the miscalibration.
            var share = (double)b.Count / total;
            svg.AppendLine(c, $"<rect x=\"{X(b.Lower):F1}\" y=\"{Y(share):F1}\" width=\"{width - 1:F1}\" height=\"{share * size:F1}\" fill=\"#ccc\"><title>{b.Count} documents</title></rect>");
            if (b.Count > 0)
            {
                svg.AppendLine(c, $"<rect x=\"{X(b.Lower):F1}\" y=\"{Y(b.Accuracy):F1}\" width=\"{width - 1:F1}\" height=\"{b.Accuracy * size:F1}\" fill=\"#1f77b4\" fill-opacity=\"0.7\"><title>confidence {b.Confidence:F3}, accuracy {b.Accuracy:F3}, {b.Count} documents</title></rect>");
            }
        }

        svg.AppendLine(c, $"<line x1=\"{X(0)}\" y1=\"{Y(0)}\" x2=\"{X(1)}\" y2=\"{Y(1)}\" stroke=\"#d62728\" stroke-dasharray=\"4 3\"/>");
        svg.AppendLine(c, $"<text x=\"{left + (size / 2)}\" y=\"{top + size + 32}\" text-anchor=\"middle\">confidence (calibrated)</text>");
        svg.AppendLine(c, $"<text x=\"{left - 40}\" y=\"{top + (size / 2)}\" text-anchor=\"middle\" transform=\"rotate(-90 {left - 40} {top + (size / 2)})\">accuracy</text>");
        svg.AppendLine(c, $"<text x=\"{left}\" y=\"{top + size + 50}\" font-size=\"9\">blue: accuracy per bin; grey: share of documents; dashed: perfect calibration</text>");
        svg.AppendLine("</svg>");
        return svg.ToString();
    }
}
