//! Session names: `[A-Za-z0-9_-]{1,48}` because they become tmux session names, branch names
//! (`revis/<name>`) and directory names. Generated names are short and memorable.

use rand::Rng;

pub fn validate(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 48 {
        return Err(format!("session name '{name}' must be 1 to 48 characters long"));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(format!("session name '{name}' may only contain letters, digits, '-' and '_'"));
    }
    if name.starts_with('-') {
        return Err(format!("session name '{name}' must not start with '-'"));
    }
    Ok(())
}

const ADJECTIVES: &[&str] = &[
    "amber", "brave", "calm", "clever", "crisp", "eager", "fancy", "gentle", "happy", "keen", "lively", "lucky",
    "mellow", "nimble", "proud", "quick", "quiet", "rapid", "sunny", "swift", "tidy", "vivid", "witty", "zesty",
];
const NOUNS: &[&str] = &[
    "otter", "falcon", "badger", "heron", "lynx", "marten", "osprey", "panda", "quokka", "raven", "salmon", "tapir",
    "walrus", "yak", "zebra", "bison", "cobra", "dingo", "egret", "ferret", "gecko", "ibis", "koala", "lemur",
];

pub fn generate() -> String {
    let mut rng = rand::rng();
    let adjective = ADJECTIVES[rng.random_range(0..ADJECTIVES.len())];
    let noun = NOUNS[rng.random_range(0..NOUNS.len())];
    format!("{adjective}-{noun}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_branches_and_tmux_targets_so_they_are_restricted() {
        assert!(validate("exp-1_a").is_ok());
        assert!(validate("").is_err());
        assert!(validate("a.b").is_err());
        assert!(validate("a:b").is_err());
        assert!(validate("a/b").is_err());
        assert!(validate("-x").is_err());
        assert!(validate(&"x".repeat(49)).is_err());
        assert!(validate(&generate()).is_ok());
    }
}
