using Xunit.Abstractions;
using Xunit.Sdk;

[assembly: TestFramework("Platform.Tests.Redis.NeedsAwareTestFramework", "Platform.Tests")]

namespace Platform.Tests.Redis;

/// <summary>
/// xunit's framework, discovering a <see cref="NeedsRedisClusterAttribute"/> class's tests as skipped where a cluster
/// cannot run, and leaving its <see cref="SingleServerAttribute"/> tests out.
/// </summary>
public sealed class NeedsAwareTestFramework(IMessageSink diagnostics) : XunitTestFramework(diagnostics)
{
    protected override ITestFrameworkDiscoverer CreateDiscoverer(IAssemblyInfo assemblyInfo) =>
        new Discoverer(assemblyInfo, SourceInformationProvider, DiagnosticMessageSink);

    private sealed class Discoverer(IAssemblyInfo assembly, ISourceInformationProvider sources, IMessageSink diagnostics)
        : XunitTestFrameworkDiscoverer(assembly, sources, diagnostics)
    {
        protected override bool FindTestsForMethod(ITestMethod testMethod, bool includeSourceInformation, IMessageBus messageBus,
            ITestFrameworkDiscoveryOptions discoveryOptions)
        {
            var needsCluster = testMethod.TestClass.Class.GetCustomAttributes(typeof(NeedsRedisClusterAttribute)).Any();
            if (needsCluster && testMethod.Method.GetCustomAttributes(typeof(SingleServerAttribute)).Any())
            {
                return true;
            }
            if (!needsCluster || NeedsRedisClusterAttribute.SkipReason is not { } reason
                || !testMethod.Method.GetCustomAttributes(typeof(FactAttribute)).Any())
            {
                return base.FindTestsForMethod(testMethod, includeSourceInformation, messageBus, discoveryOptions);
            }
            var skipped = new SkippedTestCase(DiagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(),
                discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod, reason);
            return ReportDiscoveredTestCase(skipped, includeSourceInformation, messageBus);
        }
    }
}

/// <summary>A test case reported skipped with a reason decided at discovery (it travels with the case to the runner).</summary>
public sealed class SkippedTestCase : XunitTestCase
{
    private string _reason = "";

    [Obsolete("Called by the de-serializer only.")]
    public SkippedTestCase()
    {
    }

    public SkippedTestCase(IMessageSink diagnostics, TestMethodDisplay display, TestMethodDisplayOptions options, ITestMethod method, string reason)
        : base(diagnostics, display, options, method)
    {
        _reason = reason;
    }

    protected override string GetSkipReason(IAttributeInfo factAttribute) => _reason;

    public override void Serialize(IXunitSerializationInfo data)
    {
        data.AddValue("SkipReason", _reason);
        base.Serialize(data);
    }

    public override void Deserialize(IXunitSerializationInfo data)
    {
        _reason = data.GetValue<string>("SkipReason");
        base.Deserialize(data);
    }
}
