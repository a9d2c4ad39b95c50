//! Slots: where a session's trials run at once. A slot is one share of the executor: its GPUs
//! (`CUDA_VISIBLE_DEVICES`) and its own git worktree, reused by the trials that run in it, so
//! two trials never share a device or a checkout. The plan is derived from the session's
//! stored config alone, so a restarted daemon finds the same slots.

use std::path::{Path, PathBuf};

use crate::config::{Config, Gpus};

/// One slot of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// 0-based; `REVIS_SLOT`.
    pub index: u32,
    /// The devices its trials see (empty: no `CUDA_VISIBLE_DEVICES` is set).
    pub gpus: Vec<String>,
    /// The SSH box it is on (an index into `executor.boxes()`); `None` on this machine.
    pub host: Option<usize>,
}

impl Slot {
    pub fn local(index: u32) -> Self {
        Slot { index, gpus: Vec::new(), host: None }
    }
}

impl Slot {
    /// The worktree a slot's trials run in. A session with one slot runs in its own worktree
    /// (the branch is checked out there, as it always was); with several, each slot has a
    /// detached worktree beside it and the session's worktree follows the branch.
    pub fn worktree(&self, session_worktree: &Path, slots: usize) -> PathBuf {
        if slots <= 1 {
            return session_worktree.to_path_buf();
        }
        slot_worktree(session_worktree, self.index)
    }
}

/// Where slot `index` of a session with several slots keeps its checkout.
pub fn slot_worktree(session_worktree: &Path, index: u32) -> PathBuf {
    let name = session_worktree.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    session_worktree.with_file_name(format!("{name}.slot{index}"))
}

/// The slots a config describes: one per `gpus_per_trial` devices of `executor.gpus` (or
/// `executor.slots` of them on a machine without GPUs, or `parallel` alone), at most `parallel`.
///
/// With several SSH boxes the slots are dealt out one box at a time in turn, so `parallel`
/// below the total still uses every box.
pub fn plan(config: &Config) -> Vec<Slot> {
    let e = &config.executor;
    let cap = config.parallel.map(|p| p.max(1) as usize);
    let boxes = e.boxes();
    let per_machine: Vec<Vec<Vec<String>>> = if boxes.is_empty() {
        vec![machine_slots(e.gpus.as_ref(), e.gpus_per_trial, e.slots, cap)]
    } else {
        let alone = boxes.len() == 1;
        boxes.iter().map(|b| machine_slots(b.gpus.as_ref(), e.gpus_per_trial, b.slots, cap.filter(|_| alone))).collect()
    };
    let mut dealt: Vec<(Option<usize>, Vec<String>)> = Vec::new();
    let deepest = per_machine.iter().map(Vec::len).max().unwrap_or(0);
    for round in 0..deepest {
        for (machine, slots) in per_machine.iter().enumerate() {
            if let Some(gpus) = slots.get(round) {
                dealt.push(((!boxes.is_empty()).then_some(machine), gpus.clone()));
            }
        }
    }
    let keep = cap.unwrap_or(dealt.len()).min(dealt.len()).max(1);
    let mut slots: Vec<Slot> =
        dealt.into_iter().take(keep).zip(0..).map(|((host, gpus), index)| Slot { index, gpus, host }).collect();
    if slots.is_empty() {
        slots.push(Slot::local(0));
    }
    slots
}

/// One machine's slots, each as its devices: one per `gpus_per_trial` GPUs, or `slots` (or
/// `parallel`) without GPUs.
fn machine_slots(
    gpus: Option<&Gpus>,
    per_trial: Option<u32>,
    slots: Option<u32>,
    cap: Option<usize>,
) -> Vec<Vec<String>> {
    match gpus {
        Some(Gpus::List(ids)) => {
            let per = per_trial.unwrap_or(1).max(1) as usize;
            ids.chunks_exact(per).map(<[String]>::to_vec).collect()
        }
        // Resolved to a list when the session starts; a stored `all` cannot occur.
        Some(Gpus::All) => vec![Vec::new()],
        None => vec![Vec::new(); slots.map(|s| s as usize).or(cap).unwrap_or(1).max(1)],
    }
}

