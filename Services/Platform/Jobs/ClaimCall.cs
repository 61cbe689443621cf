using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;

namespace Platform.Jobs;

/// <summary>
/// One call of claim.lua (complete a job and/or claim up to N), with a call id that its retries repeat: a retry whose
/// first reply was lost gets the first call's answer back instead of acting twice (see claim.lua). Leases in an
/// answer are counted from the send that got it: claim.lua starts (or, replaying, renews) every lease it returns no
/// earlier than that send. Counting from the first send instead cut short leases the server had started later (a
/// first send held in a stalled link, or lost with a master that died, then run fresh by a retry): the job's run was
/// cancelled while the server still held its lease, and the lease then ran out with its attempt counted.
/// </summary>
internal sealed class ClaimCall(ProcessorContext context, int take, string completeId = "", string completeToken = "", string result = "")
{
    private const int Header = 3;
    private const int Fields = 10;
    private const int PromoteAtMost = 1000;

    private readonly string _id = JobQueue.NewTokenBase();
    private long _firstSent;

    public int Take => take;

    /// <summary>Time left on the leases this call may have handed out; once past, a retry would find no stored answer.</summary>
    public TimeSpan LeaseLeft => _firstSent == 0 ? context.Options.VisibilityTimeout
        : context.Options.VisibilityTimeout - Stopwatch.GetElapsedTime(_firstSent);

    /// <summary>Sends the call (again, after a failure: same id); returns the answer.</summary>
    public async Task<Reply> SendAsync()
    {
        // Only a retry can find a stored reply: the first send spares the script that lookup.
        var retry = _firstSent != 0;
        var sent = Stopwatch.GetTimestamp();
        if (!retry)
        {
            _firstSent = sent;
        }
        var answer = (RedisResult[])(await JobQueue.Claim.EvaluateAsync(context.Db, context.Keys.All,
            [context.Keys.Prefix, take, context.LeaseMs, _id, PromoteAtMost, completeId, completeToken, result, context.Queue.RetentionMs,
             retry ? 1 : 0]))!;
        return new Reply(answer, sent, context);
    }

    /// <summary>claim.lua's answer: { next due, completion, orphans, 10 fields per leased job }.</summary>
    public sealed class Reply(RedisResult[] answer, long sent, ProcessorContext context)
    {
        /// <summary>Ms until the next scheduled job is due; -1 none known.</summary>
        public long NextDue => (long)answer[0];

        /// <summary>1 completed, 0 refused (the lease was lost), -1 no such job; null when no job was named.</summary>
        public long? Completion => answer[1].IsNull || (string?)answer[1] == "" ? null : (long)answer[1];

        public long Orphans => (long)answer[2];

        /// <summary>The leased jobs, each with its lease deadline running from the send that got this answer.</summary>
        public RunningJob[] Jobs()
        {
            var jobs = new RunningJob[(answer.Length - Header) / Fields];
            for (var i = 0; i < jobs.Length; i++)
            {
                var at = Header + i * Fields;
                string S(int f) => (string?)answer[at + f] ?? "";
                int I(int f) => int.Parse(S(f), CultureInfo.InvariantCulture);
                var job = new JobContext(S(0), context.Options.Queue, S(2), S(3), I(4), I(5),
                    DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(S(8), CultureInfo.InvariantCulture)), I(9));
                jobs[i] = new RunningJob(job, S(1), S(6), S(7), sent, context.Options.VisibilityTimeout);
            }
            return jobs;
        }
    }
}
