using System.Text.Json;
using System.Text.RegularExpressions;
using Platform.Jobs;

namespace Worker.Handlers;

/// <summary>Reads a job's JSON payload; a payload that can never work fails the job for good (no retries).</summary>
internal static partial class Payload
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static T Read<T>(JobContext job) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize<T>(job.Payload, Json) ?? throw new PermanentJobFailureException($"Job {job.Id}: the payload is null.");
        }
        catch (JsonException e)
        {
            throw new PermanentJobFailureException($"Job {job.Id}: the payload does not fit a {job.Type} job: {e.Message}", e);
        }
    }

    /// <summary>Ids name files and lock keys: letters, digits, '-' and '_' only.</summary>
    public static void RequireId(string? value, string field)
    {
        if (value is null || !Id().IsMatch(value))
        {
            throw new PermanentJobFailureException($"'{field}' must be 1 to 64 letters, digits, '-' or '_'; got '{value}'.");
        }
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex Id();
}
