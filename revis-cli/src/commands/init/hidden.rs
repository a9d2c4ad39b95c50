//! The hidden-files picker's choices: the repository's top-level entries and their children,
//! directories offered as `dir/**` globs (the form `context.deny` matches), names escaped so
//! that each glob matches exactly the entry it shows. Must not: read file contents, follow
//! symlinks out of the repository, or offer git's and revis' own directories.

use std::fmt;
use std::path::Path;

/// Never offered: git's database and revis' own state are not the user's files.
const SKIPPED: [&str; 2] = [".git", ".revis"];
/// Children listed per top-level directory; a huge data directory is hidden as a whole.
const MAX_CHILDREN: usize = 40;

/// One choice: the glob it adds to `context.deny`, and whether it is a child (shown indented).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub glob: String,
    pub nested: bool,
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nested { write!(f, "  {}", self.glob) } else { f.write_str(&self.glob) }
    }
}

/// Top-level entries of `root` in name order (directories as `dir/**`), each directory followed
/// by its own children. Unreadable directories are listed without children.
pub fn entries(root: &Path) -> Vec<Entry> {
    let mut out = Vec::new();
    for (name, is_dir) in sorted_children(root) {
        if SKIPPED.contains(&name.as_str()) {
            continue;
        }
        let top = escape(&name);
        out.push(Entry { glob: glob(&top, is_dir), nested: false });
        if is_dir {
            let children = sorted_children(&root.join(&name));
            out.extend(
                children
                    .into_iter()
                    .take(MAX_CHILDREN)
                    .map(|(child, dir)| Entry { glob: glob(&format!("{top}/{}", escape(&child)), dir), nested: true }),
            );
        }
    }
    out
}

fn glob(path: &str, is_dir: bool) -> String {
    if is_dir { format!("{path}/**") } else { path.to_string() }
}

/// `name` as a glob that matches only itself: glob syntax (`* ? [ ] { } \`) is escaped, and so
/// is a leading `#` or `!`, which context.deny would read as a comment or a negation.
fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, c) in name.chars().enumerate() {
        if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\') || (i == 0 && matches!(c, '#' | '!')) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `entries` with the patterns given on the command line ticked: an entry whose glob is one of
/// them, or a new entry at the end for each that is not listed. Returns the list and the
/// indices to tick.
pub fn with_given(mut entries: Vec<Entry>, given: &[String]) -> (Vec<Entry>, Vec<usize>) {
    let mut checked = Vec::new();
    for pattern in given {
        let index = match entries.iter().position(|e| &e.glob == pattern) {
            Some(i) => i,
            None => {
                entries.push(Entry { glob: pattern.clone(), nested: false });
                entries.len() - 1
            }
        };
        if !checked.contains(&index) {
            checked.push(index);
        }
    }
    checked.sort_unstable();
    (entries, checked)
}

/// (name, is a real directory) of `dir`'s entries, sorted by name. Names that are not UTF-8, or
/// that start or end with whitespace (context.deny trims patterns), cannot be written as globs
/// and are left out.
fn sorted_children(dir: &Path) -> Vec<(String, bool)> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut children: Vec<(String, bool)> = read
        .filter_map(Result::ok)
        .filter_map(|e| {
            // file_type() does not follow symlinks: a link to a directory is offered as a file.
            let is_dir = e.file_type().ok()?.is_dir();
            let name = e.file_name().into_string().ok().filter(|n| n.trim() == n)?;
            Some((name, is_dir))
        })
        .collect();
    children.sort();
    children
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_become_globs_and_children_follow_their_parent() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let root = dir.path();
        for d in [".git/objects", ".revis", "data/raw", "configs"] {
            std::fs::create_dir_all(root.join(d))?;
        }
        for f in [".env", "train.py", "data/labels.csv", "configs/base.yaml"] {
            std::fs::write(root.join(f), "x")?;
        }
        let globs: Vec<String> = entries(root).iter().map(ToString::to_string).collect();
        assert_eq!(
            globs,
            [".env", "configs/**", "  configs/base.yaml", "data/**", "  data/labels.csv", "  data/raw/**", "train.py"]
        );
        assert!(entries(&root.join("missing")).is_empty());
        Ok(())
    }

    #[test]
    fn glob_characters_in_names_are_escaped() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let root = dir.path();
        std::fs::create_dir(root.join("runs[1]"))?;
        for f in ["#notes", "!keep", "a*b?.csv", "runs[1]/{x}.txt", " padded"] {
            std::fs::write(root.join(f), "")?;
        }
        let globs: Vec<String> = entries(root).into_iter().map(|e| e.glob).collect();
        assert_eq!(globs, ["\\!keep", "\\#notes", "a\\*b\\?.csv", "runs\\[1\\]/**", "runs\\[1\\]/\\{x\\}.txt"]);
        Ok(())
    }

    #[test]
    fn given_patterns_are_ticked_or_added() {
        let listed =
            vec![Entry { glob: ".env".into(), nested: false }, Entry { glob: "data/**".into(), nested: false }];
        let given = ["data/**".to_string(), "secrets/".to_string(), "data/**".to_string()];
        let (all, checked) = with_given(listed, &given);
        assert_eq!(checked, [1, 2]);
        assert_eq!(all[2], Entry { glob: "secrets/".into(), nested: false });
        let (all, checked) = with_given(Vec::new(), &[]);
        assert!(all.is_empty() && checked.is_empty());
    }

    #[test]
    fn big_directories_list_a_bounded_number_of_children() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir(dir.path().join("d"))?;
        for i in 0..(MAX_CHILDREN + 5) {
            std::fs::write(dir.path().join(format!("d/{i:03}")), "")?;
        }
        let all = entries(dir.path());
        assert_eq!(all.len(), MAX_CHILDREN + 1);
        assert_eq!(all[1], Entry { glob: "d/000".into(), nested: true });
        Ok(())
    }
}
