using System.Buffers.Text;
using Platform.Sessions;
using Platform.Tests.Redis;
using StackExchange.Redis;

namespace Platform.Tests.Sessions;

[Collection(RedisCollection.Name)]
public sealed class SessionStoreOnRedisServer(RedisServerFixture server) : SessionStoreTests(server)
{
    /// <summary>
    /// Only here: Garnet keeps no command statistics. Server CPU per validate is what bounds it at high concurrency:
    /// the common validate (live session, no touch due) reads the hash and its TTL as two plain commands, with no
    /// script call and no TIME; a due touch is the script.
    /// </summary>
    [RedisServerFact("INFO commandstats")]
    public async Task AValidationWithNoTouchDueReadsTheHashAndItsTtlAndNothingElse()
    {
        await using var admin = await Redis.ConnectAsync(",allowAdmin=true");
        var stats = admin.GetServers().Single();
        var store = SessionStoreFactory.Create(Redis.Connection, new SessionStoreOptions { TouchInterval = TimeSpan.FromMinutes(1) });
        var created = await store.CreateAsync(SessionStoreFactory.NewUser(), null);
        var touching = SessionStoreFactory.Create(Redis.Connection, new SessionStoreOptions { TouchInterval = TimeSpan.Zero });
        await touching.ValidateAsync(created.Token); // loads the script: EVAL once

        var before = await CallsAsync(stats);
        for (var i = 0; i < 10; i++)
        {
            Assert.NotNull(await store.ValidateAsync(created.Token));
        }
        var reads = Delta(before, await CallsAsync(stats));
        before = await CallsAsync(stats);
        Assert.NotNull(await touching.ValidateAsync(created.Token));
        var touch = Delta(before, await CallsAsync(stats));

        Assert.Equal((0, 10, 10, 0, 0), (reads.GetValueOrDefault("evalsha"), reads.GetValueOrDefault("hmget"),
            reads.GetValueOrDefault("pttl"), reads.GetValueOrDefault("time"), reads.GetValueOrDefault("hset")));
        Assert.Equal((1, 1, 1, 1), (touch.GetValueOrDefault("evalsha"), touch.GetValueOrDefault("time"),
            touch.GetValueOrDefault("hset"), touch.GetValueOrDefault("pexpire")));
    }

    private static async Task<Dictionary<string, long>> CallsAsync(IServer server) =>
        (await server.InfoAsync("commandstats")).SelectMany(g => g).ToDictionary(
            kv => kv.Key["cmdstat_".Length..], kv => long.Parse(kv.Value.Split(',')[0]["calls=".Length..]));

    private static Dictionary<string, long> Delta(Dictionary<string, long> before, Dictionary<string, long> after) =>
        after.ToDictionary(kv => kv.Key, kv => kv.Value - before.GetValueOrDefault(kv.Key));
}

[Collection(GarnetCollection.Name)]
public sealed class SessionStoreOnGarnet(GarnetServerFixture garnet) : SessionStoreTests(garnet);

[Collection(ClusterCollection.Name), NeedsRedisCluster]
public sealed class SessionStoreOnCluster(RedisClusterFixture cluster) : SessionStoreTests(cluster);

public abstract class SessionStoreTests(RedisServerFixture redis)
{
    private readonly SessionStore _store = SessionStoreFactory.Create(redis.Connection);

    protected RedisServerFixture Redis => redis;

    [Fact]
    public async Task ATokenCarries256RandomBitsAndNoRedisKeyOrValueContainsIt()
    {
        var user = SessionStoreFactory.NewUser();
        var tokens = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            tokens.Add((await _store.CreateAsync(user, "test-agent")).Token);
        }

        var secrets = tokens.Select(t => t[(t.IndexOf('.') + 1)..]).ToList();
        Assert.All(secrets, s => Assert.Equal(32, Base64Url.DecodeFromChars(s).Length));
        Assert.Equal(secrets.Count, secrets.Distinct().Count());

