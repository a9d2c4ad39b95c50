//! Test-only crash points. With the `fault-injection` feature, `REVIS_FAULT=<point>[:<iteration>],...`
//! in the daemon's environment makes it SIGKILL itself when it reaches that point, so tests can
//! prove that a crash at any step loses nothing and repeats nothing; `panic:<point>[:<iteration>]`
//! panics the session's actor there instead, to prove a panicking actor fails its session.
//! Without the feature every call compiles to nothing and the variable is never read.

/// Every crash point, in phase order.
pub const POINTS: &[&str] = &["prepare", "train_started", "train_ended", "collect", "advise", "apply", "commit", "end"];

#[cfg(feature = "fault-injection")]
pub fn point(name: &str, iteration: Option<u32>) {
    debug_assert!(POINTS.contains(&name), "unknown fault point {name}");
    let Ok(spec) = std::env::var("REVIS_FAULT") else { return };
    let armed = |entry: &str| {
        let (point, at) = match entry.split_once(':') {
            Some((point, at)) => (point, at.parse::<u32>().ok()),
            None => (entry, None),
        };
        point == name && (at.is_none() || at == iteration)
    };
    for entry in spec.split(',').map(str::trim) {
        if let Some(panic_at) = entry.strip_prefix("panic:") {
            if armed(panic_at) {
                tracing::warn!(point = name, ?iteration, "fault injection: panicking the session's actor");
                panic!("fault injection at {name}");
            }
        } else if armed(entry) {
            tracing::warn!(point = name, ?iteration, "fault injection: killing the daemon");
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        }
    }
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn point(_name: &str, _iteration: Option<u32>) {}

/// Whether this build can inject faults.
pub const ENABLED: bool = cfg!(feature = "fault-injection");
