using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace Platform.Tests;

/// <summary>A real meter factory for the building blocks under test (their metrics are recorded, not read).</summary>
internal static class TestMeters
{
    public static readonly IMeterFactory Factory = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>();
}
