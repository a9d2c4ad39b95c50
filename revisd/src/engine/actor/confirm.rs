//! confirm: with several slots, a trial whose first run would be the new best gets its
//! `guardrails.confirm` runs at once, one per free slot (a run waits for a slot when none is
//! free). Each run is a row of `confirmation_runs` that the steps drive like a trial's run
//! (prepare, train, collect: see `store::confirmations`); the trial waits in phase `confirm`
//! and is judged, as a serial confirmation would be, once every run is done.

use crate::states::{IterationState, Phase};
use crate::store::{self, IterationRow, NewEvent, SessionRow};

use super::super::significance::Comparison;
use super::super::{Result, faults, stored};
use super::{Actor, Flow, slot_of};

impl Actor {
    /// The trial's first run would be the new best: its other runs are created, in the free
    /// slots (its own first: the trial leaves it), and the trial waits for them.
    pub(super) async fn start_confirmations(
        &mut self,
        session: &SessionRow,
        mut it: IterationRow,
        value: f64,
        runs: i64,
    ) -> Result<Flow> {
        let number = it.number();
        let pool = self.engine.store().pool();
        let mut taken: std::collections::HashSet<u32> = store::iterations::progress(pool, self.id)
            .await?
            .iter()
            .filter(|r| r.number != it.number && r.state != IterationState::Interrupted)
            .filter_map(|r| if r.phase.holds_slot() { Some(slot_of(r.slot)) } else { r.target_slot.map(slot_of) })
            .collect();
        taken.extend(store::confirmations::slots_taken(pool, self.id).await?);
        let own = slot_of(it.slot);
        let mut free = std::iter::once(own)
            .chain(self.slots.iter().map(|s| s.index).filter(|s| *s != own))
            .filter(|s| !taken.contains(s));
        let planned: Vec<(u32, Option<u32>)> =
            (2..=u32::try_from(runs).unwrap_or(2)).map(|replicate| (replicate, free.next())).collect();
        let in_slots: Vec<String> = planned.iter().filter_map(|(_, s)| s.map(|s| s.to_string())).collect();
        it.replicates_json = serde_json::json!([value]).to_string();
        it.phase = Phase::Confirm;
        it.state = IterationState::Running;
        faults::point("collect", Some(number));
        let mut tx = self.begin().await?;
        store::iterations::save(&mut tx, &it).await?;
        store::confirmations::insert(&mut tx, self.id, number, &planned).await?;
        let waiting = planned.len() - in_slots.len();
        let wait_note = match waiting {
            0 => String::new(),
            n => format!(", {n} waiting for a free slot"),
        };
        let message = format!(
            "iteration {number}: {}={value} would be the new best; confirming it with {} more runs at once (slots {}{wait_note})",
            session.primary_metric,
            planned.len(),
            if in_slots.is_empty() { "-".to_string() } else { in_slots.join(", ") },
        );
        let event = self
            .event(
                &mut tx,
                NewEvent::new("replicate", Some(number), message)
                    .with_data(serde_json::json!({"replicate": 1, "primary": value, "parallel": true})),
            )
            .await?;
        self.finish(tx, vec![event]).await?;
        Ok(Flow::Continue)
    }

    /// One confirmation run has ended: its value (or why it has none) is kept on its row. The
    /// trial is judged once all its runs are in (`judge_confirmed`).
    pub(super) async fn collect_confirmation_run(&mut self, mut it: IterationRow) -> Result<Flow> {
        let number = it.number();
        let session = self.reload().await?;
        let (verdict, warnings) = self.run_verdict(&mut it, &session, None).await?;
        let runs = self.config.guardrails.confirm + 1;
        let message = match &verdict {
            Ok(value) => {
                it.state = IterationState::Succeeded;
                it.primary_value = Some(*value);
                format!(
                    "iteration {number}: confirmation run {} of {runs}: {}={value}",
                    it.replicate, session.primary_metric
                )
            }
            Err(reason) => {
                it.state = IterationState::Failed;
                it.failure_reason = Some(reason.clone());
                format!("iteration {number}: confirmation run {} of {runs} failed: {reason}", it.replicate)
            }
        };
        it.warnings_json = serde_json::json!(warnings).to_string();
        it.phase = Phase::Done;
        faults::point("collect", Some(number));
        self.record(
            &it,
            NewEvent::new("replicate", Some(number), message)
                .with_data(serde_json::json!({"replicate": it.replicate, "primary": it.primary_value})),
        )
        .await?;
        Ok(Flow::Continue)
    }

    /// Every confirmation run of the trial is done: the trial is judged on the mean of all its
    /// runs, as a serial confirmation is.
    pub(super) async fn judge_confirmed(&mut self, mut it: IterationRow) -> Result<Flow> {
        let number = it.number();
        let pool = self.engine.store().pool();
        let runs = store::confirmations::of(pool, self.id, number).await?;
        if runs.is_empty() || runs.iter().any(|r| r.phase != Phase::Done) {
            return Ok(Flow::Continue);
        }
        let shared = self.shared.clone();
        let _judge = shared.judge.lock().await;
        let judging = self.judging().await?;
        let total = runs.len() + 1;
        let mut values: Vec<f64> = stored::parse(&it.replicates_json, "replicates_json", &it)?;
        values.truncate(1);
        let mut holdout: Vec<f64> = stored::parse(it.holdout_json.as_deref().unwrap_or("[]"), "holdout_json", &it)?;
        holdout.truncate(1);
        let mut failed = None;
        let mut warnings = Vec::new();
        for run in &runs {
            let kept: Vec<String> = serde_json::from_str(&run.warnings_json).unwrap_or_default();
            warnings.extend(kept.into_iter().map(|w| format!("run {}: {w}", run.replicate)));
            match (run.state, run.primary_value) {
                (IterationState::Succeeded, Some(v)) => values.push(v),
                _ if failed.is_none() => {
                    let reason = run.failure_reason.clone().unwrap_or_else(|| "no value".into());
                    failed = Some(format!("confirmation run {} of {total} failed: {reason}", run.replicate));
                }
                _ => {}
            }
            holdout.extend(run.holdout_value);
        }
        if !holdout.is_empty() {
            it.holdout_json = Some(serde_json::json!(holdout).to_string());
        }
        let mut confirmation: Option<Comparison> = None;
        let verdict = match failed {
            Some(reason) => {
                it.replicates_json = serde_json::json!(values).to_string();
                Err(reason)
            }
            None => Ok(self.confirmed_mean(&mut it, &judging, &values, &mut confirmation)?),
        };
        let noise_floor = judging.session.noise_floor;
        self.conclude(it, &judging, verdict, confirmation, noise_floor, warnings).await
    }
}
