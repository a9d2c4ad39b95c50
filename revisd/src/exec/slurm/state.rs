//! What Slurm says about a job, and what that means for the run: the answers of `squeue`,
//! `scontrol show job` and `sacct` (whichever still knows the job) and the exit file the job
//! script writes, read by one look (`look_script`) and turned into a `RunStatus` (`verdict`).

use super::super::RunStatus;

/// A job's state as Slurm names it (`squeue %T`, `scontrol JobState`, `sacct State`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Pending,
    Configuring,
    Running,
    Completing,
    Suspended,
    Requeued,
    Completed,
    Failed,
    Timeout,
    OutOfMemory,
    NodeFail,
    Cancelled,
    Preempted,
    BootFail,
    Deadline,
    /// A state this version does not know (newer Slurm releases add some).
    Other,
}

impl JobState {
    pub fn parse(text: &str) -> JobState {
        // sacct writes `CANCELLED by 1000`; scontrol may add flags after a `+`.
        let word = text.split([' ', '+']).next().unwrap_or_default().trim();
        match word {
            "PENDING" | "PD" => JobState::Pending,
            "CONFIGURING" | "CF" => JobState::Configuring,
            "RUNNING" | "R" => JobState::Running,
            "COMPLETING" | "CG" => JobState::Completing,
            "SUSPENDED" | "S" | "STOPPED" | "ST" => JobState::Suspended,
            "REQUEUED" | "RQ" | "REQUEUE_FED" | "REQUEUE_HOLD" | "RESIZING" | "SPECIAL_EXIT" | "RESV_DEL_HOLD" => {
                JobState::Requeued
            }
            "COMPLETED" | "CD" => JobState::Completed,
            "FAILED" | "F" => JobState::Failed,
            "TIMEOUT" | "TO" => JobState::Timeout,
            "OUT_OF_MEMORY" | "OOM" => JobState::OutOfMemory,
            "NODE_FAIL" | "NF" => JobState::NodeFail,
            "CANCELLED" | "CA" => JobState::Cancelled,
            "PREEMPTED" | "PR" => JobState::Preempted,
            "BOOT_FAIL" | "BF" => JobState::BootFail,
            "DEADLINE" | "DL" => JobState::Deadline,
            _ => JobState::Other,
        }
    }

    /// Still in the queue or on a node: the run is not over.
    fn is_live(self) -> bool {
        matches!(
            self,
            JobState::Pending
                | JobState::Configuring
                | JobState::Running
                | JobState::Completing
                | JobState::Suspended
                | JobState::Requeued
        )
    }
}

/// One look at a job: the log bytes come on stdout, these lines on stderr.
#[derive(Debug, Default, PartialEq)]
pub struct JobView {
    /// `squeue`: state and reason, while the job is pending or running.
    pub queue: Option<(String, String)>,
    /// `scontrol show job -o`: JobState, Reason, ExitCode, while slurmctld remembers the job.
    pub control: Option<(String, String, String)>,
    /// `sacct`: State and ExitCode, where accounting exists.
    pub accounting: Option<(String, String)>,
    /// What the job script wrote once the training command ended.
    pub exit_file: Option<i32>,
    /// The run directory on the cluster is gone.
    pub gone: bool,
}

