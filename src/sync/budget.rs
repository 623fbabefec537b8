//! The ZenQMS call budget of the tenant and its `429` pause, shared by every bridge process on
//! the database: ZenQMS sees one tenant and one token, so two bridges must not each spend
//! `ZENQMS_MAX_RPS`, nor one keep calling while ZenQMS has told the other to wait.
//!
//! The budget is one schedule of call slots for the whole tenant — a token bucket of capacity
//! one (GCRA) refilled at `ZENQMS_MAX_RPS`, so calls are evenly spaced: a tenant-wide
//! sliding-window limit of the same size is never exceeded by a burst. Its state is one row
//! (`zenqms_budget`, see `budget_row.rs`): the earliest moment the next call of any process may
//! go, and the end of the `429` pause in force. A process takes a few consecutive slots with
//! one `UPDATE … RETURNING` (a batch covers at most [`BATCH_SPAN`] of the budget, so slots a
//! process reserved but has no work for cost little), and every call checks the shared pause
//! just before it goes (a reading at most [`PAUSE_FRESH`] old): from the moment any process
//! records a `429`, no process sends anything before its `Retry-After` has passed.
//! docs/architecture.md ("One ZenQMS budget across instances") says why a shared bucket rather
//! than the budget divided among live instances.
//!
//! Times in the row are the database's clock (microseconds since the epoch), so processes on
//! machines whose clocks disagree still share one schedule; each reading is turned into this
//! process's monotonic clock through the database time the same statement returned.
//!
//! [`Budget::local`] keeps the schedule in memory (unit tests: the same logic without a
//! database).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::budget_row::{self, Reading};
use crate::store::{self, Pool, StoreError};

/// The shared schedule spaces calls 4 % wider than `1 / ZENQMS_MAX_RPS`. Across processes it
/// is all that keeps ZenQMS's sliding one-second window (counted at arrival): it leaves each
/// window 40 ms (at 20 calls/s) for what happens between a call leaving and arriving. 3 % left
/// a `429` now and then on a loaded two-core machine. Within one process the answer-gated
/// window ([`WINDOW_MARGIN`]) is the guarantee, and it binds first whenever ZenQMS takes 40 ms
/// or more to answer, so there the headroom costs nothing.
const HEADROOM: f64 = 1.04;

/// What this process lets leave: at most `floor(ZENQMS_MAX_RPS)` calls in any window of
/// `floor(rps) / rps` seconds plus [`WINDOW_MARGIN`], where a call occupies its place from the
/// moment it leaves until its answer came back plus the window ("answer-gated"). ZenQMS
/// counts a call when it arrives, some time between leaving and being answered; only the
/// answer bounds that moment, so a call `floor(rps)` places later goes no earlier than the
/// earlier one's answer plus the window — no transit delay, however long, can put both in one
/// window of ZenQMS. Counting departures alone (the previous rule, with a slightly wider
/// window) let 21 calls arrive within a second when the machine delayed some of them in
/// transit by tens of milliseconds. A call whose answer has not come back keeps its place,
/// so this also keeps at most `floor(rps)` calls in flight. Within one process only: other
/// processes on the database are kept apart by the shared schedule ([`HEADROOM`]) alone.
const WINDOW_MARGIN: Duration = Duration::from_millis(1);

/// A batch of slots covers at most this much of the budget (and at most [`MAX_BATCH`] slots):
/// one database round trip per batch, and little budget left unused when a process that
/// reserved slots turns out to have no call for them.
const BATCH_SPAN: Duration = Duration::from_millis(100);
const MAX_BATCH: u32 = 8;

/// How old a reading of the shared pause may be when a call goes. A `429` another process
/// records reaches every process within this (plus a database round trip).
pub const PAUSE_FRESH: Duration = Duration::from_millis(10);

/// A reserved slot not used within this of its time is given up: using it late would crowd
/// the slot after it, which another process may hold.
const LATE: Duration = Duration::from_millis(5);

/// The shared pause is read this long before a slot, not at it: the reading's database round
/// trip (a few milliseconds, far more on a loaded machine) would otherwise delay the call past
/// its slot by a varying amount and eat the spacing's headroom. A pause recorded within this
/// lead is still honoured if this process recorded it; another process's `429` in that
/// moment is the in-flight case of docs/architecture.md.
const PAUSE_LEAD: Duration = Duration::from_millis(20);

/// After a failed database round trip, the next attempt waits this long.
const RETRY: Duration = Duration::from_millis(250);

