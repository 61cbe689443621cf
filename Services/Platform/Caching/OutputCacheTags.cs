using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;

namespace Platform.Caching;

public static class OutputCacheTags
{
    /// <summary>
    /// Tags the entry this request is about to store, from inside the endpoint, where it knows what the answer
    /// contains (a listing is tagged with every project in it). Does nothing when the request is not being cached.
    /// </summary>
    public static void Add(HttpContext context, params IEnumerable<string> tags)
    {
        if (context.Features.Get<IOutputCacheFeature>()?.Context is { } cache)
        {
            foreach (var tag in tags)
            {
                cache.Tags.Add(tag);
            }
        }
    }
}
