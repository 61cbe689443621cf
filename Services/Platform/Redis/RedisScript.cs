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
/// </summary>
public sealed partial class RedisScript
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

    /// <summary>
    /// Loads <c>{folder}/{fileName}</c> embedded in the assembly of <typeparamref name="TOwner"/>'s namespace. A line
    /// <c>--@include name.lua</c> is replaced by <c>{folder}/includes/name.lua</c>: a piece several scripts share.
    /// </summary>
    public static RedisScript FromResource<TOwner>(string fileName)
    {
        var assembly = typeof(TOwner).Assembly;
        var folder = typeof(TOwner).Namespace;
        var source = Read(assembly, $"{folder}.{fileName}");
        source = Include().Replace(source, include => Read(assembly, $"{folder}.includes.{include.Groups[1].Value}"));
        return new RedisScript(fileName, source);
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