/// The shell that looks at job `$id` from its run directory: states on stderr, one line each
/// (`squeue S|R`, `scontrol …`, `sacct S|E`, `exit N`), the log from byte `$off` on stdout.
/// The state is read before the log, so the log of a job seen ended is complete.
pub fn look_script(run_dir: &str, job_id: &str, log_offset: u64, log_limit: u64) -> String {
    let q = crate::exec::wrapper::sh_quote;
    format!(
        "exec 3>&2 2>/dev/null\n\
         cd {dir} || {{ echo gone >&3; exit 0; }}\n\
         id={id}\n\
         s=$(squeue -h -j \"$id\" -o '%T|%r' | head -n 1)\n\
         echo \"squeue $s\" >&3\n\
         if [ -z \"$s\" ]; then\n\
         \x20 echo \"scontrol $(scontrol show job -o \"$id\" | head -n 1)\" >&3\n\
         \x20 echo \"sacct $(sacct -n -P -X -j \"$id\" -o State,ExitCode | head -n 1)\" >&3\n\
         fi\n\
         [ -s exit_code ] && echo \"exit $(cat exit_code)\" >&3\n\
         off={log_offset}\n\
         n=$(wc -c < train.log); n=$((${{n:-0}}))\n\
         if [ \"$n\" -gt \"$off\" ]; then k=$((n - off)); [ \"$k\" -gt {log_limit} ] && k={log_limit}; \
         tail -c +$((off + 1)) train.log | head -c \"$k\"; fi\n\
         exit 0\n",
        dir = q(run_dir),
        id = q(job_id),
    )
}

/// Reads the state lines of `look_script`.
pub fn parse_view(stderr: &str) -> JobView {
    let mut view = JobView::default();
    for line in stderr.lines() {
        let line = line.trim_end();
        if line == "gone" {
            view.gone = true;
        } else if let Some(rest) = line.strip_prefix("squeue ") {
            if let Some((state, reason)) = rest.split_once('|') {
                view.queue = Some((state.trim().to_string(), reason.trim().to_string()));
            }
        } else if let Some(rest) = line.strip_prefix("scontrol ") {
            let field = |name: &str| {
                rest.split_whitespace().find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            };
            if let Some(state) = field("JobState") {
                let reason = field("Reason").unwrap_or("None").to_string();
                let code = field("ExitCode").unwrap_or("").to_string();
                view.control = Some((state.to_string(), reason, code));
            }
        } else if let Some(rest) = line.strip_prefix("sacct ") {
            if let Some((state, code)) = rest.split_once('|') {
                view.accounting = Some((state.trim().to_string(), code.trim().to_string()));
            }
        } else if let Some(code) = line.strip_prefix("exit ") {
            view.exit_file = code.trim().parse().ok();
        }
    }
    view
}

/// `ExitCode=3:0` (code:signal) as a shell would report it: the code, or 128 + the signal.
fn exit_status(text: &str) -> Option<i32> {
    let (code, signal) = text.split_once(':').unwrap_or((text, "0"));
    let (code, signal): (i32, i32) = (code.trim().parse().ok()?, signal.trim().parse().ok()?);
    Some(if signal > 0 { 128 + signal } else { code })
}

/// Where the run stands. The queue's word counts while the job is in it; after that the
/// scheduler's final state, from slurmctld's memory or else accounting; when neither knows the
/// job any more, the exit file the job script wrote.
pub fn verdict(view: &JobView) -> RunStatus {
    if let Some((state, reason)) = &view.queue {
        let state = JobState::parse(state);
        if state.is_live() {
            return live(state, reason);
        }
    }
    let known = view
        .control
        .as_ref()
        .map(|(s, _, code)| (JobState::parse(s), code.as_str()))
        .or_else(|| view.accounting.as_ref().map(|(s, code)| (JobState::parse(s), code.as_str())));
    match known {
        Some((state, _)) if state.is_live() => {
            live(state, view.control.as_ref().map_or("None", |(_, reason, _)| reason.as_str()))
        }
        Some((state, code)) => ended(state, code, view.exit_file),
        None => match view.exit_file {
            Some(code) => RunStatus::Exited { code },
            None => RunStatus::Vanished,
        },
    }
}

fn live(state: JobState, reason: &str) -> RunStatus {
    match state {
        JobState::Pending | JobState::Configuring => RunStatus::Queued { reason: reason.to_string() },
        JobState::Requeued => RunStatus::Queued { reason: format!("requeued ({reason})") },
        _ => RunStatus::Running,
    }
}

