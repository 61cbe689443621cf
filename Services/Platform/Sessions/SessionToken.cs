using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Platform.Sessions;

/// <summary>
/// A session token: <c>{userId}.{secret}</c>, the secret 256 random bits in base64url. The user id in front is
/// not secret; it names the user's Redis hash tag, so that one script can reach all of a user's sessions
/// (revoke all, tier change) on one cluster slot. Redis only ever sees the token's SHA-256.
/// </summary>
public static class SessionToken
{
    public const int SecretBytes = 32;
    private const int MaxUserIdLength = 64;

    public static (string Token, string Hash) Create(string userId)
    {
        if (!IsValidUserId(userId))
        {
            throw new ArgumentException($"User ids are 1 to {MaxUserIdLength} letters, digits or dashes; got '{userId}'.", nameof(userId));
        }
        var token = $"{userId}.{Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(SecretBytes))}";
        return (token, Hash(token));
    }

    /// <summary>Splits a token as presented by a client; false for anything that is not one of ours.</summary>
    public static bool TryParse(string? token, out string userId, out string hash)
    {
        userId = hash = "";
        var dot = token?.IndexOf('.') ?? -1;
        if (token is null || dot < 1 || token.Length - dot - 1 != Base64Url.GetEncodedLength(SecretBytes))
        {
            return false;
        }
        var candidate = token[..dot];
        if (!IsValidUserId(candidate) || !Base64Url.IsValid(token.AsSpan(dot + 1)))
        {
            return false;
        }
        userId = candidate;
        hash = Hash(token);
        return true;
    }

    private static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    private static bool IsValidUserId(string userId) =>
        userId.Length is > 0 and <= MaxUserIdLength && userId.All(c => char.IsAsciiLetterOrDigit(c) || c == '-');
}
