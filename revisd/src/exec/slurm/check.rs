//! What `revis loop` asks the cluster before a Slurm session starts, so a partition, account,
//! GRES or time limit the cluster would refuse is reported with its key before anything runs:
//! `sinfo` for partitions, their limits and GRES, `sacctmgr` for accounts where accounting
//! exists (without it Slurm accepts any account, and so does this check).

use std::time::Duration;

use super::{Cluster, SlurmExecutor};
use crate::config;
use crate::remote::Shell;

/// A problem: the key it concerns and the message.
pub type Problem = (String, String);

/// One partition as `sinfo` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Partition {
    pub name: String,
    pub default: bool,
    pub up: bool,
    /// `None`: no limit.
    pub max_time: Option<Duration>,
    /// GRES of its nodes, as `name` or `name:type`.
    pub gres: Vec<String>,
}

/// `sinfo -h -o '%P|%a|%l|%G'`, one line per partition and node group.
pub fn parse_sinfo(text: &str) -> Vec<Partition> {
    let mut out: Vec<Partition> = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.trim().split('|').collect();
        let [name, avail, limit, gres] = fields.as_slice() else { continue };
        let default = name.ends_with('*');
        let name = name.trim_end_matches('*').to_string();
        let max_time = match *limit {
            "infinite" | "UNLIMITED" | "n/a" => None,
            other => config::slurm::job_time(other).ok(),
        };
        let kinds = gres
            .split(',')
            .filter(|g| *g != "(null)" && !g.is_empty())
            .flat_map(|g| {
                // gpu:a100:4(S:0-1) → gpu, gpu:a100
                let g = g.split('(').next().unwrap_or_default();
                let parts: Vec<&str> = g.split(':').collect();
                let mut names = vec![parts[0].to_string()];
                if parts.len() == 3 {
                    names.push(format!("{}:{}", parts[0], parts[1]));
                }
                names
            })
            .collect::<Vec<_>>();
        match out.iter_mut().find(|p| p.name == name) {
            Some(p) => p.gres.extend(kinds),
            None => out.push(Partition { name, default, up: *avail == "up", max_time, gres: kinds }),
        }
    }
    out
}

/// The partitions of the cluster, for `revis init` (`None`: `sinfo` does not answer there).
pub async fn partitions(cluster: &Cluster) -> Option<Vec<Partition>> {
    let out = cluster.exec("sinfo -h -o '%P|%a|%l|%G'", None).await.ok()?;
    out.success().then(|| parse_sinfo(&String::from_utf8_lossy(&out.stdout)))
}

/// Checks the session's Slurm settings against the cluster; `at_type` problems concern the
/// cluster as a whole (no `sinfo`, an unreachable login host).
pub async fn check(exec: &SlurmExecutor, e: &config::Executor) -> Result<(), Problem> {
    let cluster = exec.cluster();
    let place = cluster.place();
    let whole = |m: String| ("executor.type".to_string(), m);
    let out = cluster
        .exec("sinfo -h -o '%P|%a|%l|%G'", None)
        .await
        .map_err(|err| whole(format!("cannot reach the Slurm cluster on {place}: {err}")))?;
    if !out.success() {
        let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(whole(match out.status {
            Some(127) => format!("executor.type is slurm, but `sinfo` is not installed on {place}"),
            _ => format!("`sinfo` failed on {place}: {msg}"),
        }));
    }
    let parts = parse_sinfo(&String::from_utf8_lossy(&out.stdout));
    let names = || parts.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ");
    let chosen = match &e.partition {
        Some(name) => match parts.iter().find(|p| &p.name == name) {
            Some(p) => Some(p),
            None => {
                return Err((
                    "executor.partition".into(),
                    format!("executor.partition: the cluster has no partition '{name}' (it has: {})", names()),
                ));
            }
        },
        None => parts.iter().find(|p| p.default),
    };
    let settings = exec.settings();
    if let Some(p) = chosen {
        if let Some(gres) = &settings.gres {
            let key = if e.gres.is_some() { "executor.gres" } else { "executor.gpus_per_trial" };
            for one in gres.split(',') {
                let parts: Vec<&str> = one.split(':').collect();
                // `gpu:2` asks for the name, `gpu:a100:2` (or `gpu:a100`) for the typed one.
                let wanted = match parts.as_slice() {
                    [name] => name.to_string(),
                    [name, last] if last.parse::<u32>().is_ok() => name.to_string(),
                    [name, kind, ..] => format!("{name}:{kind}"),
                    _ => one.to_string(),
                };
                if !p.gres.contains(&wanted) {
                    let has = if p.gres.is_empty() { "none".to_string() } else { p.gres.join(", ") };
                    return Err((
                        key.into(),
                        format!("{key}: partition '{}' defines no GRES '{wanted}' (its nodes have: {has})", p.name),
                    ));
                }
            }
        }
        if let Some(limit) = p.max_time
            && settings.time > limit
        {
            let key = if e.time.is_some() { "executor.time" } else { "guardrails.max_run_duration" };
            return Err((
                key.into(),
                format!(
                    "{key}: {} is longer than partition '{}' allows ({}); set executor.time within it",
                    config::duration::format_duration(settings.time),
                    p.name,
                    config::duration::format_duration(limit)
                ),
            ));
        }
    }
    if let Some(account) = &e.account {
        // Without accounting sacctmgr fails, and Slurm accepts any account: nothing to check.
        let out = cluster
            .exec("sacctmgr -n -P show associations user=\"$(id -un)\" format=Account 2>/dev/null", None)
            .await
            .map_err(|err| whole(format!("cannot reach the Slurm cluster on {place}: {err}")))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let accounts: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        if out.success() && !accounts.is_empty() && !accounts.contains(&account.as_str()) {
            return Err((
                "executor.account".into(),
                format!(
                    "executor.account: you have no association with account '{account}' on this cluster (yours: {})",
                    accounts.join(", ")
                ),
            ));
        }
    }
    let base = exec.base_dir().await.map_err(|err| whole(err.to_string()))?;
    let mk = format!("mkdir -p {} && [ -w {} ]", super::sh_quote(&base), super::sh_quote(&base));
    let out = cluster.exec(&mk, None).await.map_err(|err| whole(format!("cannot reach {place}: {err}")))?;
    if !out.success() {
        return Err((
            "executor.work_dir".into(),
            format!(
                "executor.work_dir: cannot create or write {base} on {place}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinfo_lines_become_partitions() {
        let text =
            "debug*|up|infinite|gpu:4\ngpu|up|2-00:00:00|gpu:a100:4(S:0-1),shard:8\ngpu|up|2-00:00:00|gpu:v100:2\n";
        let parts = parse_sinfo(text);
        assert_eq!(parts.len(), 2);
        assert!(parts[0].default && parts[0].max_time.is_none());
        assert_eq!(parts[0].gres, vec!["gpu"]);
        assert_eq!(parts[1].max_time, Some(Duration::from_secs(172_800)));
        assert_eq!(parts[1].gres, vec!["gpu", "gpu:a100", "shard", "gpu", "gpu:v100"]);
    }
}
