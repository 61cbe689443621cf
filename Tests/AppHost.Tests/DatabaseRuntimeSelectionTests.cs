using AppHost.Database;

namespace AppHost.Tests;

/// <summary>Every branch of the database runtime choice, with the machine's two answers given rather than probed.</summary>
public sealed class DatabaseRuntimeSelectionTests
{
    private const string PostgresBin = "/usr/lib/postgresql/15/bin";

    [Theory]
    [InlineData(null, true, PostgresBin, DatabaseRuntimeKind.Container)]
    [InlineData("auto", true, PostgresBin, DatabaseRuntimeKind.Container)]
    [InlineData("auto", false, PostgresBin, DatabaseRuntimeKind.Local)]
    [InlineData("AUTO", false, PostgresBin, DatabaseRuntimeKind.Local)]
    [InlineData("auto", false, null, DatabaseRuntimeKind.Sqlite)]
    [InlineData("container", false, PostgresBin, DatabaseRuntimeKind.Container)]
    [InlineData("local", true, PostgresBin, DatabaseRuntimeKind.Local)]
    [InlineData("sqlite", true, PostgresBin, DatabaseRuntimeKind.Sqlite)]
    public void RunModeFollowsTheSettingAndTheMachine(string? setting, bool engine, string? postgres, DatabaseRuntimeKind expected)
    {
        var choice = DatabaseRuntimeSelector.Select(setting, isPublishMode: false, () => engine, () => postgres);

        Assert.Equal(expected, choice.Kind);
        Assert.Equal(expected == DatabaseRuntimeKind.Local ? postgres : null, choice.PostgresBinDirectory);
    }

    [Theory]
    [InlineData("auto")]
    [InlineData("local")]
    [InlineData("sqlite")]
    public void PublishingAlwaysDeploysTheContainerWithoutProbingTheMachine(string setting)
    {
        var choice = DatabaseRuntimeSelector.Select(setting, isPublishMode: true,
            () => throw new InvalidOperationException("probed the engine"),
            () => throw new InvalidOperationException("probed PATH"));

        Assert.Equal(DatabaseRuntimeKind.Container, choice.Kind);
    }

    [Fact]
    public void AnUnknownRuntimeIsRefusedWithTheAllowedValues()
    {
        var error = Assert.Throws<DistributedApplicationException>(
            () => DatabaseRuntimeSelector.Select("mysql", isPublishMode: false, () => true, () => PostgresBin));

        Assert.Contains("'mysql'", error.Message);
        Assert.Contains("auto, container, local, sqlite", error.Message);
    }

    [Fact]
    public void LocalWithoutPostgresOnPathIsRefusedWithTheInstallCommand()
    {
        var error = Assert.Throws<DistributedApplicationException>(
            () => DatabaseRuntimeSelector.Select("local", isPublishMode: false, () => false, () => null));

        Assert.Contains("apt-get install postgresql", error.Message);
    }

    [Fact]
    public void AMachineWithNeitherEngineNorPostgresKeepsSqliteAndSaysHowToGetPostgres()
    {
        var choice = DatabaseRuntimeSelector.Select("auto", isPublishMode: false, () => false, () => null);

        Assert.Equal(DatabaseRuntimeKind.Sqlite, choice.Kind);
        Assert.Contains("Docker", choice.Reason);
        Assert.Contains("install postgres", choice.Reason);
    }
}
