//! Pictures of a finished session: `revis report` writes one well-formed, self-contained HTML
//! page (an SVG chart with a mark per iteration, the iteration table, each change's diff);
//! `revis show` draws the terminal chart above its table; `revis watch` ends with it and, on a
//! terminal, keeps a progress line for the running iteration redrawn in place.

use std::process::{Command, Stdio};

use revis_tests::cli::scrub_env;
use revis_tests::session::{iterations, pretty, state};
use revis_tests::{TestEnv, revis_bin, standard_project};
use rexpect::session::{Options, spawn_with_options};
use serde_json::Value;

/// Checks the page parses as XML-ish: every tag closed in order (void tags self-closed),
/// quoted attributes, only known entity forms. Returns the tag names seen.
fn assert_well_formed(html: &str) -> Vec<String> {
    let mut stack: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        check_entities(&rest[..start]);
        let after = &rest[start + 1..];
        if let Some(comment) = after.strip_prefix("!--") {
            let end = comment.find("-->").unwrap_or_else(|| panic!("unclosed comment"));
            rest = &comment[end + 3..];
            continue;
        }
        let end = tag_end(after).unwrap_or_else(|| panic!("unclosed tag: {}", &after[..after.len().min(80)]));
        let tag = &after[..end];
        rest = &after[end + 1..];
        if tag.starts_with('!') {
            assert!(tag.eq_ignore_ascii_case("!DOCTYPE html"), "unexpected declaration <{tag}>");
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop();
            assert_eq!(open.as_deref(), Some(name.trim()), "</{name}> closes {open:?}");
            continue;
        }
        let name: String = tag.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        assert!(!name.is_empty(), "bad tag <{tag}>");
        assert_eq!(tag.matches('"').count() % 2, 0, "unbalanced quotes in <{tag}>");
        seen.push(name.clone());
        if tag.ends_with('/') {
            continue;
        }
        if name == "style" || name == "script" {
            // Raw text: skip to the closing tag.
            let close = format!("</{name}>");
            let end = rest.find(&close).unwrap_or_else(|| panic!("<{name}> never closed"));
            rest = &rest[end..];
        }
        stack.push(name);
    }
    check_entities(rest);
    assert!(stack.is_empty(), "tags never closed: {stack:?}");
    seen
}

/// The end of a tag (its `>`), skipping `>` inside quoted attribute values.
fn tag_end(text: &str) -> Option<usize> {
    let mut quoted = false;
    text.char_indices().find_map(|(i, c)| {
        match c {
            '"' => quoted = !quoted,
            '>' if !quoted => return Some(i),
            _ => {}
        }
        None
    })
}

fn check_entities(text: &str) {
    for (i, _) in text.match_indices('&') {
        let entity: String = text[i + 1..].chars().take_while(|c| *c != ';').take(10).collect();
        let ok = entity.chars().all(|c| c.is_ascii_alphanumeric() || c == '#') && text[i + 1..].contains(';');
        assert!(ok && !entity.is_empty(), "bare & in text: {}", &text[i..text.len().min(i + 20)]);
    }
}

fn finished_numbers(session: &Value) -> Vec<u64> {
    let mut numbers: Vec<u64> = iterations(session)
        .iter()
        .filter(|it| matches!(it["state"].as_str(), Some("succeeded" | "failed" | "interrupted")))
        .filter_map(|it| it["number"].as_u64())
        .collect();
    numbers.dedup();
    numbers
}

