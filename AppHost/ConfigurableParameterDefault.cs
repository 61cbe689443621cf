using Aspire.Hosting.Publishing;

namespace AppHost;

/// <summary>
/// A parameter's value when configuration (<c>Parameters:&lt;name&gt;</c>) has none. Unlike
/// <c>AddParameter(name, value)</c>, which makes a constant that configuration never overrides, a parameter built on a
/// default is looked up in configuration first. Published to the manifest as the parameter's default value.
/// </summary>
internal sealed class ConfigurableParameterDefault(string value) : ParameterDefault
{
    public override string GetDefaultValue() => value;

    public override void WriteToManifest(ManifestPublishingContext context) => context.Writer.WriteString("value", value);
}
