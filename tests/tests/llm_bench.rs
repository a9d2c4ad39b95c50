//! Benchmark, not a test (ignored by default): how the prompt grows over a long LLM session.
//! Run with `cargo test -p revis-tests --test llm_bench -- --ignored --nocapture`.
//! The fake model submits a small config change at once, the training is instant, and the
//! session runs 101 iterations; the prompt size of the decisions at iterations 10 and 100 is
//! printed (body bytes / 4, as the fake bills it) with their ratio, which must stay <= 1.5.

use revis_tests::TestEnv;
use revis_tests::fakes::{FakeLlm, Recorded, Reply, change, config_edit, submit};
use revis_tests::llm::{assert_no_violations, env_of, fake_key, llm_project};
use revis_tests::session::{iteration, pretty, state, stop_reason};
use serde_json::json;
use std::time::{Duration, Instant};

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpus} CPUs, {model}")
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn llm_prompt_growth() {
    let fake = FakeLlm::anthropic(&fake_key("sk-ant-bench"));
    // Distinct values so every decision is a real change.
    fake.otherwise(|i, _| {
        let lr = 0.001 * (1 + i % 97) as f64;
        Reply::call(submit(change(
            &format!("step {i}: try lr {lr:.3}"),
            "a nearby lr may do better",
            vec![config_edit("config.json", "lr", json!(lr))],
        )))
    });
    let env =
        TestEnv::new(llm_project(&[("plateau_runs", "1000")], "llm:\n  model: anthropic/claude-sonnet-4-5\n", &[]));
    let started = Instant::now();
    env.start_llm_loop("long", &["--max-iterations", "101"], &env_of(&[&fake]));
    let s = env.wait_ended_within("long", Duration::from_secs(1800));
    let elapsed = started.elapsed();

    assert_no_violations(&[&fake]);
    assert_eq!((state(&s), stop_reason(&s)), ("completed", "max_iterations"), "{}", pretty(&s));
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 100, "one request per decision");

    println!("machine: {}", machine());
    println!("session: 101 iterations in {:.1} s", elapsed.as_secs_f64());
    println!("decision  prompt tokens (body/4)  llm.input_tokens (show)");
    for n in [1usize, 2, 5, 10, 20, 30, 50, 75, 100] {
        let billed = reqs.get(n - 1).map(Recorded::prompt_tokens).unwrap_or(0);
        let shown = iteration(&s, n as u64).map(|it| it["llm"]["input_tokens"].clone()).unwrap_or_default();
        println!("{n:>8}  {billed:>22}  {shown}");
    }
    let at10 = reqs[9].prompt_tokens() as f64;
    let at100 = reqs[99].prompt_tokens() as f64;
    let ratio = at100 / at10;
    println!("prompt tokens: iteration 10 = {at10}, iteration 100 = {at100}, ratio = {ratio:.3}");
    assert!(ratio <= 1.5, "the prompt grew {ratio:.3}x from iteration 10 to 100 (limit 1.5)");
}
