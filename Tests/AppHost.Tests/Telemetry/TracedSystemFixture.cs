namespace AppHost.Tests.Telemetry;

/// <summary>
/// The system with every service's OpenTelemetry exporter pointed at an in-test OTLP receiver instead of the dashboard:
/// the spans the dashboard would show, readable by the tests.
/// </summary>
public sealed class TracedSystemFixture : DistributedAppFixture
{
    public OtlpTraceReceiver Receiver { get; } = new();

    protected override void Configure(IDistributedApplicationTestingBuilder builder)
    {
        base.Configure(builder);
        foreach (var service in Services)
        {
            builder.CreateResourceBuilder<ProjectResource>(service)
                .WithEnvironment("OTEL_EXPORTER_OTLP_ENDPOINT", Receiver.Endpoint.ToString().TrimEnd('/'))
                .WithEnvironment("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
                // Spans leave each service every 200 ms rather than every second or five.
                .WithEnvironment("OTEL_BSP_SCHEDULE_DELAY", "200");
        }
    }

    public override async Task DisposeAsync()
    {
        try
        {
            await base.DisposeAsync();
        }
        finally
        {
            await Receiver.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class TracedSystemCollection : ICollectionFixture<TracedSystemFixture>
{
    public const string Name = "traced system";
}
