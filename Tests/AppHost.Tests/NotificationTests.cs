using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Platform.Tests.Notifications;
using static AppHost.Tests.GatewayClient;

namespace AppHost.Tests;

/// <summary>The notification stream through the gateway, as a browser's EventSource or <c>curl -N</c> sees it.</summary>
[Collection(SystemCollection.Name)]
public sealed class NotificationTests(DistributedAppFixture system)
{
    [Fact]
    public async Task AnAlertPostedByTheAdminReachesAUsersStreamThroughTheGatewayAndResumes()
    {
        using var gateway = system.CreateGatewayClient();
        gateway.Timeout = Timeout.InfiniteTimeSpan;
        var email = NewEmail();
        await gateway.RegisterAsync(email);
        var user = await gateway.LoginAsync(email);
        var admin = await gateway.LoginAsync(system.AdminEmail, system.AdminPassword);

        using (var anonymous = await SseClient.SendAsync(gateway, token: null))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }
        await using var stream = await SseClient.ConnectAsync(gateway, user.Token);

        Assert.Equal(HttpStatusCode.Forbidden, (await PostAlertAsync(gateway, user.Token, """{"message":"hi","severity":"info"}""")).Status);
        var (badStatus, badType, _) = await PostAlertAsync(gateway, admin.Token, """{"message":"hi","severity":"loud"}""");
        Assert.Equal((HttpStatusCode.BadRequest, "application/problem+json"), (badStatus, badType));

        var (status, _, body) = await PostAlertAsync(gateway, admin.Token, """{"message":"deploys paused","severity":"warning"}""");
        Assert.Equal(HttpStatusCode.Accepted, status);
        var id = JsonDocument.Parse(body).RootElement.GetProperty("id").GetInt64();

        var received = Assert.Single(await stream.ReadEventsAsync(1, TimeSpan.FromSeconds(30)));
        Assert.Equal(("system_alert", id), (received.Type, received.Id!.Value));
        Assert.Equal("deploys paused", JsonDocument.Parse(received.Data).RootElement.GetProperty("payload").GetProperty("message").GetString());

        // A second alert while this client is away reaches it on resume, through the gateway too.
        var (_, _, secondBody) = await PostAlertAsync(gateway, admin.Token, """{"message":"deploys resumed","severity":"info"}""");
        var second = JsonDocument.Parse(secondBody).RootElement.GetProperty("id").GetInt64();
        await using var resumed = await SseClient.ConnectAsync(gateway, user.Token, lastEventId: id);
        Assert.Equal(second, Assert.Single(await resumed.ReadEventsAsync(1, TimeSpan.FromSeconds(30))).Id);
    }

    private static async Task<(HttpStatusCode Status, string? MediaType, string Body)> PostAlertAsync(HttpClient gateway, string token, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/notifications/alerts")
        {
            Content = new StringContent(json, Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await gateway.SendAsync(request);
        return (response.StatusCode, response.Content.Headers.ContentType?.MediaType, await response.Content.ReadAsStringAsync());
    }
}
