using Platform.Hosting;
using Platform.Sessions;
using Platform.Tests.Redis;
using StackExchange.Redis;

namespace Platform.Tests.Sessions;

/// <summary>
/// A revoke-all caught with the user's slot split between two masters, step by step (<see cref="SlotMigration"/>):
/// the user's index has moved with one session, two sessions are still on the source. revoke-all.lua declares the index
/// and reaches the sessions by name, so Redis alone would let it run on the target (ASK), which sees one session.
/// </summary>
[Collection(ClusterCollection.Name), NeedsRedisCluster]
public sealed class SessionRevokeReshardTests(RedisClusterFixture cluster)
{
    [Fact]
    public async Task ARevokeAllWhileTheUsersSlotIsSplitIsRefusedAsAnOutageAndAfterTheMoveEndsEverySession()
    {
        var connection = cluster.Connection;
        var store = SessionStoreFactory.Create(connection);
        var user = SessionStoreFactory.NewUser();
        var sessions = new List<CreatedSession>();
        for (var i = 0; i < 3; i++)
        {
            sessions.Add(await store.CreateAsync(user, "reshard"));
        }

        Exception? refused = null;
        await using (var migration = await SlotMigration.BeginAsync(cluster.Cluster, SlotMigration.SlotOf(connection, SessionKeys.Index(user.UserId))))
        {
            var keys = await migration.KeysLeftAsync(100);
            var oneSession = keys.First(k => ((string)k!).StartsWith(SessionKeys.SessionPrefix(user.UserId), StringComparison.Ordinal));
            await migration.MigrateAsync([.. keys.Where(k => !((string)k!).StartsWith(SessionKeys.SessionPrefix(user.UserId), StringComparison.Ordinal)), oneSession]);

            refused = await Record.ExceptionAsync(() => store.RevokeAllAsync(user.UserId));
        }
        if (refused is not null)
        {
            // The caller got a 503 and sends it again, as a client does.
            await store.RevokeAllAsync(user.UserId);
        }

        Assert.NotNull(refused);
        Assert.True(RedisOutage.IsOutage(refused), refused.Message);
        Assert.StartsWith("TRYAGAIN", refused.Message);
        foreach (var session in sessions)
        {
            Assert.Null(await store.ValidateAsync(session.Token));
        }
    }
}