/// The devices `nvidia-smi -L` lists: for each, its index and UUID (and MIG devices' UUIDs).
#[derive(Debug, Default, PartialEq)]
pub struct Devices {
    pub indexes: Vec<String>,
    pub names: Vec<String>,
}

/// Parses `nvidia-smi -L`: `GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-6f1c...)`, with MIG
/// devices indented below their GPU as `MIG 1g.10gb Device 0: (UUID: MIG-...)`.
pub fn parse_nvidia_smi(listing: &str) -> Devices {
    let mut devices = Devices::default();
    for line in listing.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("GPU ")
            && let Some((index, _)) = rest.split_once(':')
        {
            devices.indexes.push(index.trim().to_string());
        }
        if let Some((_, uuid)) = line.rsplit_once("(UUID: ") {
            devices.names.push(uuid.trim_end_matches(')').trim().to_string());
        }
    }
    devices
}

impl Devices {
    pub fn has(&self, id: &str) -> bool {
        self.indexes.iter().any(|i| i == id) || self.names.iter().any(|n| n == id)
    }
}

/// Makes one machine's `gpus` concrete for a new session: `all` becomes the listed devices, and
/// a listed device the machine does not have is refused. Without `nvidia-smi` (`devices` is
/// `None`) a list is taken as written (nothing can check it) and `all` is refused. `at` is
/// where the machine's settings are written (`executor`, `executor.hosts[1]`). Returns the key
/// and message of a problem.
pub fn resolve_gpus(
    gpus: &mut Option<Gpus>,
    per_trial: Option<u32>,
    devices: Option<&Devices>,
    at: &str,
) -> Result<(), (String, String)> {
    let per_trial = per_trial.unwrap_or(1) as usize;
    match (gpus.as_ref(), devices) {
        (None, _) => return Ok(()),
        (Some(Gpus::All), None) => {
            return Err((
                format!("{at}.gpus"),
                format!(
                    "{at}.gpus is `all`, but nvidia-smi is not installed there to list them; list the devices (`gpus: [0, 1]`)"
                ),
            ));
        }
        (Some(Gpus::All), Some(d)) => {
            if d.indexes.is_empty() {
                return Err((format!("{at}.gpus"), format!("{at}.gpus is `all`, but nvidia-smi lists no GPU")));
            }
            *gpus = Some(Gpus::List(d.indexes.clone()));
        }
        (Some(Gpus::List(ids)), Some(d)) => {
            if let Some((i, id)) = ids.iter().enumerate().find(|(_, id)| !d.has(id)) {
                let known = if d.indexes.is_empty() { "none".to_string() } else { d.indexes.join(", ") };
                return Err((
                    format!("{at}.gpus[{i}]"),
                    format!("{at}.gpus names GPU {id}, which that machine does not have (nvidia-smi lists: {known})"),
                ));
            }
        }
        (Some(Gpus::List(_)), None) => {}
    }
    if let Some(Gpus::List(ids)) = gpus.as_ref()
        && per_trial > ids.len()
    {
        return Err((
            "executor.gpus_per_trial".into(),
            format!("executor.gpus_per_trial is {per_trial}, but {at} has only {} GPUs", ids.len()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        let text = format!("entry:\n  train: python train.py\nmetrics:\n  primary: loss\n{extra}");
        match crate::config::load_str(&text, Path::new("revis.yaml")) {
            Ok(loaded) => loaded.config,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn one_slot_without_gpus_or_parallel() {
        assert_eq!(plan(&config("")), vec![Slot::local(0)]);
    }

    #[test]
    fn gpus_are_shared_out_per_trial_and_capped_by_parallel() {
        let c = config("executor:\n  gpus: [0, 1, 2, 3, 4]\n  gpus_per_trial: 2\n");
        let slots = plan(&c);
        assert_eq!(slots.len(), 2, "the fifth GPU is left over");
        assert_eq!(slots[1].gpus, vec!["2".to_string(), "3".to_string()]);
        let c = config("executor:\n  gpus: [0, 1, 2, 3]\nparallel: 3\n");
        assert_eq!(plan(&c).len(), 3);
    }

    #[test]
    fn slots_or_parallel_alone_run_trials_without_gpus() {
        assert_eq!(plan(&config("executor:\n  slots: 3\n")).len(), 3);
        assert_eq!(plan(&config("parallel: 2\n")).len(), 2);
        assert_eq!(plan(&config("executor:\n  slots: 4\nparallel: 2\n")).len(), 2);
    }

    #[test]
    fn the_slots_of_several_boxes_are_dealt_in_turn() {
        let c = config("executor:\n  type: ssh\n  hosts:\n    - {host: a, gpus: [0, 1]}\n    - {host: b, slots: 3}\n");
        let slots = plan(&c);
        let hosts: Vec<Option<usize>> = slots.iter().map(|s| s.host).collect();
        assert_eq!(hosts, vec![Some(0), Some(1), Some(0), Some(1), Some(1)]);
        assert_eq!(slots[2].gpus, vec!["1".to_string()]);
        assert!(slots[1].gpus.is_empty());
        let capped = config(
            "executor:\n  type: ssh\n  hosts:\n    - {host: a, gpus: [0, 1]}\n    - {host: b, slots: 3}\nparallel: 2\n",
        );
        assert_eq!(plan(&capped).iter().map(|s| s.host).collect::<Vec<_>>(), vec![Some(0), Some(1)]);
        let one = config("executor:\n  type: ssh\n  host: a\nparallel: 3\n");
        assert_eq!(plan(&one).len(), 3, "one box runs `parallel` trials");
    }

    #[test]
    fn nvidia_smi_listing_gives_indexes_and_uuids() {
        let listing = "GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-aaa)\n  MIG 1g.10gb     Device  0: (UUID: MIG-bbb)\nGPU 1: NVIDIA A100-SXM4-80GB (UUID: GPU-ccc)\n";
        let d = parse_nvidia_smi(listing);
        assert_eq!(d.indexes, vec!["0", "1"]);
        assert!(d.has("GPU-ccc") && d.has("MIG-bbb") && d.has("1") && !d.has("2"));
    }

    #[test]
    fn gpus_all_becomes_the_listed_devices_and_unknown_devices_are_refused() {
        let devices = parse_nvidia_smi("GPU 0: X (UUID: GPU-a)\nGPU 1: X (UUID: GPU-b)\n");
        let resolve = |text: &str, devices: Option<&Devices>| {
            let c = config(text);
            let mut gpus = c.executor.gpus.clone();
            resolve_gpus(&mut gpus, c.executor.gpus_per_trial, devices, "executor").map(|()| gpus)
        };
        let all = resolve("executor:\n  gpus: all\n", Some(&devices));
        assert_eq!(all, Ok(Some(Gpus::List(vec!["0".into(), "1".into()]))));
        let (key, message) = resolve("executor:\n  gpus: [0, 3]\n", Some(&devices)).err().unwrap_or_default();
        assert_eq!(key, "executor.gpus[1]");
        assert!(message.contains("GPU 3") && message.contains("0, 1"), "{message}");
        assert!(resolve("executor:\n  gpus: all\n", None).is_err(), "`all` needs nvidia-smi");
        assert!(resolve("executor:\n  gpus: [0, 1]\n", None).is_ok(), "a list is taken as written without nvidia-smi");
        let more = resolve("executor:\n  gpus: all\n  gpus_per_trial: 4\n", Some(&devices));
        assert!(more.is_err(), "more GPUs per trial than the machine has");
    }
}
