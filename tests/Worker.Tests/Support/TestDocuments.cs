using System.Text;
using Triage.Worker.Queues;

namespace Triage.Worker.Tests.Support;

/// <summary>Seeded synthetic envelopes <c>{"id": "doc-N", "text": …}</c> with MessageId <c>m-N</c>.</summary>
internal static class TestDocuments
{
    private static readonly string[] Words =
        "shares rose as the striker scored while ministers debated new phones and film awards".Split(' ');

    public static OutgoingMessage[] Generate(int count, int seed = 11, int minWords = 20, int maxWords = 300, string prefix = "")
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(i =>
        {
            var text = string.Join(' ', Enumerable.Range(0, random.Next(minWords, maxWords)).Select(_ => Words[random.Next(Words.Length)]));
            return Envelope($"{prefix}m-{i}", $"{prefix}doc-{i}", text);
        }).ToArray();
    }

    public static OutgoingMessage Envelope(string messageId, string documentId, string text) =>
        new(messageId, Encoding.UTF8.GetBytes($"{{\"id\":\"{documentId}\",\"text\":\"{text}\"}}")) { ContentType = "application/json" };
}
