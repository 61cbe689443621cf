using System.Net;
using System.Net.Sockets;

namespace Platform.RateLimiting;

/// <summary>The part of a client's address that names one caller for the limits.</summary>
public static class ClientAddress
{
    /// <summary>
    /// IPv4: the address. IPv6: its /64, the smallest block a site is given (RFC 6177): one host holds the whole
    /// /64 and can pick a new address from it for every request, so per /128 would be no limit at all.
    /// </summary>
    public static string Partition(IPAddress? address)
    {
        if (address is null)
        {
            return "unknown";
        }
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }
        var bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return $"{new IPAddress(bytes)}/64";
    }
}
