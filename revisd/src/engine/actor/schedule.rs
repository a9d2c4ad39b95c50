//! The scheduler: which iterations in progress may take a step now, in which slot, and the
//! boxes of `executor.hosts` that cannot be reached (their slots retired, their connection
//! tried again with backoff).

use std::collections::HashMap;
use std::time::Duration;

use tokio::task::JoinSet;

use crate::states::{IterationState, Phase, SessionState};
use crate::store::{self, NewEvent, SessionRow};

use super::super::{EngineError, Result};
use super::{Actor, Ending, Flow, slot_of};

/// What a step in flight works on: a trial (or its decision), one confirmation run of a
/// trial, or the connection probe of a retired box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum StepKey {
    Iteration(u32),
    Confirmation { number: u32, replicate: u32 },
    Probe(usize),
}

pub(super) fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86_400)
}

/// A box of `executor.hosts` that could not be reached, and when its connection is tried again.
pub(super) struct Retired {
    pub(super) retry_at: tokio::time::Instant,
    failures: u32,
}

/// Waits between connection attempts to a retired box: 5 s, doubling, at most 5 minutes.
pub(super) fn retry_delay(failures: u32) -> Duration {
    Duration::from_secs(5u64.saturating_mul(1 << failures.min(6).saturating_sub(1)).min(300))
}

/// The steps in flight, each answering with its key and how it went.
pub(super) type Steps = JoinSet<(StepKey, Result<Flow>)>;

/// What the scheduler keeps of the steps in flight.
pub(super) type Busy = HashMap<StepKey, Phase>;

/// What the scheduler knows when it looks for work.
pub(super) struct Schedule<'a> {
    pub(super) session: &'a SessionRow,
    pub(super) ending: Option<&'a Ending>,
    pub(super) draining: Option<&'a Ending>,
    /// Boxes that cannot be reached: their slots take no new trial.
    pub(super) retired: &'a HashMap<usize, Retired>,
}

impl Actor {
    /// Starts a step for every iteration in progress that may take one now and has none:
    /// - trials being run or collected always (a paused session finishes them), unless the
    ///   session is ending at once;
    /// - a decided trial (applied, committed, about to start) while the session runs with no
    ///   stop pending, and a new decision only while no stop rule holds either;
    /// - one decision at a time, each for a free slot it claims first (so a proposal sees
    ///   every trial running or decided before it).
    pub(super) async fn schedule(&mut self, plan: &Schedule<'_>, steps: &mut Steps, busy: &mut Busy) -> Result<()> {
        let pool = self.engine.store().pool();
        let rows = store::iterations::progress(pool, self.id).await?;
        let confirmations = store::confirmations::in_progress(pool, self.id).await?;
        let session = plan.session;
        let runs_go_on = plan.ending.is_none();
        // Decided trials are carried through to their runs while the session runs with no stop
        // pending (a stop rule that holds still counts them: they were numbered before it);
        // no new decision is made once a stop rule holds.
        let carry_on = runs_go_on && session.state == SessionState::Running && session.stop_requested.is_none();
        let new_work = carry_on && plan.draining.is_none();
        let mut taken: std::collections::HashSet<u32> = rows
            .iter()
            .filter_map(|r| if r.phase.holds_slot() { Some(slot_of(r.slot)) } else { r.target_slot.map(slot_of) })
            .collect();
        let slots = self.slots.clone();
        let down =
            |slot: u32| slots.get(slot as usize).and_then(|s| s.host).is_some_and(|h| plan.retired.contains_key(&h));
        // A retired box's slots are never free, and its trials wait before they start.
        taken.extend(self.slots.iter().map(|s| s.index).filter(|k| down(*k)));
        taken.extend(
            confirmations.iter().filter(|c| c.state != IterationState::Interrupted).filter_map(|c| c.slot.map(slot_of)),
        );
        // Confirmation runs come first: a free slot goes to the run of a trial that would be
        // the new best before it goes to a new decision.
        for run in &confirmations {
            let key = StepKey::Confirmation { number: run.number(), replicate: run.replicate() };
            if busy.contains_key(&key) || run.state == IterationState::Interrupted {
                continue;
            }
            let slot = match (run.phase, run.slot.map(slot_of)) {
                (Phase::Train | Phase::Collect, Some(slot)) if runs_go_on => slot,
                (Phase::Prepare, Some(slot)) if carry_on && !down(slot) => slot,
                (Phase::Prepare, None) if carry_on => {
                    let Some(free) = self.slots.iter().map(|s| s.index).find(|k| !taken.contains(k)) else { continue };
                    let mut tx = self.begin().await?;
                    store::confirmations::set_slot(&mut tx, self.id, run.number(), run.replicate(), free).await?;
                    self.finish(tx, vec![]).await?;
                    taken.insert(free);
                    free
                }
                _ => continue,
            };
            busy.insert(key, run.phase);
            let mut worker = self.worker(slot);
            let session = session.clone();
            let (number, replicate) = (run.number(), run.replicate());
            steps.spawn(async move {
                let flow = async {
                    worker.ensure_worktree().await?;
                    let pool = worker.engine.store().pool();
                    let trial = store::iterations::get(pool, worker.id, number).await?;
                    let run = store::confirmations::get(pool, worker.id, number, replicate).await?;
                    match (trial, run) {
                        (Some(trial), Some(run)) => worker.phase_step(&session, run.as_iteration(&trial)).await,
                        _ => Ok(Flow::Continue),
                    }
                };
                (key, flow.await)
            });
        }
        let mut deciding = busy.values().any(|p| *p == Phase::Advise);
        for row in rows {
            let (number, phase) = (row.number(), row.phase);
            if busy.contains_key(&StepKey::Iteration(number)) || row.state == IterationState::Interrupted {
                continue;
            }
            let slot = match row.phase {
                // A trial waiting for its confirmation runs is judged once they are all done.
                Phase::Confirm if runs_go_on => {
                    let waiting = confirmations.iter().any(|c| c.number == row.number)
                        || busy.keys().any(|k| matches!(k, StepKey::Confirmation { number: n, .. } if *n == number));
                    if waiting {
                        continue;
                    }
                    slot_of(row.slot)
                }
                Phase::Train | Phase::Collect if runs_go_on => slot_of(row.slot),
                Phase::Prepare if carry_on && !down(slot_of(row.slot)) => slot_of(row.slot),
                Phase::Apply | Phase::Commit if carry_on => row.target_slot.map_or(slot_of(row.slot), slot_of),
                Phase::Advise if new_work && !deciding => match row.target_slot {
                    Some(slot) => slot_of(slot),
                    None => {
                        // With every slot busy, the trials running will each decide after
                        // themselves: this one has nothing left to fill and is done.
                        let free = self.slots.iter().map(|s| s.index).find(|k| !taken.contains(k));
                        let mut tx = self.begin().await?;
                        store::iterations::claim_slot(&mut tx, self.id, number, free).await?;
                        self.finish(tx, vec![]).await?;
                        let Some(slot) = free else { continue };
                        taken.insert(slot);
                        slot
                    }
                },
                _ => continue,
            };
            if phase == Phase::Advise {
                deciding = true;
            }
            busy.insert(StepKey::Iteration(number), phase);
            let mut worker = self.worker(slot);
            let session = session.clone();
            steps.spawn(async move {
                let flow = match worker.ensure_worktree().await {
                    Ok(()) => {
                        let it = store::iterations::get(worker.engine.store().pool(), worker.id, number).await;
                        match it {
                            Ok(Some(it)) => worker.phase_step(&session, it).await,
                            Ok(None) => Ok(Flow::Continue),
                            Err(e) => Err(e.into()),
                        }
                    }
                    Err(e) => Err(e),
                };
                (StepKey::Iteration(number), flow)
            });
        }
        self.probe_retired(plan.retired, steps, busy);
        Ok(())
    }

