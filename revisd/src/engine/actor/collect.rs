//! collect: the run's metrics from the session's source, judged (missing, NaN, diverged), the
//! baseline's replicates folded into their mean and noise floor, and progress measured against
//! the best so far beyond the threshold and the noise. With `guardrails.confirm`, a trial whose
//! first run would be the new best runs again with other seeds, and is promoted only when the
//! mean of its runs beats the best's under Welch's t-test (`significance`).

use crate::metrics::{self, Assessment};
use crate::states::{IterationState, Outcome, Phase};
use crate::store::{self, IterationRow, NewEvent, SessionRow};

use super::super::significance::{self, Comparison};
use super::super::{Result, faults, rules, stored};
use super::{Actor, Flow};

impl Actor {
    pub(super) async fn collect(&mut self, mut it: IterationRow) -> Result<Flow> {
        if it.confirmation {
            return self.collect_confirmation_run(it).await;
        }
        let number = it.number();
        if let Some(step) = it.stopped_at_step {
            return self.stopped_early(it, step).await;
        }
        // Judging reads and writes the session's progress (best, failures): one at a time,
        // from the session as it stands under the lock.
        let shared = self.shared.clone();
        let _judge = shared.judge.lock().await;
        let judging = self.judging().await?;
        let session = &judging.session;
        let (verdict, warnings) = self.run_verdict(&mut it, session, judging.baseline).await?;

        // The baseline runs `replicates` times; its value is their mean and their spread is
        // the noise floor below which a difference is not counted as progress.
        let wanted = i64::from(self.config.guardrails.replicates.max(1));
        let mut noise_floor = session.noise_floor;
        let verdict = match verdict {
            Ok(value) if number == 0 && wanted > 1 => {
                let mut values: Vec<f64> = stored::parse(&it.replicates_json, "replicates_json", &it)?;
                values.push(value);
                if (values.len() as i64) < wanted {
                    return self.next_replicate(session, it, values, wanted).await;
                }
                it.replicates_json = serde_json::json!(values).to_string();
                noise_floor = rules::noise_floor(&values);
                let mean = rules::mean(&values);
                set_primary(&mut it, &session.primary_metric, mean)?;
                Ok(mean)
            }
            Err(reason) if number == 0 && wanted > 1 => {
                Err(format!("baseline run {} of {wanted} failed: {reason}", it.replicate))
            }
            other => other,
        };

        // A trial whose first run would be the new best runs `confirm` more times; with all its
        // runs in, their mean is what counts, tested against the best's own runs. With several
        // slots those runs take free slots at once (`confirm`); with one they follow each other
        // on this row.
        let runs = i64::from(self.config.guardrails.confirm) + 1;
        let mut confirmation: Option<Comparison> = None;
        let verdict = match verdict {
            Ok(value) if number != 0 && runs > 1 && it.replicate == 1 && judging.beats_best(value, noise_floor) => {
                if self.parallel() {
                    return self.start_confirmations(session, it, value, runs).await;
                }
                return self.next_replicate(session, it, vec![value], runs).await;
            }
            Ok(value) if number != 0 && runs > 1 && it.replicate > 1 => {
                let mut values: Vec<f64> = stored::parse(&it.replicates_json, "replicates_json", &it)?;
                values.push(value);
                if (values.len() as i64) < runs {
                    return self.next_replicate(session, it, values, runs).await;
                }
                let mean = self.confirmed_mean(&mut it, &judging, &values, &mut confirmation)?;
                Ok(mean)
            }
            Err(reason) if number != 0 && it.replicate > 1 => {
                Err(format!("confirmation run {} of {runs} failed: {reason}", it.replicate))
            }
            other => other,
        };
        self.conclude(it, &judging, verdict, confirmation, noise_floor, warnings).await
    }

    /// What judging a trial reads: the session, the baseline's value, the best so far.
    pub(super) async fn judging(&self) -> Result<Judging> {
        let session = self.reload().await?;
        let pool = self.engine.store().pool();
        let baseline = store::iterations::get(pool, self.id, 0).await?.and_then(|i| i.primary_value);
        let best_row = match session.best_iteration.and_then(|n| u32::try_from(n).ok()) {
            Some(n) => store::iterations::get(pool, self.id, n).await?,
            None => None,
        };
        Ok(Judging {
            threshold: self.config.guardrails.plateau_threshold,
            best_before: best_row.as_ref().and_then(|b| b.primary_value),
            best_row,
            baseline,
            session,
        })
    }