pub struct Budget {
    interval: Duration,
    batch: u32,
    /// Calls allowed in any `window`, answer-gated ([`WINDOW_MARGIN`]).
    window_calls: usize,
    window: Duration,
    /// Woken whenever a call's answer is recorded (a caller may be waiting for its place).
    answered: tokio::sync::Notify,
    /// `None`: this process alone ([`Budget::local`]).
    pool: Option<Pool>,
    state: Mutex<State>,
    /// One refill at a time: the other callers wait for it and take from what it brought.
    refill: tokio::sync::Mutex<()>,
}

struct State {
    /// Slots this process holds, earliest first.
    slots: VecDeque<Instant>,
    /// This process's last `window_calls` calls, in the order they left.
    sent: VecDeque<Sent>,
    /// The number the next call that leaves gets.
    next_id: u64,
    /// Local schedule only: the earliest moment of the next slot.
    next_free: Instant,
    /// The end of the `429` pause as last read or written.
    paused_until: Option<Instant>,
    /// When `paused_until` was read from (or written to) the shared row.
    checked_at: Option<Instant>,
}

/// One call that left: its number and, once recorded, when its answer came back.
struct Sent {
    id: u64,
    answered: Option<Instant>,
}

/// A call counted as gone ([`Budget::acquire`]): dropping it records its answer, so keep it
/// until the call's response (or its failure) is in hand.
#[must_use = "drop it only once the call has been answered"]
pub struct Departure<'a> {
    budget: &'a Budget,
    id: u64,
}

impl Drop for Departure<'_> {
    fn drop(&mut self) {
        let now = Instant::now();
        {
            let mut s = self.budget.lock();
            if let Some(c) = s.sent.iter_mut().find(|c| c.id == self.id) {
                c.answered = Some(now);
            }
        }
        self.budget.answered.notify_waiters();
    }
}

/// Why a call cannot leave yet.
#[derive(Debug, PartialEq, Eq)]
enum Wait {
    /// Its place frees at this moment.
    Until(Instant),
    /// Its place frees a window after an answer that has not come back.
    Answer,
}

impl State {
    /// A reading of the shared pause never shortens the one this process knows: the reading
    /// may have left the database before this process recorded its own `429` there (a pause
    /// is never shortened anywhere: the row keeps the later end too).
    fn merge_pause(&mut self, read: Option<Instant>) {
        self.paused_until = self.paused_until.max(read);
    }
}

impl Budget {
    /// The tenant's budget, shared through the database behind `pool`.
    pub fn shared(max_rps: f64, pool: Pool) -> Budget {
        Budget::build(max_rps, Some(pool))
    }

    /// A budget of this process alone, kept in memory.
    pub fn local(max_rps: f64) -> Budget {
        Budget::build(max_rps, None)
    }

    fn build(max_rps: f64, pool: Option<Pool>) -> Budget {
        let rps = if max_rps.is_finite() && max_rps > 0.0 {
            max_rps
        } else {
            1.0
        };
        let interval = Duration::from_secs_f64(HEADROOM / rps);
        let batch = (BATCH_SPAN.as_secs_f64() / interval.as_secs_f64()).floor() as u32;
        let window_calls = rps.floor().max(1.0);
        Budget {
            interval,
            batch: batch.clamp(1, MAX_BATCH),
            window_calls: window_calls as usize,
            window: Duration::from_micros((window_calls / rps * 1e6).round() as u64)
                + WINDOW_MARGIN,
            answered: tokio::sync::Notify::new(),
            pool,
            state: Mutex::new(State {
                slots: VecDeque::new(),
                sent: VecDeque::new(),
                next_id: 0,
                next_free: Instant::now(),
                paused_until: None,
                checked_at: None,
            }),
            refill: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Plain data, always consistent: a panic elsewhere cannot corrupt it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for this call's turn: after any `429` pause (of any process), in a slot of the
    /// tenant's schedule, and within this process's answer-gated window ([`WINDOW_MARGIN`]);
    /// the call is counted as leaving when this returns, and as answered when the returned
    /// [`Departure`] is dropped. Fails only when the database cannot be reached (no slot, no
    /// call).
    pub async fn acquire(&self) -> Result<Departure<'_>, StoreError> {
        'slot: loop {
            if let Some(end) = self.pause().await? {
                tokio::time::sleep_until(end).await;
                continue;
            }
            let Some(slot) = self.take_slot() else {
                self.refill().await?;
                continue;
            };
            let look = slot.checked_sub(PAUSE_LEAD).unwrap_or(slot);
            if look > Instant::now() {
                tokio::time::sleep_until(look).await;
            }
            // A 429 recorded (here or elsewhere) while this call waited for its slot wins.
            if self.pause().await?.is_some() {
                continue;
            }
            if slot > Instant::now() {
                tokio::time::sleep_until(slot).await;
            }
            loop {
                // One this process recorded during the lead (no round trip: the last reading).
                if self.paused_until().is_some() {
                    continue 'slot;
                }
                // Registered before looking, so an answer recorded in between still wakes it.
                let answer = self.answered.notified();
                match self.depart() {
                    Ok(id) => return Ok(Departure { budget: self, id }),
                    Err(Wait::Until(room)) => tokio::time::sleep_until(room).await,
                    Err(Wait::Answer) => answer.await,
                }
            }
        }
    }

