using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Platform.Caching;

/// <summary>
/// A 200 JSON answer with a strong <c>ETag</c> (a hash of the exact bytes), so that the output cache can answer
/// <c>If-None-Match</c> with 304 from its entry, and the endpoint itself answers 304 when it runs and the body
/// has not changed. Equal bodies get equal tags in every replica: no state, no clock.
/// </summary>
public sealed class ETaggedJson<T>(T value) : IResult, IStatusCodeHttpResult, IValueHttpResult, IValueHttpResult<T>
{
    public T Value => value;
    object? IValueHttpResult.Value => value;
    public int? StatusCode => StatusCodes.Status200OK;

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var json = httpContext.RequestServices.GetRequiredService<IOptions<JsonOptions>>().Value.SerializerOptions;
        var body = JsonSerializer.SerializeToUtf8Bytes(value, json);
        var etag = ETagOf(body);
        var response = httpContext.Response;
        response.Headers.ETag = etag;

        if (EntityTagHeaderValue.TryParseList(httpContext.Request.Headers.IfNoneMatch, out var candidates)
            && candidates.Any(c => c.Equals(EntityTagHeaderValue.Any) || c.Compare(new EntityTagHeaderValue(etag), useStrongComparison: false)))
        {
            response.StatusCode = StatusCodes.Status304NotModified;
            return;
        }

        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json; charset=utf-8";
        response.ContentLength = body.Length;
        // Not RequestAborted: under the output cache, concurrent misses wait on this one request's run, and a write
        // cancelled because its own caller left would fail all of them with a 500. Kestrel drops writes to a closed
        // connection without throwing.
        await response.Body.WriteAsync(body, CancellationToken.None);
    }

    /// <summary>The first 128 bits of the body's SHA-256, base64url, quoted (a strong validator).</summary>
    public static string ETagOf(ReadOnlySpan<byte> body) => $"\"{WebEncoders.Base64UrlEncode(SHA256.HashData(body)[..16])}\"";
}

public static class ETaggedJson
{
    public static ETaggedJson<T> Ok<T>(T value) => new(value);
}
