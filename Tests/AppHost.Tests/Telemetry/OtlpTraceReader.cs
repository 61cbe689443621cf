using System.Buffers.Binary;
using System.Text;

namespace AppHost.Tests.Telemetry;

/// <summary>
/// Reads the spans of an OTLP <c>ExportTraceServiceRequest</c> (protobuf wire format), only the fields the tests need:
/// resource_spans(1) { resource(1) { attributes(1): service.name }, scope_spans(2) { scope(1) { name(1) },
/// spans(2) { trace_id(1), span_id(2), parent_span_id(4), name(5), start_time_unix_nano(7) } } }.
/// </summary>
public static class OtlpTraceReader
{
    public static IEnumerable<ReceivedSpan> Read(ReadOnlyMemory<byte> request)
    {
        var spans = new List<ReceivedSpan>();
        foreach (var resourceSpans in Fields(request).Where(f => f.Number == 1))
        {
            var service = "";
            foreach (var resource in Fields(resourceSpans.Bytes).Where(f => f.Number == 1))
            {
                foreach (var attribute in Fields(resource.Bytes).Where(f => f.Number == 1))
                {
                    var (key, value) = KeyValue(attribute.Bytes);
                    if (key == "service.name")
                    {
                        service = value;
                    }
                }
            }
            foreach (var scopeSpans in Fields(resourceSpans.Bytes).Where(f => f.Number == 2))
            {
                var scope = Fields(scopeSpans.Bytes).Where(f => f.Number == 1)
                    .SelectMany(s => Fields(s.Bytes)).Where(f => f.Number == 1).Select(f => Text(f.Bytes)).FirstOrDefault() ?? "";
                foreach (var span in Fields(scopeSpans.Bytes).Where(f => f.Number == 2))
                {
                    string traceId = "", spanId = "", parent = "", name = "";
                    ulong start = 0;
                    foreach (var field in Fields(span.Bytes))
                    {
                        switch (field.Number)
                        {
                            case 1: traceId = Convert.ToHexStringLower(field.Bytes.Span); break;
                            case 2: spanId = Convert.ToHexStringLower(field.Bytes.Span); break;
                            case 4: parent = Convert.ToHexStringLower(field.Bytes.Span); break;
                            case 5: name = Text(field.Bytes); break;
                            case 7: start = field.Value; break;
                        }
                    }
                    spans.Add(new ReceivedSpan(service, scope, traceId, spanId, parent, name,
                        DateTime.UnixEpoch.AddTicks((long)(start / 100))));
                }
            }
        }
        return spans;
    }

    private static (string Key, string Value) KeyValue(ReadOnlyMemory<byte> keyValue)
    {
        var fields = Fields(keyValue).ToList();
        var key = fields.Where(f => f.Number == 1).Select(f => Text(f.Bytes)).FirstOrDefault() ?? "";
        var value = fields.Where(f => f.Number == 2).SelectMany(f => Fields(f.Bytes)).Where(f => f.Number == 1)
            .Select(f => Text(f.Bytes)).FirstOrDefault() ?? "";
        return (key, value);
    }

    private static string Text(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);

    private readonly record struct Field(int Number, ReadOnlyMemory<byte> Bytes, ulong Value);

    /// <summary>The fields of one message: length-delimited ones as bytes, varints and fixed-width ones as a value.</summary>
    private static List<Field> Fields(ReadOnlyMemory<byte> message)
    {
        var fields = new List<Field>();
        var span = message.Span;
        var at = 0;
        while (at < message.Length)
        {
            var tag = Varint(span, ref at);
            var number = (int)(tag >> 3);
            switch (tag & 7)
            {
                case 0:
                    fields.Add(new Field(number, default, Varint(span, ref at)));
                    break;
                case 1:
                    fields.Add(new Field(number, default, BinaryPrimitives.ReadUInt64LittleEndian(span[at..])));
                    at += 8;
                    break;
                case 2:
                    var length = (int)Varint(span, ref at);
                    fields.Add(new Field(number, message.Slice(at, length), 0));
                    at += length;
                    break;
                case 5:
                    fields.Add(new Field(number, default, BinaryPrimitives.ReadUInt32LittleEndian(span[at..])));
                    at += 4;
                    break;
                default:
                    throw new InvalidDataException($"Protobuf wire type {tag & 7} at byte {at}.");
            }
        }
        return fields;
    }

    private static ulong Varint(ReadOnlySpan<byte> bytes, ref int at)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = bytes[at++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }
    }
}
