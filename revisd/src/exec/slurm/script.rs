//! The job of one run: the `#SBATCH` lines from `executor`, and the script around the user's
//! command, shipped with the env file and command.sh as a tar stream into the run directory on
//! the cluster. The script is also kept in the local run directory (`revis logs --script`).

use std::time::Duration;

use crate::config;
use crate::exec::RunSpec;
use crate::exec::wrapper::sh_quote;

/// The job script's name, in both run directories.
pub const JOB_SCRIPT: &str = "job.sh";

/// What every job of a session asks Slurm for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobSettings {
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    /// `--gres`: `executor.gres`, or `gpu:<gpus_per_trial>`.
    pub gres: Option<String>,
    pub cpus_per_task: Option<u32>,
    pub mem: Option<String>,
    pub time: Duration,
    pub constraint: Option<String>,
    pub setup: Vec<String>,
    pub extra: Vec<String>,
}

impl JobSettings {
    /// From `executor`; `max_run` (`guardrails.max_run_duration`) is the time limit unless
    /// `executor.time` gives one.
    pub fn from_config(e: &config::Executor, max_run: Duration) -> Result<Self, String> {
        let time = match &e.time {
            Some(text) => config::slurm::job_time(text).map_err(|m| format!("executor.time: {m}"))?,
            None => max_run,
        };
        Ok(JobSettings {
            partition: e.partition.clone(),
            account: e.account.clone(),
            qos: e.qos.clone(),
            gres: e.gres.clone().or_else(|| e.gpus_per_trial.map(|n| format!("gpu:{n}"))),
            cpus_per_task: e.cpus_per_task,
            mem: e.mem.clone(),
            time,
            constraint: e.constraint.clone(),
            setup: e.setup.clone(),
            extra: e.sbatch.clone(),
        })
    }

    /// The `#SBATCH` options, one per line.
    pub fn directives(&self, job_name: &str, run_dir: &str, workdir: &str) -> Vec<String> {
        let mut out = vec![
            format!("--job-name={job_name}"),
            format!("--output={run_dir}/train.log"),
            // A requeued job appends: the log of every attempt is kept.
            "--open-mode=append".to_string(),
            format!("--chdir={workdir}"),
            format!("--time={}", config::slurm::slurm_time(self.time)),
        ];
        let mut add = |flag: &str, value: &Option<String>| {
            if let Some(v) = value {
                out.push(format!("--{flag}={v}"));
            }
        };
        add("partition", &self.partition);
        add("account", &self.account);
        add("qos", &self.qos);
        add("gres", &self.gres);
        add("mem", &self.mem);
        add("constraint", &self.constraint);
        if let Some(n) = self.cpus_per_task {
            out.push(format!("--cpus-per-task={n}"));
        }
        out.extend(self.extra.iter().cloned());
        out
    }
}

/// The job script: run the command as a local run would (env sourced in a subshell, stdin
/// closed, output to the job's log), then publish its exit code. `#SBATCH` lines cannot hold
/// a quote that the shell would read, so the paths in them are written as they are.
pub fn job_script(spec: &RunSpec, settings: &JobSettings, run_dir: &str, workdir: &str) -> String {
    let file = |name: &str| sh_quote(&format!("{run_dir}/{name}"));
    let mut text = String::from("#!/bin/bash\n");
    for d in settings.directives(&job_name(&spec.run_id), run_dir, workdir) {
        text.push_str(&format!("#SBATCH {d}\n"));
    }
    text.push_str(&format!("# Written by revisd for run {}: one trial, as a Slurm job.\n", spec.run_id));
    text.push_str(&format!("rm -f {} {}\n", file("exit_code"), file("exit_code.tmp")));
    // Slurm sets CUDA_VISIBLE_DEVICES where its GRES are devices; where they are not (plain
    // files, some site set-ups) the job's GPU indexes are the next best thing.
    text.push_str(
        "if [ -z \"${CUDA_VISIBLE_DEVICES+x}\" ] && [ -n \"${SLURM_JOB_GPUS:-}\" ]; then export CUDA_VISIBLE_DEVICES=\"$SLURM_JOB_GPUS\"; fi\n",
    );
    text.push_str("(\n");
    text.push_str(&format!("  . {}\n", file("env")));
    for line in &settings.setup {
        text.push_str(&format!("  {line}\n"));
    }
    text.push_str(&format!("  cd {} || exit 126\n", sh_quote(workdir)));
    text.push_str(&format!("  exec /bin/sh {}\n", file("command.sh")));
    text.push_str(") < /dev/null\n");
    text.push_str("code=$?\n");
    text.push_str(&format!(
        "printf '%s\\n' \"$code\" > {tmp} && mv -f {tmp} {code}\n",
        tmp = file("exit_code.tmp"),
        code = file("exit_code")
    ));
    text.push_str("exit $code\n");
    text
}

/// Every job of a run carries its name, so one submitted by a daemon that died before it
/// recorded the id is found again instead of submitted twice.
pub fn job_name(run_id: &str) -> String {
    format!("revis-{run_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_become_sbatch_lines() {
        let e = config::Executor {
            partition: Some("gpu".into()),
            account: Some("lab".into()),
            gpus_per_trial: Some(2),
            cpus_per_task: Some(8),
            mem: Some("64G".into()),
            constraint: Some("a100".into()),
            sbatch: vec!["--exclusive".into()],
            ..Default::default()
        };
        let s = JobSettings::from_config(&e, Duration::from_secs(7200)).expect("settings");
        let lines = s.directives("revis-r1", "/scratch/runs/r1", "/scratch/s");
        for want in [
            "--job-name=revis-r1",
            "--output=/scratch/runs/r1/train.log",
            "--time=0-02:00:00",
            "--partition=gpu",
            "--account=lab",
            "--gres=gpu:2",
            "--cpus-per-task=8",
            "--mem=64G",
            "--constraint=a100",
            "--exclusive",
        ] {
            assert!(lines.iter().any(|l| l == want), "{want} missing from {lines:?}");
        }
        let typed =
            config::Executor { gres: Some("gpu:a100:3".into()), time: Some("90m".into()), ..Default::default() };
        let s = JobSettings::from_config(&typed, Duration::from_secs(60)).expect("settings");
        assert_eq!((typed.job_gpus(), s.time), (3, Duration::from_secs(5400)));
    }
}
