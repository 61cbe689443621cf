using System.Text;

namespace Platform.Notifications;

/// <summary>
/// One Server-Sent Events message as the bytes that go on the wire: <c>event:</c>, one <c>data:</c> line per line of
/// the data, <c>id:</c> when there is one, then a blank line (the layout <c>SseFormatter</c> writes).
/// </summary>
internal static class SseFrame
{
    public static byte[] Encode(string type, string data, string? id)
    {
        var text = new StringBuilder(data.Length + type.Length + (id?.Length ?? 0) + 24);
        text.Append("event: ").Append(type).Append('\n');
        foreach (var line in data.AsSpan().Split('\n'))
        {
            text.Append("data: ").Append(data.AsSpan(line)).Append('\n');
        }
        if (id is not null)
        {
            text.Append("id: ").Append(id).Append('\n');
        }
        text.Append('\n');
        return Encoding.UTF8.GetBytes(text.ToString());
    }
}
