using Platform.Sessions;
using Platform.Tests.Redis;
using Xunit.Abstractions;

namespace Platform.Tests.Sessions;

/// <summary>A user's slot moved to another master (<see cref="SlotMigration"/>) while they sign in, are validated and sign out.</summary>
[Collection(ClusterCollection.Name), NeedsRedisCluster]
public sealed class SessionReshardTests(RedisClusterFixture cluster, ITestOutputHelper output)
{
    [Fact]
    public async Task WhileAUsersSlotMovesEveryCreatedSessionValidatesAndNoRevokedOneDoes()
    {
        var connection = cluster.Connection;
        var store = SessionStoreFactory.Create(connection, new SessionStoreOptions { TouchInterval = TimeSpan.Zero });
        var user = SessionStoreFactory.NewUser();
        using var traffic = new ReshardTraffic();
        var live = new List<CreatedSession>();
        var revoked = new List<CreatedSession>();
        var liveRefused = 0;
        var revokedAccepted = 0;
        for (var i = 0; i < 50; i++)
        {
            live.Add(await store.CreateAsync(user, "before"));
        }
        await SlotMigration.FillAsync(connection, $"u:{user.UserId}", 250);

        var migration = await SlotMigration.MoveDuringAsync(cluster.Cluster, SlotMigration.SlotOf(connection, $"{{u:{user.UserId}}}"), async stop =>
        {
            await Task.WhenAll(Enumerable.Range(0, 4).Select(worker => Task.Run(async () =>
            {
                for (var n = 0; !stop.IsCancellationRequested; n++)
                {
                    try
                    {
                        switch (n % 4)
                        {
                            case 0:
                                var created = await store.CreateAsync(user, "during");
                                lock (live) live.Add(created);
                                break;
                            case 1:
                                CreatedSession victim;
                                lock (live)
                                {
                                    // Revokes can outrun sign-ins refused during the move: keep some sessions live.
                                    if (live.Count < 20)
                                    {
                                        break;
                                    }
                                    victim = live[Random.Shared.Next(live.Count)];
                                    live.Remove(victim);
                                }
                                // A revoke that fails may or may not have ended it: then it is neither live nor revoked here.
                                await store.RevokeAsync(user.UserId, victim.Session.Id);
                                lock (live) revoked.Add(victim);
                                break;
                            case 2:
                                CreatedSession one;
                                lock (live) one = live[Random.Shared.Next(live.Count)];
                                if (await store.ValidateAsync(one.Token) is null)
                                {
                                    lock (live)
                                    {
                                        // A worker may have revoked it since it was picked.
                                        if (live.Contains(one))
                                        {
                                            liveRefused++;
                                        }
                                    }
                                }
                                break;
                            default:
                                CreatedSession? gone;
                                lock (live) gone = revoked.Count == 0 ? null : revoked[Random.Shared.Next(revoked.Count)];
                                if (gone is not null && await store.ValidateAsync(gone.Token) is not null)
                                {
                                    Interlocked.Increment(ref revokedAccepted);
                                }
                                break;
                        }
                        traffic.Success();
                    }
                    catch (Exception e)
                    {
                        traffic.Failure(e);
                        await Task.Delay(20);
                    }
                }
            })));
        });

        var liveAfter = 0;
        foreach (var session in live)
        {
            liveAfter += await store.ValidateAsync(session.Token) is null ? 0 : 1;
        }
        var revokedAfter = 0;
        foreach (var session in revoked)
        {
            revokedAfter += await store.ValidateAsync(session.Token) is null ? 0 : 1;
        }
        output.WriteLine(migration.ToString());
        output.WriteLine($"operations: {traffic}");
        output.WriteLine($"during: live refused {liveRefused}, revoked accepted {revokedAccepted}; " +
                         $"after: {liveAfter} of {live.Count} live validate, {revokedAfter} of {revoked.Count} revoked validate");

        Assert.Empty(traffic.NotOutages);
        Assert.Equal(0, liveRefused);
        Assert.Equal(0, revokedAccepted);
        Assert.Equal(live.Count, liveAfter);
        Assert.Equal(0, revokedAfter);
    }
}
