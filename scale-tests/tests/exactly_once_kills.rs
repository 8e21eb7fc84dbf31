//! Exactly-once turns across crashes: `scale-bot` processes on one Redis are SIGKILLed at
//! random points while 20 conversations send their messages, and started again. Like a
//! channel, each conversation sends every message again — the same activity, the same `id`
//! — until it is answered `2xx` (no answer: the process died mid-turn; `503`: a reply is
//! still pending, or the store had a conflict), to whichever process is up.
//!
//! Afterwards: every conversation's stored state lists each message once, in order (no turn
//! lost, none run twice); every message has a reply at the channel, and each reply that came
//! more than once came identical (a turn run again would have counted the message again:
//! `c=n+1`); and each reply delivered more than once was accepted before a kill and delivered
//! again after it — at most once per kill and conversation (a conversation has one turn in
//! flight, whose reply the channel may have accepted just before the kill, before the
//! delivery was recorded).
//!
//! The third test's channel gives up instead: it posts each message once and moves on, so
//! what a kill left undelivered must go out with the conversation's next turn (ahead of its
//! reply) or with a process's periodic outbox sweep. Then the stored state lists, in order,
//! the messages that were processed — every message answered `2xx` among them — and exactly
//! those have replies, with the same checks.
//!
//! `SCALE_TURNS` sets the number of messages (default 1,000), `SCALE_SEED` repeats a run.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use support::bot::BotProcess;
use support::channel::FakeChannel;
use support::{Reply, Rng, Store, activity, address, counters, env_usize, inspector};

