using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using StackExchange.Redis;

namespace Platform.Redis;

/// <summary>
/// One Lua script, embedded beside the C# that runs it (<c>Sessions/validate.lua</c> is the resource
/// <c>Platform.Sessions.validate.lua</c>). Runs as EVALSHA: one round trip. After a server restart or
/// SCRIPT FLUSH the server answers NOSCRIPT once; the script is then sent whole with EVAL, which loads it again.
/// </summary>
public sealed class RedisScript
{
    private readonly byte[] _sha1;

    private RedisScript(string name, string source)
    {
        Name = name;
        Source = source;
        _sha1 = SHA1.HashData(Encoding.UTF8.GetBytes(source));
    }

    /// <summary>The file name, e.g. <c>validate.lua</c>: what error messages and traces call it.</summary>
    public string Name { get; }

    public string Source { get; }

    /// <summary>Loads <c>{folder}/{fileName}</c> embedded in the assembly of <typeparamref name="TOwner"/>'s namespace.</summary>
    public static RedisScript FromResource<TOwner>(string fileName)
    {
        var assembly = typeof(TOwner).Assembly;
        var resource = $"{typeof(TOwner).Namespace}.{fileName}";
        using var stream = assembly.GetManifestResourceStream(resource) ?? throw new InvalidOperationException(
            $"No embedded script '{resource}'. Scripts are embedded by Platform.csproj (EmbeddedResource **/*.lua).");
        using var reader = new StreamReader(stream);
        return new RedisScript(fileName, reader.ReadToEnd());
    }

    public async Task<RedisResult> EvaluateAsync(IDatabaseAsync db, RedisKey[] keys, RedisValue[] args)
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
}
