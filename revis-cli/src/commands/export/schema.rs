//! The export schema (docs/export.md): plain serde records built from a `SessionDetail`.
//! Field order and names here ARE the stable format of `revis export --format json` and of
//! the iterations in `revis compare --json`; add fields at the end, never rename or remove one
//! without bumping `SCHEMA_VERSION`. Owns no I/O.

use std::collections::BTreeMap;

use revis_proto::v1::{
    Advisor, AgentChange, Change, Iteration, IterationState, Outcome, SessionDetail, SessionState, StopReason,
};
use serde::Serialize;

use crate::states::{self, serialize_opt_word, serialize_word};

/// Bumped only when a field is renamed, removed or changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Export {
    pub schema_version: u32,
    pub session: SessionRecord,
    pub iterations: Vec<IterationRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SessionRecord {
    pub name: String,
    pub project: String,
    pub branch: String,
    pub base_branch: String,
    pub base_commit: String,
    #[serde(serialize_with = "serialize_word")]
    pub state: SessionState,
    #[serde(serialize_with = "serialize_opt_word")]
    pub stop_reason: Option<StopReason>,
    pub stop_detail: Option<String>,
    /// The primary metric's name.
    pub primary: String,
    pub minimize: bool,
    pub target: Option<f64>,
    pub baseline: Option<f64>,
    pub best: Option<BestRecord>,
    pub spend: SpendRecord,
    #[serde(serialize_with = "serialize_word")]
    pub advisor: Advisor,
    pub created_at: String,
    pub ended_at: Option<String>,
    pub pr_url: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct BestRecord {
    pub iteration: u32,
    pub value: f64,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct SpendRecord {
    pub active_seconds: f64,
    /// At known prices.
    pub llm_usd: f64,
    /// Calls at prices Revis does not know: their cost is not in `llm_usd`.
    pub llm_unpriced_calls: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct IterationRecord {
    pub number: u32,
    #[serde(serialize_with = "serialize_word")]
    pub state: IterationState,
    /// None while the iteration runs.
    #[serde(serialize_with = "serialize_opt_word")]
    pub outcome: Option<Outcome>,
    /// The primary metric's value.
    pub primary: Option<f64>,
    /// Every metric the run reported, sorted by name.
    pub metrics: BTreeMap<String, f64>,
    pub commit: Option<String>,
    pub parent: Option<u32>,
    pub change: Option<String>,
    pub rationale: Option<String>,
    pub hypothesis: Option<String>,
    pub changes: Vec<ChangeRecord>,
    pub failure_reason: Option<String>,
    pub exit_code: Option<i32>,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub duration_seconds: Option<f64>,
    pub llm_usd: Option<f64>,
    pub llm_unpriced_calls: u32,
    pub llm_model: Option<String>,
    pub agent: Option<AgentRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChangeRecord {
    /// config_edit | arg | command | code
    pub kind: String,
    pub file: Option<String>,
    pub key: Option<String>,
    pub name: Option<String>,
    /// The new value as JSON (null removes an argument).
    pub value: Option<serde_json::Value>,
    pub previous: Option<serde_json::Value>,
    pub text: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AgentRecord {
    /// claude-code | codex | aider
    pub agent: String,
    pub request: String,
    pub summary: String,
    pub files: Vec<String>,
    pub cost_usd: Option<f64>,
    pub duration_seconds: f64,
    pub verified: Option<String>,
    pub diff: String,
}

impl Export {
    pub fn from_detail(d: &SessionDetail) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            session: SessionRecord::from_detail(d),
            iterations: d.iterations.iter().map(IterationRecord::from_iteration).collect(),
        }
    }
}

impl SessionRecord {
    pub fn from_detail(d: &SessionDetail) -> Self {
        let s = d.head();
        let spend = s.spend.unwrap_or_default();
        Self {
            name: s.name.clone(),
            project: s.project.clone(),
            branch: s.branch.clone(),
            base_branch: d.base_branch.clone(),
            base_commit: d.base_commit.clone(),
            state: s.state(),
            stop_reason: states::stop_reason(s),
            stop_detail: non_empty(s.stop_detail.as_deref()),
            primary: s.primary_metric.clone(),
            minimize: s.minimize,
            target: d.target,
            baseline: s.baseline,
            best: s.best.map(|b| BestRecord { iteration: b.iteration, value: b.value }),
            spend: SpendRecord {
                active_seconds: spend.active_seconds,
                llm_usd: spend.llm_usd,
                llm_unpriced_calls: spend.llm_unpriced_calls,
            },
            advisor: s.advisor(),
            created_at: s.created_at.clone(),
            ended_at: non_empty(s.ended_at.as_deref()),
            pr_url: non_empty(d.pr_url.as_deref()),
        }
    }
}

impl IterationRecord {
    pub fn from_iteration(it: &Iteration) -> Self {
        Self {
            number: it.number,
            state: it.state(),
            outcome: states::outcome(it),
            primary: it.primary,
            metrics: it.metrics.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            commit: non_empty(it.commit.as_deref()),
            parent: it.parent,
            change: non_empty(it.change.as_deref()),
            rationale: non_empty(it.rationale.as_deref()),
            hypothesis: non_empty(it.hypothesis.as_deref()),
            changes: it.changes.iter().map(ChangeRecord::from_change).collect(),
            failure_reason: non_empty(it.failure_reason.as_deref()),
            exit_code: it.exit_code,
            started_at: non_empty(it.started_at.as_deref()),
            ended_at: non_empty(it.ended_at.as_deref()),
            duration_seconds: it.duration_seconds,
            llm_usd: it.llm.as_ref().map(|l| l.usd),
            llm_unpriced_calls: it.llm.as_ref().map_or(0, |l| l.unpriced_calls),
            llm_model: it.llm.as_ref().and_then(|l| non_empty(Some(&l.model))),
            agent: it.agent.as_ref().map(AgentRecord::from_agent),
        }
    }
}

impl ChangeRecord {
    pub fn from_change(c: &Change) -> Self {
        Self {
            kind: c.kind.clone(),
            file: non_empty(c.file.as_deref()),
            key: non_empty(c.key.as_deref()),
            name: non_empty(c.name.as_deref()),
            value: c.value.as_deref().map(json_value),
            previous: c.previous.as_deref().map(json_value),
            text: non_empty(c.text.as_deref()),
        }
    }

    /// One line: `config_edit config.json:lr = 0.01 (was 1.0)`, `arg --x = 3`,
    /// `code: add dropout`. Used by compare's text view and the CSV `changes` column.
    pub fn summary(&self) -> String {
        let target = match (&self.file, &self.key, &self.name) {
            (Some(file), Some(key), _) => format!("{file}:{key}"),
            (Some(file), None, _) => file.clone(),
            (None, Some(key), _) => key.clone(),
            (None, None, Some(name)) => name.clone(),
            (None, None, None) => String::new(),
        };
        let mut line = self.kind.clone();
        if !target.is_empty() {
            line.push(' ');
            line.push_str(&target);
        }
        match &self.value {
            Some(serde_json::Value::Null) if self.kind == "arg" => line.push_str(" removed"),
            Some(v) => line.push_str(&format!(" = {}", short_json(v))),
            None => {}
        }
        if let Some(previous) = &self.previous {
            line.push_str(&format!(" (was {})", short_json(previous)));
        }
        if let Some(text) = &self.text {
            line.push_str(&format!(": {}", text.lines().next().unwrap_or("")));
        }
        line
    }
}

impl AgentRecord {
    fn from_agent(a: &AgentChange) -> Self {
        Self {
            agent: a.agent.clone(),
            request: a.request.clone(),
            summary: a.summary.clone(),
            files: a.files.clone(),
            cost_usd: a.cost_usd,
            duration_seconds: a.duration_seconds,
            verified: non_empty(a.verified.as_deref()),
            diff: a.diff.clone(),
        }
    }
}

/// The daemon sends change values as JSON text; anything that does not parse is kept as a
/// string rather than dropped.
fn json_value(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_string()))
}

/// Strings print bare (`adamw`, not `"adamw"`); everything else as compact JSON.
fn short_json(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The daemon uses both None and "" for "not set"; the export says null for both.
fn non_empty(v: Option<&str>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty()).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use revis_proto::v1::SessionSummary;

    fn change(kind: &str) -> Change {
        Change { kind: kind.into(), ..Default::default() }
    }

    #[test]
    fn change_summaries_name_target_value_and_previous() {
        let c = Change {
            file: Some("config.json".into()),
            key: Some("lr".into()),
            value: Some("0.01".into()),
            previous: Some("1.0".into()),
            ..change("config_edit")
        };
        assert_eq!(ChangeRecord::from_change(&c).summary(), "config_edit config.json:lr = 0.01 (was 1.0)");
        let arg = Change { name: Some("--opt".into()), value: Some("\"adamw\"".into()), ..change("arg") };
        assert_eq!(ChangeRecord::from_change(&arg).summary(), "arg --opt = adamw");
        let removed = Change { name: Some("--x".into()), value: Some("null".into()), ..change("arg") };
        assert_eq!(ChangeRecord::from_change(&removed).summary(), "arg --x removed");
        let code = Change { text: Some("add dropout\nmore".into()), ..change("code") };
        assert_eq!(ChangeRecord::from_change(&code).summary(), "code: add dropout");
    }

    #[test]
    fn change_values_become_json_and_bad_json_stays_text() {
        let c = Change { value: Some("[1, 2]".into()), previous: Some("not json".into()), ..change("arg") };
        let r = ChangeRecord::from_change(&c);
        assert_eq!(r.value, Some(serde_json::json!([1, 2])));
        assert_eq!(r.previous, Some(serde_json::json!("not json")));
    }

    #[test]
    fn empty_strings_export_as_null_and_metrics_are_sorted() {
        let it = Iteration {
            number: 2,
            outcome: Some(Outcome::Unspecified as i32),
            commit: Some("".into()),
            metrics: [("zeta".to_string(), 1.0), ("alpha".to_string(), 2.0)].into_iter().collect(),
            ..Default::default()
        };
        let json = serde_json::to_value(IterationRecord::from_iteration(&it)).unwrap_or_default();
        assert_eq!(json["outcome"], serde_json::Value::Null);
        assert_eq!(json["commit"], serde_json::Value::Null);
        let keys: Vec<&String> = json["metrics"].as_object().map(|m| m.keys().collect()).unwrap_or_default();
        assert_eq!(keys, ["alpha", "zeta"]);
    }

    #[test]
    fn the_export_carries_its_schema_version_first() {
        let summary = SessionSummary { name: "s".into(), primary_metric: "val_loss".into(), ..Default::default() };
        let d = SessionDetail { summary: Some(summary), ..Default::default() };
        let text = serde_json::to_string(&Export::from_detail(&d)).unwrap_or_default();
        assert!(text.starts_with("{\"schema_version\":1,\"session\":{\"name\":\"s\""), "{text}");
    }

    #[test]
    fn states_export_as_their_words() {
        let summary = SessionSummary {
            state: SessionState::Stopped as i32,
            stop_reason: Some(StopReason::MaxCost as i32),
            advisor: Advisor::Llm as i32,
            ..Default::default()
        };
        let it = Iteration {
            state: IterationState::Succeeded as i32,
            outcome: Some(Outcome::NoImprovement as i32),
            ..Default::default()
        };
        let d = SessionDetail { summary: Some(summary), iterations: vec![it], ..Default::default() };
        let json = serde_json::to_value(Export::from_detail(&d)).unwrap_or_default();
        assert_eq!(json["session"]["state"], "stopped");
        assert_eq!(json["session"]["stop_reason"], "max_cost");
        assert_eq!(json["session"]["advisor"], "llm");
        assert_eq!(json["iterations"][0]["state"], "succeeded");
        assert_eq!(json["iterations"][0]["outcome"], "no_improvement");
        let unset = serde_json::to_value(Export::from_detail(&SessionDetail::default())).unwrap_or_default();
        assert_eq!(unset["session"]["state"], "", "an unset state exports as the empty string it always was");
        assert_eq!(unset["session"]["stop_reason"], serde_json::Value::Null);
    }
}
