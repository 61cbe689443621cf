namespace Platform.Tests.Stores;

/// <summary>
/// What <c>EnsureCreated</c> made before migrations existed (the SQLite script of the models at commit eea6f9f:
/// projects without the outbox, users), to test that such a database is adopted and keeps its rows.
/// </summary>
internal static class EnsureCreatedSchemas
{
    public const string ProjectsAtEea6f9f = """
        CREATE TABLE "Projects" (
            "Id" INTEGER NOT NULL CONSTRAINT "PK_Projects" PRIMARY KEY AUTOINCREMENT,
            "Name" TEXT NOT NULL,
            "OwnerId" TEXT NOT NULL,
            "CreatedAt" TEXT NOT NULL
        );
        CREATE TABLE "Deployments" (
            "Id" TEXT NOT NULL CONSTRAINT "PK_Deployments" PRIMARY KEY,
            "ProjectId" INTEGER NOT NULL,
            "Branch" TEXT NOT NULL,
            "Environment" TEXT NOT NULL,
            "JobId" TEXT NULL,
            "RequestedBy" TEXT NOT NULL,
            "CreatedAt" INTEGER NOT NULL,
            CONSTRAINT "FK_Deployments_Projects_ProjectId" FOREIGN KEY ("ProjectId") REFERENCES "Projects" ("Id") ON DELETE CASCADE
        );
        CREATE TABLE "ProjectMembers" (
            "ProjectId" INTEGER NOT NULL,
            "UserId" TEXT NOT NULL,
            "Role" TEXT NOT NULL,
            "AddedAt" TEXT NOT NULL,
            CONSTRAINT "PK_ProjectMembers" PRIMARY KEY ("ProjectId", "UserId"),
            CONSTRAINT "FK_ProjectMembers_Projects_ProjectId" FOREIGN KEY ("ProjectId") REFERENCES "Projects" ("Id") ON DELETE CASCADE
        );
        CREATE INDEX "IX_Deployments_JobId" ON "Deployments" ("JobId");
        CREATE INDEX "IX_Deployments_ProjectId_CreatedAt" ON "Deployments" ("ProjectId", "CreatedAt");
        CREATE INDEX "IX_ProjectMembers_UserId" ON "ProjectMembers" ("UserId");
        """;

    public const string UsersAtEea6f9f = """
        CREATE TABLE "Users" (
            "Id" INTEGER NOT NULL CONSTRAINT "PK_Users" PRIMARY KEY AUTOINCREMENT,
            "Email" TEXT NOT NULL,
            "NormalizedEmail" TEXT NOT NULL,
            "Name" TEXT NOT NULL,
            "PasswordHash" TEXT NOT NULL,
            "Tier" TEXT NOT NULL,
            "CreatedAt" TEXT NOT NULL
        );
        CREATE UNIQUE INDEX "IX_Users_NormalizedEmail" ON "Users" ("NormalizedEmail");
        """;
}
