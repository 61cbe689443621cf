using System.Text;
using Microsoft.Extensions.Options;
using Platform.Jobs;

namespace Worker.Handlers;

/// <summary>
/// <c>email {to, subject, body}</c>: writes the message as <c>&lt;jobId&gt;.eml</c> into the mail sink folder, a
/// stand-in for SMTP. Named by job id and written by rename, so a rerun replaces the file rather than sending twice.
/// </summary>
public sealed class EmailHandler(IOptions<WorkerOptions> options, ILogger<EmailHandler> logger) : IJobHandler
{
    public async Task<string?> HandleAsync(JobContext job, CancellationToken cancellationToken)
    {
        var mail = Payload.Read<EmailPayload>(job);
        if (string.IsNullOrWhiteSpace(mail.To) || !mail.To.Contains('@') || mail.To.Length > 320 || mail.To.IndexOfAny(['\r', '\n']) >= 0)
        {
            throw new PermanentJobFailureException($"'to' must be one email address; got '{mail.To}'.");
        }
        if (mail.Subject is null || mail.Subject.IndexOfAny(['\r', '\n']) >= 0 || mail.Body is null)
        {
            throw new PermanentJobFailureException("'subject' (one line) and 'body' are required.");
        }

        var directory = Path.GetFullPath(options.Value.MailDirectory);
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, $"{job.Id}.eml");
        var message = new StringBuilder()
            .Append("Message-ID: <").Append(job.Id).Append("@worker.local>\r\n")
            .Append("Date: ").Append(DateTimeOffset.UtcNow.ToString("R")).Append("\r\n")
            .Append("To: ").Append(mail.To).Append("\r\n")
            .Append("Subject: ").Append(mail.Subject).Append("\r\n")
            .Append("Content-Type: text/plain; charset=utf-8\r\n\r\n")
            .Append(mail.Body).ToString();
        var temporary = path + ".tmp";
        await File.WriteAllTextAsync(temporary, message, cancellationToken);
        File.Move(temporary, path, overwrite: true);
        logger.LogInformation("Email {JobId} to {To} written to the mail sink", job.Id, mail.To);
        return null;
    }

    private sealed record EmailPayload(string? To, string? Subject, string? Body);
}
