using System.Collections.Concurrent;
using System.Text.Json;
using StackExchange.Redis;

namespace Platform.Sessions;

/// <summary>
/// A project's member ids, cached in Redis for an hour and invalidated by the owner of projects (api) whenever its
/// membership changes: one entry per project, whoever asks, so N viewers of one project's event cost one look-up,
/// not N. Concurrent look-ups of one project in this process share one read, and one load on a miss. A load that
/// overlaps an invalidation is not stored (<see cref="GenerationFence"/>, shared with <see cref="PermissionCache"/>).
/// </summary>
public sealed class ProjectMemberCache(IConnectionMultiplexer redis)
{
    /// <summary>How long a cached member list lives. Defaults to 1 hour.</summary>
    public static readonly TimeSpan TimeToLive = TimeSpan.FromHours(1);

    private readonly ConcurrentDictionary<string, Task<IReadOnlySet<string>>> _inFlight = new(StringComparer.Ordinal);

    /// <summary>
    /// The member ids of <paramref name="projectId"/>. <paramref name="load"/> reads the data of record: null when
    /// there is no such project (an empty answer that is not cached, so a project created later is seen at once).
    /// </summary>
    public Task<IReadOnlySet<string>> GetOrLoadAsync(string projectId, Func<string, CancellationToken, Task<IReadOnlySet<string>?>> load,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(projectId);
        ArgumentNullException.ThrowIfNull(load);
        while (true)
        {
            if (_inFlight.TryGetValue(projectId, out var shared))
            {
                return shared.WaitAsync(cancellationToken);
            }
            // Started only once it is in the map, and on no caller's token: it is everyone's look-up.
            var started = new TaskCompletionSource<IReadOnlySet<string>>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (_inFlight.TryAdd(projectId, started.Task))
            {
                _ = RunAsync(projectId, load, started);
                return started.Task.WaitAsync(cancellationToken);
            }
        }
    }

    public async Task InvalidateAsync(string projectId) =>
        await GenerationFence.InvalidateAsync(redis.GetDatabase(), Keys(projectId));

    private async Task RunAsync(string projectId, Func<string, CancellationToken, Task<IReadOnlySet<string>?>> load,
        TaskCompletionSource<IReadOnlySet<string>> result)
    {
        try
        {
            result.SetResult(await ReadOrLoadAsync(projectId, load));
        }
        catch (Exception e)
        {
            result.SetException(e);
        }
        finally
        {
            _inFlight.TryRemove(new KeyValuePair<string, Task<IReadOnlySet<string>>>(projectId, result.Task));
        }
    }

    private static readonly IReadOnlySet<string> NoMembers = new HashSet<string>();

    private async Task<IReadOnlySet<string>> ReadOrLoadAsync(string projectId, Func<string, CancellationToken, Task<IReadOnlySet<string>?>> load)
    {
        var keys = Keys(projectId);
        var db = redis.GetDatabase();
        var cached = await db.StringGetAsync(keys);
        if (!cached[0].IsNull)
        {
            return JsonSerializer.Deserialize<HashSet<string>>((string)cached[0]!)!;
        }

        var members = await load(projectId, CancellationToken.None);
        if (members is null)
        {
            return NoMembers;
        }
        await GenerationFence.StoreAsync(db, keys, cached[1], JsonSerializer.Serialize(members), TimeToLive);
        return members;
    }

    private static RedisKey[] Keys(string projectId) =>
        [SessionKeys.ProjectMembers(projectId), SessionKeys.ProjectMembersGeneration(projectId)];
}
