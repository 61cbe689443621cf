using Aspire.Hosting.ApplicationModel;

namespace AppHost.Database;

/// <summary>
/// The data of record as the AppHost models it: the runtime chosen (and why), and, on PostgreSQL, the server and one
/// database per owning service (<c>users</c> for auth, <c>projects</c> for api and the worker's provisioning).
/// On SQLite all three are null and services keep their files.
/// </summary>
public sealed record DatabaseResources(
    DatabaseRuntimeChoice Choice,
    IResourceBuilder<IResourceWithConnectionString>? Server,
    IResourceBuilder<IResourceWithConnectionString>? Users,
    IResourceBuilder<IResourceWithConnectionString>? Projects);
