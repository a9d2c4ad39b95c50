//! The `type: slurm` keys of `executor`: what can be checked without the cluster (the forms of
//! `time`, `mem`, `gres`, the keys that only make sense for one executor). Whether the partition,
//! account and GRES exist is asked of the cluster when a session starts (`exec::slurm::check`).

use std::time::Duration;

use super::duration::parse_duration;
use super::schema::{Config, ExecutorType};
use super::validate::Issue;

/// `executor.time` as a duration: Revis's own form (`2h`, `90m`) or Slurm's (`30` minutes,
/// `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`).
pub fn job_time(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let slurm_form = !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == ':' || c == '-');
    if !slurm_form {
        return parse_duration(t).map_err(|e| e.to_string());
    }
    let bad = || format!("'{t}' is not a time limit (write 2h, 90m, or Slurm's D-HH:MM:SS)");
    let (days, rest) = match t.split_once('-') {
        Some((d, rest)) => (d.parse::<u64>().map_err(|_| bad())?, Some(rest)),
        None => (0, None),
    };
    let num = |s: &str| s.parse::<u64>().map_err(|_| bad());
    let secs = match rest {
        // D-HH, D-HH:MM, D-HH:MM:SS
        Some(rest) => {
            let parts: Vec<&str> = rest.split(':').collect();
            match parts.as_slice() {
                [h] => num(h)? * 3600,
                [h, m] => num(h)? * 3600 + num(m)? * 60,
                [h, m, s] => num(h)? * 3600 + num(m)? * 60 + num(s)?,
                _ => return Err(bad()),
            }
        }
        // MM, MM:SS, HH:MM:SS
        None => {
            let parts: Vec<&str> = t.split(':').collect();
            match parts.as_slice() {
                [m] => num(m)? * 60,
                [m, s] => num(m)? * 60 + num(s)?,
                [h, m, s] => num(h)? * 3600 + num(m)? * 60 + num(s)?,
                _ => return Err(bad()),
            }
        }
    };
    Ok(Duration::from_secs(days * 86_400 + secs))
}

/// A duration as Slurm's `D-HH:MM:SS`, rounded up to whole minutes (Slurm's own granularity:
/// a shorter limit would be raised to the next minute anyway).
pub fn slurm_time(d: Duration) -> String {
    let minutes = d.as_secs().div_ceil(60).max(1);
    let (days, rest) = (minutes / 1440, minutes % 1440);
    format!("{days}-{:02}:{:02}:00", rest / 60, rest % 60)
}

impl super::schema::Executor {
    /// The GPUs each Slurm job asks for: `gpus_per_trial`, or the count of `gpu` in `gres`.
    pub fn job_gpus(&self) -> u32 {
        if let Some(n) = self.gpus_per_trial {
            return n;
        }
        let Some(gres) = &self.gres else { return 0 };
        gres.split(',')
            .filter(|one| one.split(':').next() == Some("gpu"))
            .map(|one| match one.rsplit_once(':') {
                Some((_, n)) => n.parse().unwrap_or(1),
                None => 1,
            })
            .sum()
    }
}

