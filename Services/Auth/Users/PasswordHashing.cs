using Microsoft.AspNetCore.Identity;

namespace Auth.Users;

/// <summary>
/// PBKDF2 costs tens of milliseconds of CPU per hash. A burst of sign-ins that all hash at once takes every
/// thread-pool thread, and then Redis replies (and everything else) wait behind them until commands time out.
/// Here at most one hash per core runs at a time; the rest wait without holding a thread.
/// </summary>
public sealed class PasswordHashing(IPasswordHasher<User> hasher)
{
    private readonly SemaphoreSlim _slots = new(Environment.ProcessorCount);

    public Task<string> HashAsync(User user, string password) => RunAsync(() => hasher.HashPassword(user, password));

    public Task<PasswordVerificationResult> VerifyAsync(User user, string hash, string password) =>
        RunAsync(() => hasher.VerifyHashedPassword(user, hash, password));

    private async Task<T> RunAsync<T>(Func<T> work)
    {
        await _slots.WaitAsync();
        try
        {
            return work();
        }
        finally
        {
            _slots.Release();
        }
    }
}