    /// Tries the connection of each retired box whose wait is over (one probe at a time each).
    pub(super) fn probe_retired(&self, retired: &HashMap<usize, Retired>, steps: &mut Steps, busy: &mut Busy) {
        let now = tokio::time::Instant::now();
        for (host, r) in retired {
            let key = StepKey::Probe(*host);
            if r.retry_at > now || busy.contains_key(&key) {
                continue;
            }
            let Some(slot) = self.slots.iter().find(|s| s.host == Some(*host)) else { continue };
            busy.insert(key, Phase::Done);
            let mut worker = self.worker(slot.index);
            let host = *host;
            steps.spawn(async move {
                let probe = async {
                    let exec = worker.exec().await?;
                    exec.is_alive("revis-probe").await?;
                    Ok::<(), EngineError>(())
                };
                let flow = match probe.await {
                    Ok(()) => Flow::HostUp { host },
                    Err(e) => Flow::HostDown { host, reason: e.to_string() },
                };
                (key, Ok(flow))
            });
        }
    }

    /// Whether every slot is on a retired box.
    pub(super) fn every_slot_retired(&self, retired: &HashMap<usize, Retired>) -> bool {
        !retired.is_empty() && self.slots.iter().all(|s| s.host.is_some_and(|h| retired.contains_key(&h)))
    }

    /// Retires a box's slots after a failure to reach it (again: the wait before the next try
    /// doubles). The first failure is an event naming the slots.
    pub(super) async fn retire_host(
        &mut self,
        retired: &mut HashMap<usize, Retired>,
        host: usize,
        reason: &str,
    ) -> Result<()> {
        let now = tokio::time::Instant::now();
        if let Some(r) = retired.get_mut(&host) {
            r.failures += 1;
            r.retry_at = now + retry_delay(r.failures);
            tracing::info!(session = %self.name, host, error = %reason, "a retired host still cannot be reached");
            return Ok(());
        }
        let delay = retry_delay(1);
        retired.insert(host, Retired { retry_at: now + delay, failures: 1 });
        let name = self.config.executor.hosts.get(host).map(|h| h.host.clone()).unwrap_or_default();
        let slots: Vec<String> =
            self.slots.iter().filter(|s| s.host == Some(host)).map(|s| s.index.to_string()).collect();
        let message = format!(
            "host {name} cannot be reached: slot{} {} retired ({reason}); the connection is tried again in {}s",
            if slots.len() == 1 { "" } else { "s" },
            slots.join(", "),
            delay.as_secs()
        );
        let event = NewEvent::new("slots_retired", None, message)
            .with_data(serde_json::json!({"host": name, "slots": slots, "reason": reason}));
        let mut tx = self.begin().await?;
        let event = self.event(&mut tx, event).await?;
        self.finish(tx, vec![event]).await
    }

    pub(super) async fn host_restored(&mut self, host: usize) -> Result<()> {
        let name = self.config.executor.hosts.get(host).map(|h| h.host.clone()).unwrap_or_default();
        let event = NewEvent::new("slots_restored", None, format!("host {name} answers again: its slots take trials"))
            .with_data(serde_json::json!({"host": name}));
        let mut tx = self.begin().await?;
        let event = self.event(&mut tx, event).await?;
        self.finish(tx, vec![event]).await
    }
}