    /// The value of the run just ended (or why it has none), and its metrics kept on `it`: the
    /// holdout apart (see `holdout_worsened`), the source's history as the curve.
    pub(super) async fn run_verdict(
        &self,
        it: &mut IterationRow,
        session: &SessionRow,
        baseline: Option<f64>,
    ) -> Result<(std::result::Result<f64, String>, Vec<String>)> {
        let number = it.number();
        let mut warnings: Vec<String> = Vec::new();
        // The holdout metric never joins what is kept of a run (and so never reaches a prompt,
        // the history or a tool); its value waits beside the iteration's other runs' until the
        // verdict says whether the trial is promoted.
        let holdout = self.config.metrics.holdout.clone();
        let mut holdout_value: Option<f64> = None;
        let verdict = match it.failure_reason.clone() {
            Some(reason) => Err(reason),
            None => {
                let ctx = self.run_context(it);
                match self.metrics.collect(&ctx).await {
                    Err(e) => Err(e.to_string()),
                    Ok(collected) => {
                        warnings.extend(collected.warnings.iter().cloned());
                        holdout_value =
                            holdout.as_ref().and_then(|h| collected.metrics.get(h)).copied().filter(|v| v.is_finite());
                        let finite: serde_json::Map<String, serde_json::Value> = collected
                            .metrics
                            .iter()
                            .filter(|(k, v)| v.is_finite() && Some(*k) != holdout.as_ref())
                            .map(|(k, v)| (k.clone(), serde_json::json!(v)))
                            .collect();
                        it.metrics_json = serde_json::Value::Object(finite).to_string();
                        // A source's own history (W&B, MLflow) replaces the reported progress.
                        if let Some(history) = &collected.history {
                            it.history_json = Some(stored::to_json(history, "a metric history")?);
                        }
                        let baseline = if number == 0 { None } else { baseline };
                        match metrics::assess(
                            &collected,
                            &session.primary_metric,
                            session.minimize,
                            &self.config.guardrails,
                            baseline,
                        ) {
                            Assessment::Ok { primary } => Ok(primary),
                            Assessment::Failed { reason } => Err(reason),
                        }
                    }
                }
            }
        };
        if let Some(v) = holdout_value {
            let mut values: Vec<f64> = stored::parse(it.holdout_json.as_deref().unwrap_or("[]"), "holdout_json", it)?;
            values.push(v);
            it.holdout_json = Some(serde_json::json!(values).to_string());
        }
        Ok((verdict, warnings))
    }

    /// With every run of a confirmed trial in: their mean is the trial's value, tested against
    /// the best's own runs.
    pub(super) fn confirmed_mean(
        &self,
        it: &mut IterationRow,
        judging: &Judging,
        values: &[f64],
        confirmation: &mut Option<Comparison>,
    ) -> Result<f64> {
        it.replicates_json = serde_json::json!(values).to_string();
        it.replicate = values.len() as i64;
        let mean = rules::mean(values);
        if let Some(best) = &judging.best_row {
            let mut incumbent: Vec<f64> = stored::parse(&best.replicates_json, "replicates_json", best)?;
            if incumbent.is_empty() {
                incumbent.extend(best.primary_value);
            }
            *confirmation = Some(significance::compare(values, &incumbent, judging.session.minimize));
        }
        set_primary(it, &judging.session.primary_metric, mean)?;
        Ok(mean)
    }

