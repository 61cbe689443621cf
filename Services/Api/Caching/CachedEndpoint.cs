namespace Api.Caching;

/// <summary>What output-cached endpoints pass where a request would pass its <c>RequestAborted</c>.</summary>
internal static class CachedEndpoint
{
    /// <summary>
    /// The output cache coalesces concurrent misses on one key: one request runs the endpoint and the others wait
    /// for its answer. Cancelled with the first caller's RequestAborted, the run fails every caller waiting on it
    /// with a 500 when that one caller leaves (a browser that navigates away mid-load does). The work is a short
    /// read whose answer is stored either way, so it runs to the end.
    /// </summary>
    public static CancellationToken Uncancelled => CancellationToken.None;
}