/// Checks the keys of `executor` that belong to one executor type or the other.
pub(super) fn check(config: &Config) -> Result<(), Issue> {
    let e = &config.executor;
    let slurm_keys: [(&str, bool); 11] = [
        ("login", e.login.is_some()),
        ("partition", e.partition.is_some()),
        ("account", e.account.is_some()),
        ("qos", e.qos.is_some()),
        ("gres", e.gres.is_some()),
        ("cpus_per_task", e.cpus_per_task.is_some()),
        ("mem", e.mem.is_some()),
        ("time", e.time.is_some()),
        ("constraint", e.constraint.is_some()),
        ("setup", !e.setup.is_empty()),
        ("sbatch", !e.sbatch.is_empty()),
    ];
    if e.kind != ExecutorType::Slurm {
        if let Some((key, _)) = slurm_keys.iter().find(|(_, set)| *set) {
            return Err(Issue::new(format!("executor.{key}"), format!("executor.{key} needs executor.type: slurm")));
        }
        return Ok(());
    }
    // Slurm places jobs itself: the machine-level keys of the other executors mean nothing.
    for (key, set) in [
        ("host", e.host.is_some()),
        ("hosts", !e.hosts.is_empty()),
        ("gpus", e.gpus.is_some()),
        ("slots", e.slots.is_some()),
    ] {
        if set {
            let hint = match key {
                "gpus" => "use gpus_per_trial (or gres) for each job's GPUs",
                "slots" => "use parallel for the jobs in flight at once",
                _ => "use executor.login for the host where sbatch runs",
            };
            return Err(Issue::new(
                format!("executor.{key}"),
                format!("executor.{key} does not apply to executor.type: slurm: {hint}"),
            ));
        }
    }
    // Its paths go into `#SBATCH` lines, which sbatch splits at blanks.
    if let Some(dir) = &e.work_dir
        && dir.contains(char::is_whitespace)
    {
        return Err(Issue::new(
            "executor.work_dir",
            format!(
                "executor.work_dir: '{dir}' has a blank, which #SBATCH lines cannot carry; choose a path without one"
            ),
        ));
    }
    if e.gres.is_some() && e.gpus_per_trial.is_some() {
        return Err(Issue::new("executor.gres", "give executor.gres or executor.gpus_per_trial, not both"));
    }
    if let Some(gres) = &e.gres {
        check_gres(gres).map_err(|m| Issue::new("executor.gres", format!("executor.gres: {m}")))?;
    }
    if let Some(text) = &e.time {
        match job_time(text) {
            Ok(d) if d.is_zero() => {
                return Err(Issue::new("executor.time", "executor.time must be greater than 0"));
            }
            Ok(_) => {}
            Err(m) => return Err(Issue::new("executor.time", format!("executor.time: {m}"))),
        }
    }
    if let Some(mem) = &e.mem
        && !is_memory(mem)
    {
        return Err(Issue::new(
            "executor.mem",
            format!("executor.mem: '{mem}' is not a memory size (write 64G, 500M or a number of megabytes)"),
        ));
    }
    if e.cpus_per_task == Some(0) {
        return Err(Issue::new("executor.cpus_per_task", "executor.cpus_per_task must be at least 1"));
    }
    for (name, value) in [
        ("login", &e.login),
        ("partition", &e.partition),
        ("account", &e.account),
        ("qos", &e.qos),
        ("constraint", &e.constraint),
    ] {
        if let Some(v) = value
            && (v.trim().is_empty() || v.contains(['\n', '\r']))
        {
            return Err(Issue::new(format!("executor.{name}"), format!("executor.{name} must be one non-empty line")));
        }
    }
    for (i, option) in e.sbatch.iter().enumerate() {
        if !option.starts_with('-') || option.contains(['\n', '\r']) {
            return Err(Issue::new(
                format!("executor.sbatch[{i}]"),
                format!(
                    "executor.sbatch[{i}]: '{option}' is not an sbatch option (write it as on the command line: --exclusive)"
                ),
            ));
        }
    }
    for (i, line) in e.setup.iter().enumerate() {
        if line.contains(['\n', '\r']) {
            return Err(Issue::new(format!("executor.setup[{i}]"), format!("executor.setup[{i}] must be one line")));
        }
    }
    if let Some(t) = &e.poll_interval {
        match parse_duration(t) {
            Ok(d) if !d.is_zero() => {}
            _ => {
                return Err(Issue::new(
                    "executor.poll_interval",
                    format!("executor.poll_interval: '{t}' is not a positive duration"),
                ));
            }
        }
    }
    Ok(())
}

/// `name[:type]:count` (or `name[:type]`), as `--gres` takes one resource.
fn check_gres(gres: &str) -> Result<(), String> {
    for one in gres.split(',') {
        let parts: Vec<&str> = one.split(':').collect();
        let word = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
        let ok = match parts.as_slice() {
            [name] => word(name),
            [name, last] => word(name) && word(last),
            [name, kind, count] => word(name) && word(kind) && count.parse::<u32>().is_ok_and(|n| n > 0),
            _ => false,
        };
        if !ok {
            return Err(format!("'{one}' is not a GRES (write gpu:1 or gpu:a100:1)"));
        }
    }
    Ok(())
}

fn is_memory(mem: &str) -> bool {
    let m = mem.trim();
    let digits = m.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
    let suffix = m.len() - digits.len();
    !digits.is_empty() && suffix <= 1 && digits.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_in_both_forms_and_written_as_slurm_reads_them() {
        let secs = |t: &str| job_time(t).map(|d| d.as_secs());
        assert_eq!(secs("2h"), Ok(7200));
        assert_eq!(secs("90m"), Ok(5400));
        assert_eq!(secs("30"), Ok(1800), "a bare number is minutes, as in sbatch");
        assert_eq!(secs("1:30"), Ok(90));
        assert_eq!(secs("2:00:00"), Ok(7200));
        assert_eq!(secs("1-12"), Ok(129_600));
        assert_eq!(secs("1-00:30"), Ok(88_200));
        assert_eq!(secs("1-00:00:10"), Ok(86_410));
        assert!(job_time("soon").is_err());
        assert!(job_time("1:2:3:4").is_err());
        assert_eq!(slurm_time(Duration::from_secs(7200)), "0-02:00:00");
        assert_eq!(slurm_time(Duration::from_secs(61)), "0-00:02:00", "rounded up to the minute");
        assert_eq!(slurm_time(Duration::from_secs(90_000)), "1-01:00:00");
    }

    #[test]
    fn gres_and_memory_forms() {
        assert!(check_gres("gpu:1").is_ok());
        assert!(check_gres("gpu:a100:2").is_ok());
        assert!(check_gres("gpu").is_ok());
        assert!(check_gres("gpu:a100:0").is_err());
        assert!(check_gres("gpu::1").is_err());
        assert!(check_gres("gpu:a b:1").is_err());
        assert!(is_memory("64G") && is_memory("500M") && is_memory("4096"));
        assert!(!is_memory("lots") && !is_memory("64GB") && !is_memory("G"));
    }
}