#[test]
fn report_show_and_watch_draw_the_session() {
    let env = TestEnv::new(standard_project(&[]));
    env.start_loop("pictured", &["--max-iterations", "3"]);
    let s = env.wait_ended("pictured");
    assert_eq!(state(&s), "completed", "{}", pretty(&s));
    let numbers = finished_numbers(&s);
    assert_eq!(numbers, [0, 1, 2], "{}", pretty(&s));

    let path = env.project.scratch().join("x.html");
    let path_text = path.to_string_lossy().into_owned();
    let stdout = env.revis_ok(&["report", "pictured", "-o", &path_text]);
    assert!(stdout.contains("x.html"), "says where it wrote: {stdout}");
    let html = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path_text}: {e}"));

    let tags = assert_well_formed(&html);
    assert_eq!(tags.iter().filter(|t| *t == "svg").count(), 1, "one chart");
    let svg_start = html.find("<svg").unwrap_or_default();
    let svg_end = html.find("</svg>").unwrap_or_default();
    let svg = &html[svg_start..svg_end];
    for n in &numbers {
        assert_eq!(svg.matches(&format!("data-iteration=\"{n}\"")).count(), 1, "a point for #{n}: {svg}");
        assert!(html.contains(&format!("<a href=\"#iteration-{n}\">{n}</a>")), "#{n} in the table");
        assert!(html.contains(&format!("<section id=\"iteration-{n}\">")), "#{n} has its section");
    }
    assert!(svg.contains("class=\"best\""), "the best-so-far line: {svg}");
    assert!(!html.contains("http://") && !html.contains("https://"), "no external references");
    assert!(!html.contains("<link") && !html.contains("<script"), "no external CSS or scripts");
    assert!(html.contains("pictured") && html.contains("completed (max_iterations)"), "header");
    assert!(html.contains(" → best "), "baseline → best in the header");
    // Iteration 1 changed config.json (the search's knob): its commit's diff is on the page.
    assert!(html.contains("git show ") && html.contains("config.json"), "diffs from git show");
    assert!(html.contains("class=\"add\""), "diff lines are marked");

    // `show` draws the chart between the header and the table, without colour (NO_COLOR).
    let show = env.revis_ok(&["show", "pictured"]);
    let legend = show.find("val_loss (minimize)   ● result").unwrap_or_else(|| panic!("no chart in show:\n{show}"));
    let table = show.find("OUTCOME").unwrap_or_else(|| panic!("no table in show:\n{show}"));
    assert!(legend < table, "the chart comes above the table:\n{show}");
    assert!(show.contains('●') && show.contains("#0") && show.contains("#2"), "{show}");
    assert!(!show.contains('\x1b'), "NO_COLOR: no escape codes:\n{show}");

    // `watch` on the ended session replays its events and ends with the same chart.
    let watch = env.revis_ok(&["watch", "pictured"]);
    let ended =
        watch.find("val_loss (minimize)   ● result").unwrap_or_else(|| panic!("no chart after watch:\n{watch}"));
    assert!(watch[..ended].lines().count() >= 3, "the events come first:\n{watch}");
    assert!(!watch.contains('\x1b') && !watch.contains('\r'), "plain output when not a terminal:\n{watch}");
    // --json stays pure JSON lines.
    let json = env.revis_ok(&["watch", "pictured", "--json"]);
    for line in json.lines() {
        assert!(serde_json::from_str::<Value>(line).is_ok(), "not JSON: {line}");
    }
}

#[test]
fn report_of_an_unknown_session_fails_without_writing() {
    let env = TestEnv::new(standard_project(&[]));
    let path = env.project.scratch().join("none.html");
    let out = env.revis(&["report", "no-such-session", "-o", &path.to_string_lossy()]);
    assert!(!out.status.success(), "{}", revis_tests::cli::describe(&out));
    assert!(!path.exists(), "nothing written for an unknown session");
}

#[test]
fn watch_on_a_terminal_redraws_a_progress_line_then_draws_the_chart() {
    let project = standard_project(&[]);
    project.touch_ctl("block-1");
    let env = TestEnv::new(project);
    env.start_loop("live", &["--max-iterations", "2"]);
    env.wait_ctl("started-1");

    let mut cmd = Command::new("sh");
    // A fresh pty has no size: give it one, as a terminal would.
    cmd.args(["-c", "stty cols 100 rows 40 && exec \"$0\" watch live", &revis_bin().display().to_string()]);
    scrub_env(&mut cmd, &env.home);
    cmd.current_dir(env.project.path()).stdin(Stdio::inherit()).env("TERM", "xterm");
    let options = Options::new().timeout_ms(Some(30_000)).strip_ansi_escape_codes(false);
    let mut tty = spawn_with_options(cmd, options).unwrap_or_else(|e| panic!("cannot start revis watch on a pty: {e}"));

    // Iteration 1 is blocked in training: the progress line says so, drawn in place.
    // (rexpect reads bytes as Latin-1, so only ASCII is matched.) The progress line may be
    // drawn before the replayed events arrive; they then go above it.
    tty.exp_string("iteration 1: training").unwrap_or_else(|e| panic!("no events: {e}"));
    tty.exp_string(" #1 train ").unwrap_or_else(|e| panic!("no progress line: {e}"));
    // Nothing happens while the run is blocked: each second the line is redrawn in place
    // (`\r`, erase, `▶ #1 train <elapsed>`), never as a new line.
    let redrawn = tty.exp_string(" #1 train ").unwrap_or_else(|e| panic!("the progress line is not redrawn: {e}"));
    assert!(redrawn.ends_with("\r\x1b[K\u{e2}\u{96}\u{b6}"), "{redrawn:?}");
    assert!(!redrawn.contains('\n'), "{redrawn:?}");
    env.project.touch_ctl("gate-1");
    let rest = tty.exp_eof().unwrap_or_else(|e| panic!("watch did not end: {e}"));
    let chart = rest.find("val_loss (minimize)").unwrap_or_else(|| panic!("no chart at the end: {rest:?}"));
    assert!(rest[..chart].contains("session completed"), "{rest:?}");
    assert!(!rest[chart..].contains('\x1b'), "NO_COLOR: the chart has no colour: {rest:?}");
    let s = env.wait_ended("live");
    assert_eq!(state(&s), "completed", "{}", pretty(&s));
}
