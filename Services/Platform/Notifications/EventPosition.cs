using System.Globalization;

namespace Platform.Notifications;

/// <summary>
/// Where a reader is: the last event id it has, within an epoch. On the wire (SSE <c>id:</c>, <c>Last-Event-ID</c>)
/// it is <c>&lt;epoch&gt;-&lt;id&gt;</c>, e.g. <c>3f9a1c0b7d2e-42</c>; a bare number (<c>42</c>) means that id in the
/// current epoch (<see cref="Epoch"/> null), as ids were written before epochs.
/// </summary>
public sealed record EventPosition(string? Epoch, long Id)
{
    private const int MaxEpochLength = 32;

    public override string ToString() => Epoch is null ? Id.ToString(CultureInfo.InvariantCulture) : Format(Epoch, Id);

    public static string Format(string epoch, long id) => $"{epoch}-{id.ToString(CultureInfo.InvariantCulture)}";

    public static bool TryParse(string? text, out EventPosition? position)
    {
        position = null;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }
        var dash = text.LastIndexOf('-');
        var epoch = dash < 0 ? null : text[..dash];
        if (epoch is not null && (epoch.Length is 0 or > MaxEpochLength || !epoch.All(char.IsAsciiLetterOrDigit)))
        {
            return false;
        }
        if (!long.TryParse(text.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var id))
        {
            return false;
        }
        position = new EventPosition(epoch, id);
        return true;
    }
}