fn ended(state: JobState, code: &str, exit_file: Option<i32>) -> RunStatus {
    let reason = |r: &str| RunStatus::Ended { reason: r.to_string() };
    match state {
        // The training command's own exit, as the job script recorded it, is the most exact.
        JobState::Completed | JobState::Failed | JobState::Other => match exit_file.or_else(|| exit_status(code)) {
            Some(code) => RunStatus::Exited { code },
            None => RunStatus::Vanished,
        },
        JobState::Timeout => reason("the Slurm job reached its time limit (TIMEOUT, executor.time)"),
        JobState::OutOfMemory => reason("the Slurm job ran out of memory (OUT_OF_MEMORY, executor.mem)"),
        JobState::NodeFail => reason("the node running the Slurm job failed (NODE_FAIL)"),
        JobState::Cancelled => reason("the Slurm job was cancelled outside Revis (CANCELLED)"),
        JobState::Preempted => reason("the Slurm job was preempted and not requeued (PREEMPTED)"),
        JobState::BootFail => reason("the node for the Slurm job failed to boot (BOOT_FAIL)"),
        JobState::Deadline => reason("the Slurm job missed its deadline (DEADLINE)"),
        _ => RunStatus::Running,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(text: &str) -> RunStatus {
        verdict(&parse_view(text))
    }

    #[test]
    fn queued_running_and_requeued_jobs_are_not_over() {
        assert_eq!(view("squeue PENDING|Resources\n"), RunStatus::Queued { reason: "Resources".into() });
        assert_eq!(view("squeue RUNNING|None\n"), RunStatus::Running);
        assert_eq!(view("squeue COMPLETING|None\n"), RunStatus::Running);
        assert_eq!(
            view("squeue PENDING|BeginTime\nscontrol JobId=4 JobState=PENDING Reason=BeginTime Restarts=1\n"),
            RunStatus::Queued { reason: "BeginTime".into() }
        );
        assert_eq!(view("squeue REQUEUED|None\n"), RunStatus::Queued { reason: "requeued (None)".into() });
    }

    #[test]
    fn ended_jobs_say_how() {
        let scontrol =
            |state: &str, code: &str| format!("squeue \nscontrol JobId=7 JobState={state} Reason=x ExitCode={code}\n");
        assert_eq!(view(&(scontrol("FAILED", "3:0") + "exit 3\n")), RunStatus::Exited { code: 3 });
        assert_eq!(view(&scontrol("FAILED", "3:0")), RunStatus::Exited { code: 3 }, "no exit file: scontrol's code");
        assert_eq!(view(&scontrol("FAILED", "0:9")), RunStatus::Exited { code: 137 });
        assert_eq!(view(&(scontrol("COMPLETED", "0:0") + "exit 0\n")), RunStatus::Exited { code: 0 });
        for (state, word) in [
            ("TIMEOUT", "time limit"),
            ("OUT_OF_MEMORY", "out of memory"),
            ("NODE_FAIL", "node"),
            ("CANCELLED", "outside Revis"),
            ("PREEMPTED", "preempted"),
        ] {
            match view(&(scontrol(state, "0:15") + "exit 143\n")) {
                RunStatus::Ended { reason } => assert!(reason.contains(word), "{state}: {reason}"),
                other => panic!("{state}: {other:?}"),
            }
        }
    }

    #[test]
    fn accounting_and_the_exit_file_answer_once_slurmctld_forgot_the_job() {
        assert_eq!(
            view("squeue \nscontrol \nsacct TIMEOUT|0:0\n").to_owned(),
            RunStatus::Ended { reason: "the Slurm job reached its time limit (TIMEOUT, executor.time)".into() }
        );
        assert_eq!(
            view("squeue \nscontrol \nsacct CANCELLED by 0|0:15\n").to_owned(),
            RunStatus::Ended { reason: "the Slurm job was cancelled outside Revis (CANCELLED)".into() }
        );
        assert_eq!(view("squeue \nscontrol \nsacct \nexit 2\n"), RunStatus::Exited { code: 2 });
        assert_eq!(view("squeue \nscontrol \nsacct \n"), RunStatus::Vanished);
        assert_eq!(view("gone\n"), RunStatus::Vanished);
    }
}
