using System.Diagnostics.Metrics;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using StackExchange.Redis;

namespace Platform.Redis;

/// <summary>
/// One Lua script, embedded beside the C# that runs it (<c>Sessions/validate.lua</c> is the resource
/// <c>Platform.Sessions.validate.lua</c>). Runs as EVALSHA: one round trip. After a server restart or
/// SCRIPT FLUSH the server answers NOSCRIPT once; the script is then sent whole with EVAL, which loads it again.
/// On a Redis Cluster whose slot is migrating, a script refused with TRYAGAIN (it did not run) is sent again a few
/// times over about 0.6 s (<see cref="TryAgainDelays"/>), then the TRYAGAIN surfaces: an outage to the caller (503,
/// a worker's retry; <see cref="Hosting.RedisOutage"/>). <see cref="ScriptKeyAccess"/> says which scripts may run
/// during a migration at all.
/// </summary>
public sealed partial class RedisScript
{
    /// <summary>
    /// Pauses before each resend of a script refused with TRYAGAIN. A slot of a few hundred keys moves in well under a
    /// second with <c>redis-cli --cluster reshard</c>; longer migrations surface as a short outage instead of a long wait.
    /// </summary>
    public static readonly IReadOnlyList<TimeSpan> TryAgainDelays =
        [.. new[] { 10, 20, 40, 80, 160, 320 }.Select(ms => TimeSpan.FromMilliseconds(ms))];

    public const string MeterName = "Platform.Redis";
    private static readonly Meter Meter = new(MeterName);

    /// <summary>Scripts sent again after TRYAGAIN (a slot migrating), by script.</summary>
    private static readonly Counter<long> TryAgainResends = Meter.CreateCounter<long>("redis.script.tryagain_resends",
        description: "Scripts sent again because Redis Cluster answered TRYAGAIN (their slot was migrating), by script.");

    private readonly byte[] _sha1;
    private readonly ScriptKeyAccess _keyAccess;

    private RedisScript(string name, string source, ScriptKeyAccess keyAccess)
    {
        Name = name;
        Source = source;
        _keyAccess = keyAccess;
        _sha1 = SHA1.HashData(Encoding.UTF8.GetBytes(source));
    }

    /// <summary>The file name, e.g. <c>validate.lua</c>: what error messages and traces call it.</summary>
    public string Name { get; }

    public string Source { get; }

    /// <summary>
    /// Loads <c>{folder}/{fileName}</c> embedded in the assembly of <typeparamref name="TOwner"/>'s namespace. A line
    /// <c>--@include name.lua</c> is replaced by <c>{folder}/includes/name.lua</c>: a piece several scripts share.
    /// </summary>
    /// <param name="keyAccess">Whether the script touches only its KEYS; by default it is taken to reach others by name.</param>
    public static RedisScript FromResource<TOwner>(string fileName, ScriptKeyAccess keyAccess = ScriptKeyAccess.ReachedByName)
    {
        var assembly = typeof(TOwner).Assembly;
        var folder = typeof(TOwner).Namespace;
        var source = Read(assembly, $"{folder}.{fileName}");
        source = Include().Replace(source, include => Read(assembly, $"{folder}.includes.{include.Groups[1].Value}"));
        return new RedisScript(fileName, source, keyAccess);
    }

    private static string Read(Assembly assembly, string resource)
    {
        using var stream = assembly.GetManifestResourceStream(resource) ?? throw new InvalidOperationException(
            $"No embedded script '{resource}'. Scripts are embedded by Platform.csproj (EmbeddedResource **/*.lua).");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    [GeneratedRegex(@"^--@include (\S+)\r?$", RegexOptions.Multiline)]
    private static partial Regex Include();

    public async Task<RedisResult> EvaluateAsync(IDatabaseAsync db, RedisKey[] keys, RedisValue[] args)
    {
        var sent = _keyAccess == ScriptKeyAccess.ReachedByName ? MigrationGuard.Append(keys) : keys;
        for (var resend = 0; ; resend++)
        {
            try
            {
                return await EvaluateOnceAsync(db, sent, args).ConfigureAwait(false);
            }
            catch (RedisServerException e) when (IsTryAgain(e) && resend < TryAgainDelays.Count)
            {
                TryAgainResends.Add(1, new KeyValuePair<string, object?>("script", Name));
                await Task.Delay(TryAgainDelays[resend]).ConfigureAwait(false);
            }
        }
    }

    private async Task<RedisResult> EvaluateOnceAsync(IDatabaseAsync db, RedisKey[] keys, RedisValue[] args)
    {
        try
        {
            return await db.ScriptEvaluateAsync(_sha1, keys, args).ConfigureAwait(false);
        }
        catch (RedisServerException e) when (e.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal))
        {
            return await db.ScriptEvaluateAsync(Source, keys, args).ConfigureAwait(false);
        }
    }

    private static bool IsTryAgain(RedisServerException e) => e.Message.StartsWith("TRYAGAIN", StringComparison.Ordinal);
}