/// Messages in all, over `CONVERSATIONS` (`SCALE_TURNS` overrides it).
const TURNS: usize = 1_000;
const CONVERSATIONS: usize = 20;
/// The channel's answer time: widens the window between a turn's save and its answer.
const ROUND_TRIP: Duration = Duration::from_millis(2);
/// A channel's pause before sending an unanswered activity again.
const RESEND_PAUSE: Duration = Duration::from_millis(20);
/// How long a killed process's outbox stays its own: a turn of its conversation waits that
/// long before delivering what it left (above any delivery here: the channel answers in ms).
const OUTBOX_LEASE_MS: u64 = 3_000;
/// The longest one message may take to be answered `2xx`, kills and restarts included.
const MESSAGE_DEADLINE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_process_killed_and_restarted_runs_every_turn_once_on_redis() {
    kill_loop(1, Resend::UntilAnswered).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_killed_and_restarted_run_every_turn_once_on_redis() {
    kill_loop(2, Resend::UntilAnswered).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replies_a_kill_left_go_out_with_the_next_turn_or_the_sweep_when_nothing_is_resent() {
    kill_loop(2, Resend::Never).await;
}

/// What the channel does with a message that got no `2xx` answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resend {
    /// Sends it again until it gets one.
    UntilAnswered,
    /// Nothing: it goes on with the conversation's next message.
    Never,
}

/// What one conversation's sender saw.
#[derive(Default)]
struct Sent {
    texts: Vec<String>,
    /// The messages answered `2xx`.
    answered: Vec<String>,
    /// Posts that got no answer (the process was down or died).
    unanswered: usize,
    /// Posts answered `503`.
    refused: usize,
}

async fn kill_loop(processes: usize, resend: Resend) {
    let started = Instant::now();
    let turns = env_usize("SCALE_TURNS", TURNS);
    let per_conversation = turns.div_ceil(CONVERSATIONS);
    let mut rng = Rng::from_env(processes as u64 * 2 + u64::from(resend == Resend::Never));
    let store = Store::redis();
    let channel = FakeChannel::start().await;
    channel.set_delay(ROUND_TRIP);
    let mut args = store.bot_args();
    args.extend(["--outbox-lease-ms".into(), OUTBOX_LEASE_MS.to_string()]);
    let mut bots: Vec<BotProcess> = ["a", "b"][..processes]
        .iter()
        .map(|name| BotProcess::start(name, &args))
        .collect();
    let urls = Arc::new(RwLock::new(
        bots.iter()
            .map(BotProcess::messages_url)
            .collect::<Vec<_>>(),
    ));
    let answered = Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    let senders: Vec<_> = (0..CONVERSATIONS)
        .map(|c| {
            let (http, urls, answered) = (http.clone(), urls.clone(), answered.clone());
            let service = channel.url().to_owned();
            tokio::spawn(async move {
                let mut sent = Sent::default();
                for k in 0..per_conversation {
                    let id = format!("c{c}-k{k}");
                    let a = activity(&service, &format!("conv{c}"), &format!("u{c}"), &id, &id);
                    let deadline = Instant::now() + MESSAGE_DEADLINE;
                    for attempt in 0.. {
                        let url = {
                            let urls = urls.read().unwrap();
                            urls[(k + attempt) % urls.len()].clone()
                        };
                        match support::try_post(&http, &url, &a).await {
                            Ok((status, _)) if (200..300).contains(&status) => {
                                sent.answered.push(id.clone());
                                break;
                            }
                            Ok((status, body)) => {
                                assert_eq!(status, 503, "{id}: {body}");
                                sent.refused += 1;
                            }
                            Err(_) => sent.unanswered += 1,
                        }
                        if resend == Resend::Never {
                            break;
                        }
                        assert!(Instant::now() < deadline, "{id} never answered 2xx");
                        tokio::time::sleep(RESEND_PAUSE).await;
                    }
                    sent.texts.push(id);
                    answered.fetch_add(1, Ordering::SeqCst);
                }
                sent
            })
        })
        .collect();

    // Kill a process (picked at random) every 1/40 to 1/12 of the turns, and start it again.
    let total = per_conversation * CONVERSATIONS;
    // The channel's arrival count right after each kill: a reply accepted before it and
    // delivered again after it may have been in the crash window.
    let mut kill_marks: Vec<usize> = Vec::new();
    let mut gap = || rng.below(total as u64 / 40 + 1..total as u64 / 12 + 2) as usize;
    let mut next = gap();
    while next < total {
        support::wait_until(
            MESSAGE_DEADLINE,
            "turns answered before the next kill",
            || {
                let answered = answered.clone();
                async move { (answered.load(Ordering::SeqCst) >= next).then_some(()) }
            },
        )
        .await;
        let p = next % processes;
        tokio::task::block_in_place(|| bots[p].kill());
        kill_marks.push(channel.len());
        tokio::task::block_in_place(|| bots[p].restart());
        urls.write().unwrap()[p] = bots[p].messages_url();
        next += gap();
    }
    let mut sent = Vec::new();
    for s in senders {
        sent.push(s.await.unwrap());
    }
    let fed = started.elapsed();
    let kills = kill_marks.len();
    assert!(kills > 0, "no process was killed");

    // What each conversation stored; every message there must get its reply — at once if
    // it was answered 2xx, else from a later turn or a sweep — and a late delivery of a
    // reply left behind by a kill would come in meanwhile.
    let reader = inspector(store.storage().await);
    let mut stored = Vec::new();
    for c in 0..CONVERSATIONS {
        let at = address(channel.url(), &format!("u{c}"), &format!("conv{c}"));
        stored.push(counters(&reader, &at).await);
    }
    let processed: Vec<&String> = stored.iter().flat_map(|(s, _)| &s.ids).collect();
    support::wait_until(MESSAGE_DEADLINE, "a reply to every stored message", || {
        let replies = support::accepted_replies(&channel);
        let missing = processed.iter().any(|id| !replies.contains_key(*id));
        async move { (!missing).then_some(()) }
    })
    .await;
    channel
        .wait_for(0, Duration::from_millis(500), MESSAGE_DEADLINE)
        .await;

    let accepted = channel.accepted();
    // The accepted replies by the message they answer: arrival number, parsed, text.
    let mut replies: HashMap<String, Vec<(usize, Reply, String)>> = HashMap::new();
    for a in &accepted {
        let r = Reply::parse(&a.text).unwrap_or_else(|| panic!("unexpected reply {a:?}"));
        let copies = replies.entry(r.text.clone()).or_default();
        copies.push((a.seq, r, a.text.clone()));
    }
    let mut tally = Tally::default();
    for (c, (s, (stored, user))) in sent.iter().zip(&stored).enumerate() {
        let n = stored.ids.len() as u64;
        let consistent = (stored.count, user.count) == (n, n);
        let expected = match resend {
            Resend::UntilAnswered => stored.ids == s.texts,
            // In order, each at most once, every message answered 2xx among them.
            Resend::Never => {
                let mut rest = s.texts.iter();
                stored.ids.iter().all(|id| rest.any(|t| t == id))
                    && s.answered.iter().all(|id| stored.ids.contains(id))
            }
        };
        if !consistent || !expected {
            tally.stored_wrong.push(format!(
                "conv{c}: sent {:?}, answered {:?}, stored count {} (user {}), ids {:?}",
                s.texts, s.answered, stored.count, user.count, stored.ids
            ));
        }
        tally.lost += s.texts.len().saturating_sub(stored.ids.len());
        tally.unacknowledged += stored
            .ids
            .iter()
            .filter(|id| !s.answered.contains(id))
            .count();
        // Kills that explained a duplicate of this conversation (one each at most).
        let mut used = vec![false; kills];
        for id in s.texts.iter().filter(|id| !stored.ids.contains(id)) {
            if replies.contains_key(id) {
                tally
                    .ran_again
                    .push(format!("{id}: a reply, but not stored"));
            }
        }
        for (k, id) in stored.ids.iter().enumerate() {
            let copies = replies.get(id).map_or(&[][..], Vec::as_slice);
            let Some((_, first, text)) = copies.first() else {
                tally.no_reply.push(id.clone());
                continue;
            };
            for pair in copies.windows(2) {
                let (before, after) = (pair[0].0, pair[1].0);
                let kill = (0..kills)
                    .find(|&i| !used[i] && before <= kill_marks[i] && kill_marks[i] < after);
                match kill {
                    Some(i) => used[i] = true,
                    None => tally.unexplained.push(format!(
                        "{id}: arrivals {before} and {after}, kills after arrivals {kill_marks:?}"
                    )),
                }
            }
            let mut texts: Vec<&String> = copies.iter().map(|(_, _, t)| t).collect();
            let n = k as u64 + 1;
            if (first.conversation_count, first.user_count) != (n, n) {
                tally.miscounted.push(format!("{text} (message {n})"));
            }
            texts.sort_unstable();
            texts.dedup();
            if texts.len() > 1 {
                tally.ran_again.push(format!("{id}: {texts:?}"));
            }
            tally.duplicates += copies.len() - texts.len();
        }
        // The conversation's replies first came in the order of its messages.
        let mut firsts: Vec<&str> = Vec::new();
        for a in accepted
            .iter()
            .filter(|a| a.conversation == format!("conv{c}"))
        {
            let text = a.text.split(' ').nth(1).unwrap_or_default();
            if !firsts.contains(&text) {
                firsts.push(text);
            }
        }
        if firsts != stored.ids {
            tally.out_of_order.push(format!("conv{c}: {firsts:?}"));
        }
    }

    let unanswered: usize = sent.iter().map(|s| s.unanswered).sum();
    let refused: usize = sent.iter().map(|s| s.refused).sum();
    eprintln!(
        "kill loop, {processes} process(es) on redis, channel resends {resend:?}: {total} \
         turns over {CONVERSATIONS} conversations, {kills} kills; {unanswered} posts \
         unanswered and {refused} answered 503; {} messages never processed, {} processed \
         but never answered 2xx (replied before the kill, by a later turn or by a sweep); {} replies \
         accepted, {} delivered again ({} not after a kill in the crash window); {} messages \
         without a reply, {} whose turn ran again, {} whose reply saw another count than its \
         place, {} conversations stored wrong, {} with replies out of order; fed in \
         {fed:?}, test took {:?}",
        tally.lost,
        tally.unacknowledged,
        accepted.len(),
        tally.duplicates,
        tally.unexplained.len(),
        tally.no_reply.len(),
        tally.ran_again.len(),
        tally.miscounted.len(),
        tally.stored_wrong.len(),
        tally.out_of_order.len(),
        started.elapsed()
    );
    tally.assert_clean();
}

/// What the checks found wrong, and the replies delivered more than once.
#[derive(Default)]
struct Tally {
    no_reply: Vec<String>,
    /// Messages answered with different replies: their turn ran more than once.
    ran_again: Vec<String>,
    /// Replies whose counters are not the message's place in its conversation.
    miscounted: Vec<String>,
    stored_wrong: Vec<String>,
    out_of_order: Vec<String>,
    /// Copies of a reply after the first.
    duplicates: usize,
    /// Copies of a reply that no kill explains.
    unexplained: Vec<String>,
    /// Messages never processed (the channel gave up on them).
    lost: usize,
    /// Messages processed but never answered `2xx`.
    unacknowledged: usize,
}

impl Tally {
    fn assert_clean(&self) {
        assert!(self.no_reply.is_empty(), "no reply: {:?}", self.no_reply);
        assert!(
            self.ran_again.is_empty(),
            "ran again: {:#?}",
            self.ran_again
        );
        assert!(self.miscounted.is_empty(), "{:#?}", self.miscounted);
        assert!(self.stored_wrong.is_empty(), "{:#?}", self.stored_wrong);
        assert!(self.out_of_order.is_empty(), "{:#?}", self.out_of_order);
        assert!(
            self.unexplained.is_empty(),
            "replies delivered again without a kill in between (or more than once per kill \
             and conversation): {:#?}",
            self.unexplained
        );
    }
}
