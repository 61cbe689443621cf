namespace Platform.RateLimiting;

/// <summary>
/// Endpoint metadata: this endpoint signs people in, so the sign-in limits apply to it (per client address and per
/// account, read from the body as the sign-in endpoint binds it). The limiter asks the endpoint that routing matched,
/// never the raw path: every spelling that reaches sign-in (a trailing slash, another case) is this endpoint.
/// </summary>
public sealed class SignInEndpoint
{
    public static readonly SignInEndpoint Instance = new();

    private SignInEndpoint()
    {
    }
}