        var everything = await DumpUserKeysAsync(user.UserId);
        Assert.NotEmpty(everything);
        foreach (var secret in secrets)
        {
            Assert.DoesNotContain(everything, text => text.Contains(secret, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task AValidTokenOpensItsSessionAndAForgedOneOpensNothing()
    {
        var user = SessionStoreFactory.NewUser();
        var created = await _store.CreateAsync(user, "curl/8");

        var session = await _store.ValidateAsync(created.Token);
        Assert.Equal(created.Session.Id, session!.Id);
        Assert.Equal(user.UserId, session.User.UserId);
        Assert.Equal("curl/8", session.UserAgent);

        var secret = created.Token[(created.Token.IndexOf('.') + 1)..];
        var otherUser = SessionStoreFactory.NewUser().UserId;
        Assert.Null(await _store.ValidateAsync($"{otherUser}.{secret}"));
        Assert.Null(await _store.ValidateAsync(created.Token[..^1] + (created.Token[^1] == 'A' ? 'B' : 'A')));
        Assert.Null(await _store.ValidateAsync("not-a-token"));
        Assert.Null(await _store.ValidateAsync("}{.xyz"));
        Assert.Null(await _store.ValidateAsync(null));
    }

    [Fact]
    public async Task AnIdleSessionExpiresAndUseKeepsItAlive()
    {
        var store = SessionStoreFactory.Create(redis.Connection, new SessionStoreOptions
        {
            IdleTimeout = TimeSpan.FromSeconds(3),
            AbsoluteTimeout = TimeSpan.FromSeconds(30),
            TouchInterval = TimeSpan.Zero,
        });
        var used = await store.CreateAsync(SessionStoreFactory.NewUser(), null);
        var idle = await store.CreateAsync(SessionStoreFactory.NewUser(), null);

        // Used every 300 ms for 7.2 s: over twice the idle timeout, and still alive. (The 3 s idle timeout leaves
        // room for a busy 2-core machine to stall a couple of seconds between uses: 2 s was once too little on Garnet.)
        for (var i = 0; i < 24; i++)
        {
            await Task.Delay(300);
            Assert.NotNull(await store.ValidateAsync(used.Token));
        }

        Assert.Null(await store.ValidateAsync(idle.Token));
    }

    [Fact]
    public async Task ASessionInUseIsTouchedOncePerIntervalAndOutlivesItsIdleTimeout()
    {
        // The default path: validations with no touch due only read; a due touch is written after the validation answers.
        var store = SessionStoreFactory.Create(redis.Connection, new SessionStoreOptions
        {
            IdleTimeout = TimeSpan.FromSeconds(3),
            AbsoluteTimeout = TimeSpan.FromSeconds(30),
            TouchInterval = TimeSpan.FromMilliseconds(500),
        });
        var user = SessionStoreFactory.NewUser();
        var used = await store.CreateAsync(user, null);
        var idle = await store.CreateAsync(SessionStoreFactory.NewUser(), null);

        // Used every 300 ms for 7.2 s: over twice the idle timeout, kept alive only by the touches.
        var seen = new List<DateTimeOffset>();
        for (var i = 0; i < 24; i++)
        {
            await Task.Delay(300);
            var session = await store.ValidateAsync(used.Token);
            Assert.NotNull(session);
            seen.Add(session.LastActivity);
        }

        Assert.Null(await store.ValidateAsync(idle.Token));
        // A validation that makes a touch due reports the server's time of its read; the touch then writes the server's
        // time of its run, a few milliseconds apart (Garnet's PTTL and TIME round differently): one touch, give or take 50 ms.
        var touches = new List<DateTimeOffset> { seen[0] };
        foreach (var time in seen.Skip(1))
        {
            Assert.True(time > touches[^1] - TimeSpan.FromMilliseconds(50), $"last activity went back: {string.Join(", ", seen)}");
            if (time - touches[^1] > TimeSpan.FromMilliseconds(50))
            {
                touches.Add(time);
            }
        }
        // Touched about every other use (every 600 ms), never sooner than the interval after the last touch.
        Assert.InRange(touches.Count, 6, 16);
        Assert.All(touches.Zip(touches.Skip(1)), pair => Assert.True(pair.Second - pair.First >= TimeSpan.FromMilliseconds(450),
            $"touched {pair.Second - pair.First} after the last touch: {string.Join(", ", seen)}"));
        // The last activity a validation reported is the one Redis holds (the touch it made due, written after it).
        var stored = Assert.Single(await store.ListAsync(user.UserId)).LastActivity;
        Assert.InRange(stored - seen[^1], TimeSpan.FromMilliseconds(-50), TimeSpan.FromMilliseconds(250));
    }

    [Fact]
    public async Task ASessionEndsAtItsAbsoluteExpiryHoweverMuchItIsUsed()
    {
        var store = SessionStoreFactory.Create(redis.Connection, new SessionStoreOptions
        {
            IdleTimeout = TimeSpan.FromSeconds(30),
            AbsoluteTimeout = TimeSpan.FromSeconds(2),
            TouchInterval = TimeSpan.Zero,
        });
        var user = SessionStoreFactory.NewUser();
        var created = await store.CreateAsync(user, null);
        var clock = System.Diagnostics.Stopwatch.StartNew();

        // Used (and so touched) all along: each touch extends the idle TTL, but never past the absolute expiry.
        while (clock.Elapsed < TimeSpan.FromSeconds(1))
        {
            Assert.NotNull(await store.ValidateAsync(created.Token));
            await Task.Delay(100);
        }
        await Task.Delay(TimeSpan.FromSeconds(2.3) - clock.Elapsed);

        Assert.Null(await store.ValidateAsync(created.Token));
        Assert.Empty(await store.ListAsync(user.UserId));
    }

    [Fact]
    public async Task LastActivityIsWrittenAtMostOncePerTouchInterval()
    {
        var store = SessionStoreFactory.Create(redis.Connection, new SessionStoreOptions { TouchInterval = TimeSpan.FromMinutes(1) });
        var created = await store.CreateAsync(SessionStoreFactory.NewUser(), null);
        await Task.Delay(50);

        var first = await store.ValidateAsync(created.Token);
        var second = await store.ValidateAsync(created.Token);

        Assert.Equal(created.Session.LastActivity, first!.LastActivity);
        Assert.Equal(created.Session.LastActivity, second!.LastActivity);

        var touching = SessionStoreFactory.Create(redis.Connection, new SessionStoreOptions { TouchInterval = TimeSpan.Zero });
        Assert.True((await touching.ValidateAsync(created.Token))!.LastActivity > created.Session.LastActivity);
    }

    [Fact]
    public async Task HundredConcurrentSignInsOfOneUserAllSucceedAndTheIndexHoldsExactlyThem()
    {
        var user = SessionStoreFactory.NewUser();
        await using var connections = await redis.ConnectManyAsync(4);
        var stores = connections.Select(c => SessionStoreFactory.Create(c)).ToArray();
        var created = await Task.WhenAll(Enumerable.Range(0, 100).Select(i => Task.Run(() => stores[i % 4].CreateAsync(user, $"agent-{i}"))));

        var listed = await _store.ListAsync(user.UserId);
        Assert.Equal(created.Select(c => c.Session.Id).Order(), listed.Select(s => s.Id).Order());
        var validated = await Task.WhenAll(created.Select(c => _store.ValidateAsync(c.Token)));
        Assert.All(validated, Assert.NotNull);
    }

    [Fact]
    public async Task RevokeAllEndsEveryOneOfTwoHundredSessionsInOneRoundTrip()
    {
        var user = SessionStoreFactory.NewUser();
        var bystander = await _store.CreateAsync(SessionStoreFactory.NewUser(), null);
        var created = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => _store.CreateAsync(user, null)));

        // A connection of its own, to count exactly this call; the script is already loaded (the first call of a
        // script after a server start costs one more round trip, NOSCRIPT then EVAL).
        // On a cluster each master loads it on its first call: warm it up with a user whose keys live on the same one.
        await using var counted = await redis.ConnectAsync();
        var store = SessionStoreFactory.Create(counted);
        await store.RevokeAllAsync(await UserOnTheSameNodeAsAsync(user.UserId));
        var before = counted.OperationCount;
        var removed = await store.RevokeAllAsync(user.UserId);
        Assert.Equal(1, counted.OperationCount - before);

        Assert.Equal(200, removed);
        var validated = await Task.WhenAll(created.Select(c => _store.ValidateAsync(c.Token)));
        Assert.All(validated, Assert.Null);
        Assert.Empty(await DumpUserKeysAsync(user.UserId));
        Assert.NotNull(await _store.ValidateAsync(bystander.Token));
    }

    [Fact]
    public async Task RevokingOneSessionByItsIdLeavesTheOthers()
    {
        var user = SessionStoreFactory.NewUser();
        var phone = await _store.CreateAsync(user, "phone");
        var laptop = await _store.CreateAsync(user, "laptop");

        Assert.True(await _store.RevokeAsync(user.UserId, phone.Session.Id));
        Assert.False(await _store.RevokeAsync(user.UserId, phone.Session.Id));
        Assert.False(await _store.RevokeAsync(SessionStoreFactory.NewUser().UserId, laptop.Session.Id));

        Assert.Null(await _store.ValidateAsync(phone.Token));
        Assert.NotNull(await _store.ValidateAsync(laptop.Token));
        Assert.Equal([laptop.Session.Id], (await _store.ListAsync(user.UserId)).Select(s => s.Id));
    }

    [Fact]
    public async Task ATierChangeReachesEveryLiveSessionAndRevivesNoExpiredOne()
    {
        var user = SessionStoreFactory.NewUser(tier: "user");
        var live = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => _store.CreateAsync(user, null)));
        var shortLived = SessionStoreFactory.Create(redis.Connection, new SessionStoreOptions { IdleTimeout = TimeSpan.FromMilliseconds(200) });
        var expired = await shortLived.CreateAsync(user, null);
        await Task.Delay(400);