    /// The verdict on a trial: its outcome against the best so far, the session's progress,
    /// and the event, in one transaction.
    pub(super) async fn conclude(
        &mut self,
        mut it: IterationRow,
        judging: &Judging,
        verdict: std::result::Result<f64, String>,
        confirmation: Option<Comparison>,
        noise_floor: f64,
        mut warnings: Vec<String>,
    ) -> Result<Flow> {
        let number = it.number();
        let session = &judging.session;
        let best_before = judging.best_before;
        let beats_best = |value: f64| judging.beats_best(value, noise_floor);
        let alpha = self.config.guardrails.alpha;
        let mut best_iteration = session.best_iteration.and_then(|b| u32::try_from(b).ok());
        let mut failures = u32::try_from(session.consecutive_failures).unwrap_or(0);
        let message;
        let kind;
        match verdict {
            Ok(value) => {
                it.state = IterationState::Succeeded;
                it.primary_value = Some(value);
                failures = 0;
                // Progress is a gain larger than both the threshold and the measured noise (and,
                // for a confirmed trial, one the test says is not chance).
                let significant = confirmation.is_none_or(|c| c.p < alpha);
                let improved = beats_best(value) && significant;
                it.outcome = Some(if number == 0 {
                    Outcome::Baseline
                } else if improved {
                    Outcome::Improved
                } else if confirmation.is_some() {
                    Outcome::NotConfirmed
                } else {
                    Outcome::NoImprovement
                });
                if let Some(c) = &confirmation {
                    let runs = it.replicate;
                    let verdict = if improved { "confirmed" } else { "not confirmed" };
                    warnings.push(format!(
                        "{verdict}: mean {} over {runs} runs vs {} for the best (Welch t = {:.2}, df = {:.1}, one-sided p = {:.3}, alpha {alpha})",
                        c.candidate_mean, c.incumbent_mean, c.t, c.df, c.p
                    ));
                }
                if improved {
                    best_iteration = Some(number);
                }
                kind = "metrics";
                let note = match (number, improved, best_before) {
                    (0, _, _) => "baseline".to_string(),
                    (_, false, Some(b)) if confirmation.is_some() => {
                        format!(
                            "not confirmed: the mean of {} runs does not beat the best ({b}) beyond chance",
                            it.replicate
                        )
                    }
                    (_, true, Some(b)) if confirmation.is_some() => {
                        format!("improved on the best ({b}), confirmed over {} runs", it.replicate)
                    }
                    (_, true, Some(b)) => format!("improved on the best ({b})"),
                    (_, true, None) => "first successful result".to_string(),
                    (_, false, Some(b)) if rules::is_better(value, b, session.minimize) => {
                        format!("better than {b}, but within the noise/threshold margin")
                    }
                    (_, false, Some(b)) => format!("no improvement (best {b})"),
                    (_, false, None) => "no improvement".to_string(),
                };
                message = format!("iteration {number}: {}={value} ({note})", session.primary_metric);
            }
            Err(reason) => {
                it.state = IterationState::Failed;
                it.outcome = Some(Outcome::Failed);
                it.failure_reason = Some(reason.clone());
                failures += 1;
                kind = "iteration_failed";
                message = format!("iteration {number} failed: {reason}");
            }
        }
        let mut events = Vec::new();
        match it.outcome {
            Some(Outcome::Improved) => {
                if let Some(text) = self.holdout_worsened(session, &it, judging.best_row.as_ref()).await? {
                    warnings.push(text.clone());
                    events.push(NewEvent::new("holdout_worsened", Some(number), format!("iteration {number}: {text}")));
                }
            }
            Some(Outcome::Baseline) => {}
            // Only promoted trials keep their holdout: the others' is never looked at.
            _ => it.holdout_json = None,
        }
        it.warnings_json = serde_json::json!(warnings).to_string();
        it.phase = Phase::Advise;
        faults::point("collect", Some(number));
        let mut tx = self.begin().await?;
        store::iterations::save(&mut tx, &it).await?;
        store::sessions::set_progress(&mut tx, self.id, best_iteration, failures).await?;
        if noise_floor != session.noise_floor {
            store::sessions::set_noise_floor(&mut tx, self.id, noise_floor).await?;
        }
        let event = self
            .event(
                &mut tx,
                NewEvent::new(kind, Some(number), message).with_data(serde_json::json!({
                    "primary": it.primary_value,
                    "outcome": it.outcome,
                    "failure_reason": it.failure_reason,
                    "warnings": warnings,
                    "confirmation": confirmation,
                })),
            )
            .await?;
        let mut published = vec![event];
        for extra in events {
            published.push(self.event(&mut tx, extra).await?);
        }
        self.finish(tx, published).await?;
        Ok(Flow::Continue)
    }

    /// A run `guardrails.early_stop` stopped: its value is the best its curve reached, which the
    /// advisor learns from; it is never the best, and not a failure.
    async fn stopped_early(&mut self, mut it: IterationRow, step: f64) -> Result<Flow> {
        let number = it.number();
        let curve: Vec<(f64, f64)> = stored::parse(it.history_json.as_deref().unwrap_or("[]"), "history_json", &it)?;
        let minimize = self.config.metrics.minimize;
        let partial = curve.iter().map(|(_, v)| *v).reduce(|a, b| if (a < b) == minimize { a } else { b });
        let primary = self.config.metrics.primary.clone();
        it.primary_value = partial;
        it.metrics_json = serde_json::json!({ primary.clone(): partial }).to_string();
        it.state = IterationState::Succeeded;
        it.outcome = Some(Outcome::StoppedEarly);
        it.holdout_json = None;
        it.phase = Phase::Advise;
        let rule = match self.config.guardrails.early_stop {
            crate::config::EarlyStop::Asha => "below the cut of its rung (ASHA)",
            _ => "worse than the median of earlier runs at that step",
        };
        let value = partial.map_or_else(|| "-".to_string(), |v| v.to_string());
        let message = format!("iteration {number} stopped early at step {step}: {primary}={value} ({rule})");
        faults::point("collect", Some(number));
        self.record(
            &it,
            NewEvent::new("stopped_early", Some(number), message)
                .with_data(serde_json::json!({"step": step, "primary": partial})),
        )
        .await?;
        Ok(Flow::Continue)
    }