    /// Counts this call as leaving now (its number) if its place in this process's window is
    /// free: the call `window_calls` places earlier was answered at least a window ago.
    fn depart(&self) -> Result<u64, Wait> {
        let now = Instant::now();
        let mut s = self.lock();
        if s.sent.len() >= self.window_calls {
            let earlier = &s.sent[s.sent.len() - self.window_calls];
            match earlier.answered {
                None => return Err(Wait::Answer),
                Some(at) if at + self.window > now => return Err(Wait::Until(at + self.window)),
                Some(_) => {}
            }
        }
        let id = s.next_id;
        s.next_id += 1;
        s.sent.push_back(Sent { id, answered: None });
        while s.sent.len() > self.window_calls {
            s.sent.pop_front();
        }
        Ok(id)
    }

    /// The earliest slot still usable; slots gone stale are given up.
    fn take_slot(&self) -> Option<Instant> {
        let now = Instant::now();
        let mut s = self.lock();
        while let Some(slot) = s.slots.pop_front() {
            if slot + LATE >= now {
                return Some(slot);
            }
        }
        None
    }

    /// Takes the next batch of slots (from the shared row, or the local schedule).
    async fn refill(&self) -> Result<(), StoreError> {
        let _one = self.refill.lock().await;
        if !self.lock().slots.is_empty() {
            return Ok(()); // another caller refilled while this one waited
        }
        let Some(pool) = &self.pool else {
            let mut s = self.lock();
            let first = s.next_free.max(Instant::now());
            s.slots = (0..self.batch).map(|i| first + self.interval * i).collect();
            s.next_free = first + self.interval * self.batch;
            return Ok(());
        };
        let (n, step) = (i64::from(self.batch), micros(self.interval));
        let (reading, base) = self
            .round_trip(pool, move |c| budget_row::take(c, n, step))
            .await?;
        let first = base.at(reading.first_us);
        let mut s = self.lock();
        s.slots = (0..self.batch).map(|i| first + self.interval * i).collect();
        s.merge_pause(base.pause(&reading));
        s.checked_at = Some(base.local);
        Ok(())
    }

    /// The end of the `429` pause in force anywhere, read from the shared row unless the last
    /// reading is at most [`PAUSE_FRESH`] old.
    pub async fn pause(&self) -> Result<Option<Instant>, StoreError> {
        let fresh = {
            let s = self.lock();
            self.pool.is_none() || s.checked_at.is_some_and(|t| t.elapsed() <= PAUSE_FRESH)
        };
        if !fresh {
            if let Some(pool) = &self.pool {
                let (reading, base) = self.round_trip(pool, budget_row::read).await?;
                let mut s = self.lock();
                s.merge_pause(base.pause(&reading));
                s.checked_at = Some(base.local);
            }
        }
        Ok(self.paused_until())
    }

    /// Nothing goes, from any process, before `now + retry_after` (a longer pause already in
    /// force stays). The slots this process holds fall inside the pause and are given up.
    pub async fn pause_for(&self, retry_after: Duration) -> Result<(), StoreError> {
        let until = Instant::now() + retry_after;
        {
            let mut s = self.lock();
            let until = s.paused_until.map_or(until, |p| p.max(until));
            s.paused_until = Some(until);
            s.slots.clear();
            s.next_free = s.next_free.max(until);
        }
        if let Some(pool) = &self.pool {
            let wait = micros(retry_after);
            let (reading, base) = self
                .round_trip(pool, move |c| budget_row::pause(c, wait))
                .await?;
            let mut s = self.lock();
            s.merge_pause(base.pause(&reading));
            s.checked_at = Some(base.local);
        }
        Ok(())
    }

    /// The end of the `429` pause in force as last read, if any (no database round trip).
    pub fn paused_until(&self) -> Option<Instant> {
        self.lock().paused_until.filter(|p| *p > Instant::now())
    }