        var updated = await _store.UpdateUserAsync(user.UserId, "premium", ["user", "beta"]);

        Assert.Equal(5, updated);
        foreach (var session in await Task.WhenAll(live.Select(c => _store.ValidateAsync(c.Token))))
        {
            Assert.Equal("premium", session!.User.Tier);
            Assert.Equal(["user", "beta"], session.User.Roles);
        }
        var expiredKey = (await DumpUserKeysAsync(user.UserId)).Count(k => k.Contains(expired.Session.Id));
        Assert.Equal(0, expiredKey);
        Assert.Null(await _store.ValidateAsync(expired.Token));
    }

    [Fact]
    public async Task FiveHundredSignInsWhoseSessionsIdleOutLeaveOnlyTheLiveOnesInTheIndex()
    {
        var store = SessionStoreFactory.Create(redis.Connection, new SessionStoreOptions
        {
            IdleTimeout = TimeSpan.FromSeconds(1),
            MaxSessionsPerUser = 1000, // the cap is not what bounds the index here
        });
        var user = SessionStoreFactory.NewUser();
        var db = redis.Connection.GetDatabase();
        var batches = new List<CreatedSession[]>();
        for (var batch = 0; batch < 5; batch++)
        {
            if (batch > 0)
            {
                await Task.Delay(TimeSpan.FromSeconds(1.2)); // the previous batch idles out
            }
            batches.Add(await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => store.CreateAsync(user, null))));
            // Each sign-in pruned what had ended: the index holds the live batch only, never all sign-ins so far.
            Assert.Equal(100, await db.HashLengthAsync(SessionKeys.Index(user.UserId)));
            Assert.Equal(100, await db.SortedSetLengthAsync(SessionKeys.Expiries(user.UserId)));
        }

        var live = batches[^1];
        Assert.Equal(live.Select(c => c.Session.Id).Order(), (await store.ListAsync(user.UserId)).Select(s => s.Id).Order());
        Assert.Equal(100, await store.UpdateUserAsync(user.UserId, "premium", ["user"]));
        Assert.Equal(100, await store.RevokeAllAsync(user.UserId));
        Assert.Empty(await DumpUserKeysAsync(user.UserId));
    }

    [Fact]
    public async Task AValidationThatMissesPrunesTheUsersEndedSessions()
    {
        var store = SessionStoreFactory.Create(redis.Connection, new SessionStoreOptions { IdleTimeout = TimeSpan.FromMilliseconds(500) });
        var user = SessionStoreFactory.NewUser();
        var created = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => store.CreateAsync(user, null)));
        await Task.Delay(TimeSpan.FromSeconds(0.8));

        Assert.Null(await store.ValidateAsync(created[0].Token));

        Assert.Empty(await DumpUserKeysAsync(user.UserId));
    }

    [Fact]
    public async Task SignInsBeyondTheCapRevokeTheLeastRecentlyUsedSessions()
    {
        var store = SessionStoreFactory.Create(redis.Connection, new SessionStoreOptions { MaxSessionsPerUser = 10, TouchInterval = TimeSpan.Zero });
        var user = SessionStoreFactory.NewUser();
        var first = new List<CreatedSession>();
        for (var i = 0; i < 10; i++)
        {
            first.Add(await store.CreateAsync(user, $"first-{i}"));
            await Task.Delay(2); // distinct times, so "least recently used" has one answer
        }
        Assert.NotNull(await store.ValidateAsync(first[0].Token)); // the oldest sign-in is the one in use

        var later = new List<CreatedSession>();
        for (var i = 0; i < 5; i++)
        {
            later.Add(await store.CreateAsync(user, $"later-{i}"));
        }

        var expectedLive = new[] { first[0] }.Concat(first[6..]).Concat(later).Select(c => c.Session.Id).Order();
        Assert.Equal(expectedLive, (await store.ListAsync(user.UserId)).Select(s => s.Id).Order());
        foreach (var revoked in first[1..6])
        {
            Assert.Null(await store.ValidateAsync(revoked.Token));
        }
        Assert.Equal(10, await redis.Connection.GetDatabase().HashLengthAsync(SessionKeys.Index(user.UserId)));
    }

    [Fact]
    public async Task ValidationWorksAgainAfterTheServerForgetsItsScripts()
    {
        var created = await _store.CreateAsync(SessionStoreFactory.NewUser(), null);
        await using var admin = await redis.ConnectAsync(",allowAdmin=true");
        foreach (var server in admin.GetServers())
        {
            await server.ScriptFlushAsync();
        }

        Assert.NotNull(await _store.ValidateAsync(created.Token));
    }

    [Fact]
    public async Task ASessionHashHoldsItsProfileAsOneJsonFieldBesideLastAndAbs()
    {
        var user = new SessionUser(SessionStoreFactory.NewUser().UserId, "ada@example.com", "Ada \"the\" Countess", ["user", "admin"], "premium");
        var created = await _store.CreateAsync(user, "Mozilla/5.0 (X11; Linux)");
        var key = (await DumpUserKeysAsync(user.UserId)).Single(k => k.Contains(":session:", StringComparison.Ordinal));

        var fields = (await redis.Connection.GetDatabase().HashGetAllAsync(key)).ToDictionary(e => e.Name.ToString(), e => e.Value.ToString());

        Assert.Equal(["abs", "last", "p"], fields.Keys.Order());
        using var profile = System.Text.Json.JsonDocument.Parse(fields["p"]);
        var p = profile.RootElement;
        Assert.Equal((created.Session.Id, user.UserId, user.Email, user.Name, "user,admin", "premium", "Mozilla/5.0 (X11; Linux)"),
            (p.GetProperty("sid").GetString(), p.GetProperty("uid").GetString(), p.GetProperty("email").GetString(),
             p.GetProperty("name").GetString(), p.GetProperty("roles").GetString(), p.GetProperty("tier").GetString(),
             p.GetProperty("ua").GetString()));
        Assert.Equal(created.Session.CreatedAt.ToUnixTimeMilliseconds(), p.GetProperty("created").GetInt64());
        Assert.Equal(created.Session.LastActivity.ToUnixTimeMilliseconds().ToString(), fields["last"]);
        Assert.Equal(created.Session.AbsoluteExpiresAt.ToUnixTimeMilliseconds().ToString(), fields["abs"]);

        var session = await _store.ValidateAsync(created.Token);
        Assert.Equal(user.Name, session!.User.Name);
        Assert.Equal(user.Roles, session.User.Roles);
    }

    [Fact]
    public async Task ASessionWrittenInTheEarlierLayoutValidatesAfterTheUpgradeAndIsMovedIntoTheNewOne()
    {
        var user = SessionStoreFactory.NewUser();
        var (token, key, earlier) = await WriteInTheEarlierLayoutAsync(user.UserId, "curl/8.1");
        var db = redis.Connection.GetDatabase();

        var session = await _store.ValidateAsync(token);

        Assert.NotNull(session);
        Assert.Equal((earlier.Sid, user.UserId, "ada@example.com", "Ada", "user,admin", "user", "curl/8.1"),
            (session.Id, session.User.UserId, session.User.Email, session.User.Name, string.Join(',', session.User.Roles),
             session.User.Tier, session.UserAgent));
        Assert.Equal((earlier.Created, earlier.Last, earlier.Absolute),
            (session.CreatedAt.ToUnixTimeMilliseconds(), session.LastActivity.ToUnixTimeMilliseconds(), session.AbsoluteExpiresAt.ToUnixTimeMilliseconds()));
        Assert.Equal(["abs", "last", "p"], (await db.HashKeysAsync(key)).Select(k => k.ToString()).Order());
        // Its idle expiry is the one it had: the move leaves the TTL alone.
        Assert.InRange((await db.KeyTimeToLiveAsync(key))!.Value, TimeSpan.FromDays(6.9), TimeSpan.FromDays(7));
        Assert.Equal(session.Id, (await _store.ValidateAsync(token))!.Id);
    }

    [Fact]
    public async Task SessionsWrittenInTheEarlierLayoutAreListedAndTakeATierChangeBeforeAnyValidation()
    {
        var user = SessionStoreFactory.NewUser();
        var first = await WriteInTheEarlierLayoutAsync(user.UserId, "first-agent");
        var second = await WriteInTheEarlierLayoutAsync(user.UserId, "second-agent");

        Assert.Equal(2, await _store.UpdateUserAsync(user.UserId, "premium", ["user"]));
        var third = await WriteInTheEarlierLayoutAsync(user.UserId, "third-agent");
        var listed = await _store.ListAsync(user.UserId);

        Assert.Equal([(first.Earlier.Sid, first.Earlier.Created, "first-agent"), (second.Earlier.Sid, second.Earlier.Created, "second-agent"),
                      (third.Earlier.Sid, third.Earlier.Created, "third-agent")],
            listed.Select(s => (s.Id, s.CreatedAt.ToUnixTimeMilliseconds(), s.UserAgent)).OrderBy(s => s.Item2));
        Assert.Equal(("premium", "premium", "user"), ((await _store.ValidateAsync(first.Token))!.User.Tier,
            (await _store.ValidateAsync(second.Token))!.User.Tier, (await _store.ValidateAsync(third.Token))!.User.Tier));
    }

    private sealed record EarlierSession(string Sid, long Created, long Last, long Absolute);

    /// <summary>
    /// A session as the layout before the profile field stored it (ten plain fields), and its index entries: what an
    /// upgrade finds in Redis.
    /// </summary>
    private async Task<(string Token, string Key, EarlierSession Earlier)> WriteInTheEarlierLayoutAsync(string userId, string userAgent)
    {
        var (token, hash) = SessionToken.Create(userId);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        // Distinct creation times, so a listing has an order to check.
        await Task.Delay(5);
        var earlier = new EarlierSession(Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()[..12]), now - 60_000, now - 1_000,
            now + (long)TimeSpan.FromDays(29).TotalMilliseconds);
        var key = SessionKeys.Session(userId, hash);
        var db = redis.Connection.GetDatabase();
        await db.HashSetAsync(key, [
            new("sid", earlier.Sid), new("uid", userId), new("email", "ada@example.com"), new("name", "Ada"),
            new("roles", "user,admin"), new("tier", "user"), new("ua", userAgent), new("created", earlier.Created),
            new("last", earlier.Last), new("abs", earlier.Absolute)]);
        await db.KeyExpireAsync(key, TimeSpan.FromDays(7));
        await db.HashSetAsync(SessionKeys.Index(userId), earlier.Sid, hash);
        await db.SortedSetAddAsync(SessionKeys.Expiries(userId), earlier.Sid, earlier.Last + TimeSpan.FromDays(7).TotalMilliseconds);
        return (token, key, earlier);
    }

    /// <summary>A new user id whose keys are served by the same server as <paramref name="userId"/>'s (any, on one server).</summary>
    private async Task<string> UserOnTheSameNodeAsAsync(string userId)
    {
        var db = redis.Connection.GetDatabase();
        var node = await db.IdentifyEndpointAsync(SessionKeys.Index(userId));
        while (true)
        {
            var other = SessionStoreFactory.NewUser().UserId;
            if (Equals(await db.IdentifyEndpointAsync(SessionKeys.Index(other)), node))
            {
                return other;
            }
        }
    }

    /// <summary>Every key of the user's hash tag and its contents, as text.</summary>
    private async Task<List<string>> DumpUserKeysAsync(string userId)
    {
        var db = redis.Connection.GetDatabase();
        var dump = new List<string>();
        // On a cluster they are on whichever master serves their slot: ask each.
        var keys = new List<RedisKey>();
        foreach (var server in RedisServerFixture.Masters(redis.Connection))
        {
            await foreach (var key in server.KeysAsync(pattern: $"auth:{{u:{userId}}}:*"))
            {
                keys.Add(key);
            }
        }
        foreach (var key in keys)
        {
            dump.Add(key!);
            if (await db.KeyTypeAsync(key) == RedisType.SortedSet)
            {
                dump.AddRange((await db.SortedSetRangeByRankWithScoresAsync(key)).Select(e => $"{e.Element}={e.Score}"));
                continue;
            }
            var entries = await db.HashGetAllAsync(key);
            dump.AddRange(entries.Select(e => $"{e.Name}={e.Value}"));
        }
        return dump;
    }
}
