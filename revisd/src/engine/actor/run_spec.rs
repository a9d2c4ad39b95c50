//! What one run of an iteration is: its id and directories, the environment the training gets
//! (Revis's variables, the metrics source's, then `entry.env`), and what the metrics source
//! needs to find it afterwards.

use crate::exec::RunSpec;
use crate::metrics::RunContext;
use crate::store::IterationRow;

use super::super::run_key;
use super::Actor;

impl Actor {
    /// What the metrics source needs to find this iteration's run (the run's environment
    /// included, so a source can read the settings the training had).
    pub(super) fn run_context(&self, it: &IterationRow) -> RunContext {
        let mut ctx = self.bare_context(it);
        ctx.env = self.spec(it).env;
        ctx
    }

    fn bare_context(&self, it: &IterationRow) -> RunContext {
        let run_dir = self.engine.iteration_run_dir(self.id, &self.name, it);
        let m = &self.config.metrics;
        RunContext {
            output_dir: run_dir.join("output"),
            session: self.name.clone(),
            iteration: it.number(),
            run_id: it.run_id.clone().unwrap_or_default(),
            worktree: self.worktree.clone(),
            env: Vec::new(),
            project: m.project.clone(),
            entity: m.entity.clone(),
            tracking_uri: m.tracking_uri.clone(),
            primary: m.primary.clone(),
        }
    }

    pub(super) fn spec(&self, it: &IterationRow) -> RunSpec {
        let number = it.number();
        let run_dir = self.engine.iteration_run_dir(self.id, &self.name, it);
        let output_dir = run_dir.join("output");
        let run_id = it.run_id.clone().unwrap_or_default();
        let mut env: Vec<(String, String)> = vec![
            ("REVIS_OUTPUT_DIR".into(), output_dir.display().to_string()),
            ("REVIS_SESSION".into(), self.name.clone()),
            ("REVIS_ITERATION".into(), number.to_string()),
            ("REVIS_RUN_ID".into(), run_id.clone()),
            ("REVIS_SLOT".into(), self.slot.index.to_string()),
            // The run's place among the runs of its iteration (baseline replicates, a trial's
            // confirmation runs): trials share seeds run for run, so they differ only in the
            // change they test.
            ("REVIS_SEED".into(), it.replicate.max(1).to_string()),
        ];
        // The slot's devices, and only those: two trials never share a GPU. Set before
        // `entry.env`, which may still override it on purpose.
        if !self.slot.gpus.is_empty() {
            env.push(("CUDA_VISIBLE_DEVICES".into(), self.slot.gpus.join(",")));
        }
        for name in &self.config.entry.env_passthrough {
            if let Ok(value) = std::env::var(name) {
                env.push((name.clone(), value));
            }
        }
        env.extend(self.metrics.environment(&self.bare_context(it)));
        env.extend(self.config.entry.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        RunSpec {
            run_id,
            run_dir,
            workdir: self.worktree.clone(),
            command: match &self.config.entry.seed_arg {
                Some(arg) => format!("{} {arg} {}", it.command, it.replicate.max(1)),
                None => it.command.clone(),
            },
            env,
            output_dir,
            session: self.remote_key(),
        }
    }

    /// The key of this slot's directory on a remote executor (and of its sync state here):
    /// each slot has its own checkout.
    pub(super) fn remote_key(&self) -> String {
        match self.parallel() {
            true => format!("{}-slot{}", run_key(self.id, &self.name), self.slot.index),
            false => run_key(self.id, &self.name),
        }
    }
}