    /// Runs one statement on the shared row; returns its reading and the local moment that
    /// corresponds to the database time it carries (the middle of the round trip).
    async fn round_trip<F>(&self, pool: &Pool, f: F) -> Result<(Reading, Base), StoreError>
    where
        F: FnOnce(&mut store::DbConn) -> Result<Reading, StoreError> + Send + 'static,
    {
        let before = Instant::now();
        match store::run(pool, f).await {
            Ok(reading) => {
                let local = before + before.elapsed() / 2;
                Ok((
                    reading,
                    Base {
                        local,
                        db_us: reading.now_us,
                    },
                ))
            }
            Err(e) => {
                // The caller fails (no slot, no call); a little later it may try again.
                tokio::time::sleep(RETRY).await;
                Err(e)
            }
        }
    }
}

/// One database moment and the local instant it corresponds to.
#[derive(Clone, Copy)]
struct Base {
    local: Instant,
    db_us: i64,
}

impl Base {
    fn at(&self, db_us: i64) -> Instant {
        let ahead = db_us.saturating_sub(self.db_us).max(0);
        self.local + Duration::from_micros(ahead as u64)
    }

    fn pause(&self, r: &Reading) -> Option<Instant> {
        (r.paused_until_us > r.now_us).then(|| self.at(r.paused_until_us))
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn calls_are_spaced_and_429_pauses_everyone() {
        let b = std::sync::Arc::new(Budget::local(10.0));
        let t0 = Instant::now();
        for _ in 0..5 {
            let _answered_at_once = b.acquire().await.unwrap();
        }
        // 0, 104, 208, 312, 416 ms.
        assert_eq!(t0.elapsed(), Duration::from_millis(416));
        b.pause_for(Duration::from_secs(2)).await.unwrap();
        let t1 = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let b = b.clone();
            tasks.push(tokio::spawn(async move {
                let _answered_at_once = b.acquire().await.unwrap();
                Instant::now()
            }));
        }
        let mut at: Vec<Instant> = Vec::new();
        for t in tasks {
            at.push(t.await.unwrap());
        }
        at.sort();
        assert!(at[0] >= t1 + Duration::from_secs(2));
        assert!(at[2] >= at[0] + Duration::from_millis(208));
        assert!(b.paused_until().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_place_frees_a_window_after_the_answer_not_the_departure() {
        let b = Budget::local(10.0);
        let t0 = Instant::now();
        // Ten calls leave at once (their slots were late): the eleventh waits for the first
        // one's answer, however long that takes — it keeps the place while in flight.
        let ids: Vec<u64> = (0..10).map(|_| b.depart().unwrap()).collect();
        assert_eq!(b.depart(), Err(Wait::Answer));
        // The first is answered 300 ms after it left: its place frees a window (1 s + the
        // margin) after that answer, not after its departure.
        tokio::time::advance(Duration::from_millis(300)).await;
        drop(Departure {
            budget: &b,
            id: ids[0],
        });
        let free = t0 + Duration::from_millis(1301);
        assert_eq!(b.depart(), Err(Wait::Until(free)));
        tokio::time::advance(Duration::from_millis(1000)).await;
        assert_eq!(b.depart(), Err(Wait::Until(free)));
        tokio::time::advance(Duration::from_millis(1)).await;
        let eleventh = b.depart().unwrap();
        // The twelfth waits for the second call, still unanswered, not for the eleventh.
        assert_eq!(b.depart(), Err(Wait::Answer));
        drop(Departure {
            budget: &b,
            id: ids[1],
        });
        assert_eq!(
            b.depart(),
            Err(Wait::Until(t0 + Duration::from_millis(2302)))
        );
        // Answers in any order: each place follows its own call's answer.
        drop(Departure {
            budget: &b,
            id: eleventh,
        });
        for id in &ids[2..] {
            drop(Departure {
                budget: &b,
                id: *id,
            });
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_waiting_for_an_answer_goes_a_window_after_it() {
        let b = std::sync::Arc::new(Budget::local(2.0));
        let first = b.acquire().await.unwrap();
        let _second = b.acquire().await.unwrap();
        let t0 = Instant::now();
        let waiter = {
            let b = b.clone();
            tokio::spawn(async move {
                let _third = b.acquire().await.unwrap();
                Instant::now()
            })
        };
        tokio::time::advance(Duration::from_millis(700)).await;
        drop(first);
        let left = waiter.await.unwrap();
        assert_eq!(left, t0 + Duration::from_millis(700 + 1001));
    }

    #[test]
    fn batches_cover_a_tenth_of_a_second() {
        assert_eq!(Budget::local(5.0).batch, 1);
        assert_eq!(Budget::local(20.0).batch, 1);
        assert_eq!(Budget::local(40.0).batch, 3);
        assert_eq!(Budget::local(1000.0).batch, MAX_BATCH);
    }
}
