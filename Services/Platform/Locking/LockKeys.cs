namespace Platform.Locking;

/// <summary>The one place that names lock keys; everything of one lock shares its hash tag.</summary>
internal static class LockKeys
{
    public static string Lock(string name) => $"lock:{{{name}}}";
    public static string Fence(string name) => $"lock:{{{name}}}:fence";
    public static string Released(string name) => $"lock:{{{name}}}:released";
}