    /// For a promoted trial: its holdout against the previous best's, when it got worse by
    /// more than its noise (the baseline's holdout runs) and the threshold — the primary may
    /// be overfitting. Both are read in the primary's direction.
    async fn holdout_worsened(
        &self,
        session: &SessionRow,
        it: &IterationRow,
        best: Option<&IterationRow>,
    ) -> Result<Option<String>> {
        let (Some(name), Some(best)) = (&self.config.metrics.holdout, best) else { return Ok(None) };
        let values = |row: &IterationRow| -> Result<Vec<f64>> {
            stored::parse(row.holdout_json.as_deref().unwrap_or("[]"), "holdout_json", row)
        };
        let (now, before) = (values(it)?, values(best)?);
        if now.is_empty() || before.is_empty() {
            return Ok(None);
        }
        let baseline = store::iterations::get(self.engine.store().pool(), self.id, 0).await?;
        let noise = match &baseline {
            Some(b) => rules::noise_floor(&values(b)?),
            None => 0.0,
        };
        let (now, before) = (rules::mean(&now), rules::mean(&before));
        let margin = rules::margin(before, self.config.guardrails.plateau_threshold, noise);
        if rules::gain(now, before, session.minimize) >= -margin {
            return Ok(None);
        }
        let primary = &session.primary_metric;
        let (was, is) = (best.primary_value.unwrap_or(f64::NAN), it.primary_value.unwrap_or(f64::NAN));
        Ok(Some(format!(
            "possible overfitting: {primary} improved ({was} → {is}) while the holdout {name} got worse ({before} → {now}, beyond its noise of {noise:.4})"
        )))
    }

    /// Records one finished run of several (the baseline's replicates, a trial's confirmation
    /// runs) and sets the iteration up for the next one.
    async fn next_replicate(
        &mut self,
        session: &SessionRow,
        mut it: IterationRow,
        values: Vec<f64>,
        wanted: i64,
    ) -> Result<Flow> {
        let done = it.replicate;
        let value = values.last().copied().unwrap_or(f64::NAN);
        it.replicates_json = serde_json::json!(values).to_string();
        it.replicate += 1;
        it.attempt = 1;
        it.phase = Phase::Prepare;
        it.state = IterationState::Pending;
        it.run_id = None;
        it.started_at = None;
        it.ended_at = None;
        it.exit_code = None;
        it.failure_reason = None;
        let number = it.number();
        faults::point("collect", Some(number));
        let message = match number {
            0 => format!("baseline run {done} of {wanted}: {}={value}", session.primary_metric),
            n if done == 1 => format!(
                "iteration {n}: {}={value} would be the new best; confirming it with {} more runs",
                session.primary_metric,
                wanted - 1
            ),
            n => format!("iteration {n}: confirmation run {done} of {wanted}: {}={value}", session.primary_metric),
        };
        self.record(
            &it,
            NewEvent::new("replicate", Some(number), message)
                .with_data(serde_json::json!({"replicate": done, "primary": value})),
        )
        .await?;
        Ok(Flow::Continue)
    }
}

/// What a trial is judged against, read once under the judge lock.
pub(super) struct Judging {
    pub session: SessionRow,
    pub baseline: Option<f64>,
    pub best_row: Option<IterationRow>,
    pub best_before: Option<f64>,
    threshold: f64,
}

impl Judging {
    /// Progress is a gain over the best larger than both the threshold and the noise.
    pub fn beats_best(&self, value: f64, noise_floor: f64) -> bool {
        self.best_before.is_none_or(|b| {
            rules::gain(value, b, self.session.minimize) > rules::margin(b, self.threshold, noise_floor)
        })
    }
}

/// Sets the primary metric among the kept metrics (a mean over runs replaces the last run's).
fn set_primary(it: &mut IterationRow, primary: &str, value: f64) -> Result<()> {
    let mut metrics: serde_json::Map<String, serde_json::Value> = stored::parse(&it.metrics_json, "metrics_json", it)?;
    metrics.insert(primary.to_string(), serde_json::json!(value));
    it.metrics_json = serde_json::Value::Object(metrics).to_string();
    Ok(())
}
