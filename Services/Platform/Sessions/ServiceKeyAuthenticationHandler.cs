using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Platform.Sessions;

/// <summary>The <see cref="ServiceKeyAuthentication.SchemeName"/> scheme: the header's key against the configured ones.</summary>
public sealed class ServiceKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> schemeOptions,
    ILoggerFactory logger,
    UrlEncoder encoder,
    IOptions<ServiceKeyOptions> keys)
    : AuthenticationHandler<AuthenticationSchemeOptions>(schemeOptions, logger, encoder)
{
    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var presented = Request.Headers[ServiceKeyAuthentication.HeaderName].ToString();
        if (presented.Length == 0)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }
        // Hashes compared in fixed time: neither the length nor a common prefix of a key leaks through timing.
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(presented));
        foreach (var (service, key) in keys.Value.Keys)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, SHA256.HashData(Encoding.UTF8.GetBytes(key))))
            {
                var identity = new ClaimsIdentity(
                    [new Claim(ClaimTypes.Name, service), new Claim(ClaimTypes.Role, ServiceKeyAuthentication.Role)],
                    ServiceKeyAuthentication.SchemeName);
                return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), ServiceKeyAuthentication.SchemeName)));
            }
        }
        return Task.FromResult(AuthenticateResult.Fail("Unknown service key."));
    }
}
