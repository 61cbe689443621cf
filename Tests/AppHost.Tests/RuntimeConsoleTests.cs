using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AppHost.Tests;

/// <summary>The AppHost's own console says, once at start, which Redis and database runtimes it chose and why.</summary>
public sealed class RuntimeConsoleTests
{
    [Fact]
    public async Task AtStartTheConsoleSaysOnceWhichRedisAndDatabaseRuntimesRunAndWhy()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(["--Redis:Runtime=garnet", "--Database:Runtime=sqlite"], timeout.Token);
        var console = new ConsoleLines();
        builder.Services.AddSingleton<ILoggerProvider>(console);
        await using var app = await builder.BuildAsync(timeout.Token);

        await app.StartAsync(timeout.Token);
        while (!console.Lines.Any(l => l.Message.StartsWith("Now listening on", StringComparison.Ordinal) || l.Category == RuntimeConsole.Category))
        {
            await Task.Delay(100, timeout.Token);
        }
        await Task.Delay(TimeSpan.FromSeconds(2), timeout.Token); // room for a second line

        Assert.Equal(
            ["database runtime: Sqlite (Database:Runtime is 'sqlite')", "redis runtime: Garnet, persistence none (Redis:Runtime is 'garnet')"],
            console.Lines.Where(l => l.Category == RuntimeConsole.Category).Select(l => l.Message).Order());
    }

    private sealed class ConsoleLines : ILoggerProvider
    {
        public ConcurrentQueue<(string Category, string Message)> Lines { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(categoryName, Lines);

        public void Dispose()
        {
        }

        private sealed class Logger(string category, ConcurrentQueue<(string, string)> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (IsEnabled(logLevel))
                {
                    lines.Enqueue((category, formatter(state, exception)));
                }
            }
        }
    }
}
