using System.Diagnostics;
using OpenTelemetry;

namespace Platform.Hosting;

/// <summary>
/// Background work that usually finds nothing to do (claim polls, reaper passes, lease and lock renewals, session
/// revalidation, samplers) runs inside <see cref="Begin"/>: none of its spans is exported, so an idle system leaves the
/// dashboard's Traces page empty. Its cost is counted in metrics instead, and work that did something records its own
/// span afterwards, outside the scope.
/// <para>
/// Suppressed at the source rather than sampled out: a sampler sees a span when it starts, not whether the work moved
/// anything, and could only drop every Redis command that has no parent, hiding, unnoticed, whatever else runs without
/// one. Two mechanisms, because the StackExchange.Redis instrumentation ignores <see cref="SuppressInstrumentationScope"/>
/// (it turns profiled commands into spans later, on its own thread): an unrecorded activity is made current too, and
/// the services' sampler (ServiceDefaults) drops the children of an unrecorded local span, Redis commands included.
/// </para>
/// </summary>
public static class Untraced
{
    public static IDisposable Begin() => new Scope();

    private sealed class Scope : IDisposable
    {
        private readonly IDisposable _suppressed = SuppressInstrumentationScope.Begin();
        private readonly Activity _unrecorded = Unrecorded();

        private static Activity Unrecorded()
        {
            var activity = new Activity("untraced background work");
            activity.SetIdFormat(ActivityIdFormat.W3C);
            activity.ActivityTraceFlags = ActivityTraceFlags.None;
            return activity.Start();
        }

        public void Dispose()
        {
            _unrecorded.Stop();
            _suppressed.Dispose();
        }
    }
}
