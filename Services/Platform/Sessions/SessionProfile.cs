using System.Text.Json;

namespace Platform.Sessions;

/// <summary>
/// What a session remembers of its sign-in, read from the session hash's profile field <c>p</c> (JSON written by
/// create.lua and update-user.lua; layout in includes/session-profile.lua).
/// </summary>
internal readonly record struct SessionProfile(string Id, SessionUser User, string UserAgent, DateTimeOffset CreatedAt)
{
    public static SessionProfile Parse(ReadOnlySpan<byte> json)
    {
        string sid = "", uid = "", email = "", name = "", roles = "", tier = "", ua = "";
        long created = 0;
        var reader = new Utf8JsonReader(json);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var field = reader;
            reader.Read();
            if (field.ValueTextEquals("sid"u8)) sid = reader.GetString()!;
            else if (field.ValueTextEquals("uid"u8)) uid = reader.GetString()!;
            else if (field.ValueTextEquals("email"u8)) email = reader.GetString()!;
            else if (field.ValueTextEquals("name"u8)) name = reader.GetString()!;
            else if (field.ValueTextEquals("roles"u8)) roles = reader.GetString()!;
            else if (field.ValueTextEquals("tier"u8)) tier = reader.GetString()!;
            else if (field.ValueTextEquals("ua"u8)) ua = reader.GetString()!;
            else if (field.ValueTextEquals("created"u8)) created = reader.TryGetInt64(out var ms) ? ms : (long)reader.GetDouble();
            else reader.Skip();
        }
        return new(sid, new SessionUser(uid, email, name, roles.Split(',', StringSplitOptions.RemoveEmptyEntries), tier), ua,
            DateTimeOffset.FromUnixTimeMilliseconds(created));
    }
}
