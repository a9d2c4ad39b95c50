//! The search advisor's contract: determinism, legal values, grid order and exhaustion, no
//! repeated points, and TPE learning faster than random search on small problems.

use indexmap::IndexMap;
use serde_json::{Value, json};

use super::*;
use crate::config::{ParamKind, SearchParam};

fn range(low: f64, high: f64) -> SearchParam {
    SearchParam {
        file: Some("c.yaml".into()),
        key: Some("k".into()),
        arg: None,
        low: Some(low),
        high: Some(high),
        log: false,
        kind: Some(ParamKind::Float),
        step: None,
        grid_points: None,
        values: None,
    }
}

/// A range whose type is inferred: integral bounds make it an int range.
fn int_range(low: f64, high: f64) -> SearchParam {
    SearchParam { kind: None, ..range(low, high) }
}

fn choice(values: Vec<Value>) -> SearchParam {
    SearchParam { low: None, high: None, values: Some(values), ..range(0.0, 1.0) }
}

fn search(strategy: SearchStrategy, seed: u64, space: Vec<(&str, SearchParam)>) -> Search {
    Search { strategy, seed, space: space.into_iter().map(|(k, v)| (k.to_string(), v)).collect() }
}

fn advisor(search: &Search) -> SearchAdvisor {
    SearchAdvisor::new(search).unwrap_or_else(|e| panic!("{e}"))
}

fn point(pairs: &[(&str, Value)]) -> IndexMap<String, Value> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// Run a session of `trials` proposals after `baseline`, scoring each point with `f`.
fn run(
    advisor: &SearchAdvisor,
    baseline: IndexMap<String, Value>,
    trials: usize,
    f: impl Fn(&IndexMap<String, Value>) -> Option<f64>,
) -> Vec<Observation> {
    let mut history = vec![Observation { iteration: 0, primary: f(&baseline), params: baseline.clone() }];
    for i in 1..=trials {
        let current = history[0].params.clone();
        match advisor.propose(&history, &current, true) {
            Proposal::Params { params, .. } => {
                let primary = f(&params);
                history.push(Observation { iteration: i as u32, params, primary });
            }
            Proposal::Exhausted { .. } => break,
        }
    }
    history
}

fn best(history: &[Observation]) -> f64 {
    history.iter().filter_map(|o| o.primary).fold(f64::INFINITY, f64::min)
}

fn num(params: &IndexMap<String, Value>, name: &str) -> f64 {
    params.get(name).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn mixed_space(strategy: SearchStrategy, seed: u64) -> Search {
    search(
        strategy,
        seed,
        vec![
            ("lr", SearchParam { log: true, ..range(1e-5, 1e-1) }),
            ("batch", SearchParam { kind: Some(ParamKind::Int), ..range(16.0, 256.0) }),
            ("layers", SearchParam { step: Some(2.0), ..int_range(2.0, 12.0) }),
            ("dropout", range(0.0, 0.5)),
            ("opt", choice(vec![json!("adam"), json!("sgd"), json!(true)])),
        ],
    )
}

fn mixed_baseline() -> IndexMap<String, Value> {
    point(&[
        ("lr", json!(0.01)),
        ("batch", json!(32)),
        ("layers", json!(4)),
        ("dropout", json!(0.1)),
        ("opt", json!("adam")),
    ])
}

fn mixed_objective(p: &IndexMap<String, Value>) -> Option<f64> {
    let opt = match p.get("opt") {
        Some(Value::String(s)) if s == "sgd" => 0.0,
        _ => 0.3,
    };
    Some((num(p, "lr").log10() + 3.0).powi(2) + num(p, "dropout") + opt + num(p, "layers") / 100.0)
}

#[test]
fn same_seed_and_history_give_the_same_proposal() {
    for strategy in [SearchStrategy::Tpe, SearchStrategy::Random] {
        let a = run(&advisor(&mixed_space(strategy, 7)), mixed_baseline(), 12, mixed_objective);
        let b = run(&advisor(&mixed_space(strategy, 7)), mixed_baseline(), 12, mixed_objective);
        assert_eq!(a, b, "{strategy:?}");
        let c = run(&advisor(&mixed_space(strategy, 8)), mixed_baseline(), 12, mixed_objective);
        assert_ne!(a, c, "{strategy:?}: another seed explores differently");
    }
}

#[test]
fn proposals_respect_bounds_types_and_categories() {
    for strategy in [SearchStrategy::Tpe, SearchStrategy::Random] {
        let history = run(&advisor(&mixed_space(strategy, 3)), mixed_baseline(), 40, mixed_objective);
        assert_eq!(history.len(), 41);
        for o in &history[1..] {
            let p = &o.params;
            let lr = num(p, "lr");
            assert!((1e-5..=1e-1).contains(&lr), "lr {lr}");
            assert_eq!(space::round_sig(lr, 4), lr, "lr {lr} has 4 significant digits");
            let batch = p.get("batch").and_then(Value::as_i64).unwrap_or(-1);
            assert!((16..=256).contains(&batch), "batch {batch}");
            let layers = p.get("layers").and_then(Value::as_i64).unwrap_or(-1);
            assert!((2..=12).contains(&layers) && layers % 2 == 0, "layers {layers}");
            assert!((0.0..=0.5).contains(&num(p, "dropout")));
            let opt = p.get("opt").cloned().unwrap_or_default();
            assert!([json!("adam"), json!("sgd"), json!(true)].contains(&opt), "{opt}");
        }
    }
}

#[test]
fn log_ranges_are_sampled_log_uniformly() {
    let s = search(SearchStrategy::Random, 1, vec![("lr", SearchParam { log: true, ..range(1e-5, 1e-1) })]);
    let space = Space::new(&s).unwrap_or_else(|e| panic!("{e}"));
    let mut rng = Rng::new(1, 0);
    let draws: Vec<f64> = (0..400).map(|_| num(&random::draw(&space, &mut rng), "lr")).collect();
    let m = median(draws.clone());
    assert!((3e-4..3e-3).contains(&m), "median {m} should be near 1e-3");
    assert!(draws.iter().any(|x| *x < 1e-4), "the lowest decade is reached");
}

#[test]
fn grid_enumerates_in_order_skipping_evaluated_points_then_exhausts() {
    let s = search(
        SearchStrategy::Grid,
        0,
        vec![
            ("opt", choice(vec![json!("adam"), json!("sgd")])),
            ("lr", SearchParam { log: true, grid_points: Some(3), ..range(1e-4, 1e-2) }),
        ],
    );
    let adv = advisor(&s);
    let baseline = point(&[("opt", json!("adam")), ("lr", json!(0.001))]);
    let history = run(&adv, baseline, 20, |p| Some(num(p, "lr")));
    let seen: Vec<(Value, f64)> =
        history.iter().map(|o| (o.params.get("opt").cloned().unwrap_or_default(), num(&o.params, "lr"))).collect();
    let want = [
        (json!("adam"), 0.001),
        (json!("adam"), 0.0001),
        (json!("adam"), 0.01),
        (json!("sgd"), 0.0001),
        (json!("sgd"), 0.001),
        (json!("sgd"), 0.01),
    ];
    assert_eq!(seen, want);
    match adv.propose(&history, &history[0].params, true) {
        Proposal::Exhausted { reason } => assert!(reason.contains("6 points"), "{reason}"),
        other => panic!("expected exhaustion, got {other:?}"),
    }
}

#[test]
fn grid_points_of_each_kind() {
    let grid = |p: SearchParam| {
        let s = search(SearchStrategy::Grid, 0, vec![("x", p)]);
        Space::new(&s).unwrap_or_else(|e| panic!("{e}")).dims[0].domain.grid()
    };
    assert_eq!(
        grid(SearchParam { log: true, ..range(1e-5, 1e-1) }),
        [json!(1e-5), json!(1e-4), json!(1e-3), json!(1e-2), json!(1e-1)]
    );
    assert_eq!(grid(range(0.0, 1.0)), [json!(0.0), json!(0.25), json!(0.5), json!(0.75), json!(1.0)]);
    assert_eq!(grid(SearchParam { step: Some(0.1), ..range(0.1, 0.4) }).len(), 4);
    assert_eq!(grid(SearchParam { step: Some(0.1), ..range(0.1, 0.4) })[2], json!(0.3));
    assert_eq!(grid(int_range(1.0, 4.0)), [json!(1), json!(2), json!(3), json!(4)]);
    assert_eq!(
        grid(SearchParam { step: Some(32.0), ..int_range(32.0, 128.0) }),
        [json!(32), json!(64), json!(96), json!(128)]
    );
}

#[test]
fn never_repeats_a_point_and_exhausts_finite_spaces() {
    for strategy in [SearchStrategy::Tpe, SearchStrategy::Random] {
        let s =
            search(strategy, 5, vec![("a", choice(vec![json!(1), json!(2), json!(3)])), ("b", int_range(0.0, 1.0))]);
        let adv = advisor(&s);
        let baseline = point(&[("a", json!(2)), ("b", json!(1))]);
        // Every third run fails: failures must not be proposed again either.
        let history = run(&adv, baseline, 20, |p| {
            let v = num(p, "a") + num(p, "b");
            (v as i64 % 3 != 0).then_some(v)
        });
        assert_eq!(history.len(), 6, "{strategy:?}: 6 combinations, then exhausted");
        let keys: std::collections::HashSet<String> = history.iter().map(|o| format!("{:?}", o.params)).collect();
        assert_eq!(keys.len(), history.len(), "{strategy:?}: no point twice");
        match adv.propose(&history, &history[0].params, true) {
            Proposal::Exhausted { reason } => assert!(reason.contains("all 6"), "{reason}"),
            other => panic!("{strategy:?}: expected exhaustion, got {other:?}"),
        }
    }
}

#[test]
fn continuous_proposals_are_all_distinct() {
    let s = search(SearchStrategy::Tpe, 11, vec![("x", range(0.0, 1.0))]);
    let history = run(&advisor(&s), point(&[("x", json!(0.5))]), 40, |p| Some((num(p, "x") - 0.3).abs()));
    let mut xs: Vec<f64> = history.iter().map(|o| num(&o.params, "x")).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    assert_eq!(xs.len(), history.len());
}

fn tpe_vs_random(
    space: impl Fn(SearchStrategy, u64) -> Search,
    baseline: IndexMap<String, Value>,
    f: impl Fn(&IndexMap<String, Value>) -> Option<f64> + Copy,
) -> (f64, f64) {
    let seeds = 0..9;
    let mut tpe = Vec::new();
    let mut random = Vec::new();
    for seed in seeds {
        tpe.push(best(&run(&advisor(&space(SearchStrategy::Tpe, seed)), baseline.clone(), 30, f)));
        random.push(best(&run(&advisor(&space(SearchStrategy::Random, seed)), baseline.clone(), 30, f)));
    }
    (median(tpe), median(random))
}

#[test]
fn tpe_beats_random_on_a_quadratic() {
    let space = |strategy, seed| search(strategy, seed, vec![("x", range(-5.0, 5.0))]);
    let f = |p: &IndexMap<String, Value>| Some((num(p, "x") - 1.3).powi(2));
    let (tpe, random) = tpe_vs_random(space, point(&[("x", json!(-4.0))]), f);
    assert!(tpe < random, "TPE median best {tpe} vs random {random}");
}

#[test]
fn tpe_beats_random_with_a_categorical_knob() {
    let space = |strategy, seed| {
        search(
            strategy,
            seed,
            vec![
                ("lr", SearchParam { log: true, ..range(1e-5, 1e-1) }),
                ("opt", choice(vec![json!("adam"), json!("sgd"), json!("rmsprop"), json!("lion")])),
            ],
        )
    };
    let f = |p: &IndexMap<String, Value>| {
        let penalty = match p.get("opt").and_then(Value::as_str) {
            Some("lion") => 0.0,
            Some("adam") => 0.5,
            _ => 1.0,
        };
        Some((num(p, "lr").log10() + 3.3).powi(2) + penalty)
    };
    let baseline = point(&[("lr", json!(0.1)), ("opt", json!("sgd"))]);
    let (tpe, random) = tpe_vs_random(space, baseline, f);
    assert!(tpe < random, "TPE median best {tpe} vs random {random}");
}

#[test]
fn rationale_names_the_values_and_the_best_run() {
    let s = search(SearchStrategy::Tpe, 0, vec![("lr", SearchParam { log: true, ..range(1e-5, 1e-1) })]);
    let adv = advisor(&s);
    let history = run(&adv, point(&[("lr", json!(0.01))]), 6, |p| Some(num(p, "lr") * 10.0));
    let best = history
        .iter()
        .min_by(|a, b| a.primary.unwrap_or(f64::INFINITY).total_cmp(&b.primary.unwrap_or(f64::INFINITY)))
        .map(|o| o.iteration)
        .unwrap_or_default();
    let Proposal::Params { rationale, hypothesis, params, .. } = adv.propose(&history, &history[0].params, true) else {
        panic!("expected a proposal");
    };
    assert!(rationale.starts_with("TPE, best 2 of 7 runs"), "{rationale}");
    assert!(rationale.contains("(iteration 7)"), "{rationale}");
    assert!(rationale.contains(&format!("lr={}", params["lr"])), "{rationale}");
    assert!(rationale.contains("(was 0.01)"), "{rationale}");
    assert!(rationale.contains(&format!("at iteration {best}")), "{rationale}");
    assert!(!hypothesis.is_empty());
}

#[test]
fn invalid_spaces_are_refused() {
    let bad = |p: SearchParam| SearchAdvisor::new(&search(SearchStrategy::Tpe, 0, vec![("x", p)])).err();
    assert_eq!(SearchAdvisor::new(&Search::default()).err(), Some(SearchError::EmptySpace));
    assert!(bad(range(1.0, 1.0)).is_some());
    assert!(bad(SearchParam { log: true, ..range(0.0, 1.0) }).is_some());
    assert!(bad(choice(vec![])).is_some());
    assert!(bad(SearchParam { low: None, ..range(0.0, 1.0) }).is_some());
    assert!(bad(SearchParam { kind: Some(ParamKind::Int), ..range(0.5, 3.0) }).is_some());
    assert!(bad(SearchParam { step: Some(0.0), ..range(0.0, 1.0) }).is_some());
}

#[test]
fn warm_up_design_puts_one_point_in_each_stratum() {
    let s = search(SearchStrategy::Tpe, 4, vec![("x", range(0.0, 1.0)), ("n", int_range(0.0, 6.0))]);
    let space = Space::new(&s).unwrap_or_else(|e| panic!("{e}"));
    let points: Vec<IndexMap<String, Value>> = (0..7).map(|i| random::design_point(&space, 4, 7, i)).collect();
    let mut xs: Vec<usize> = points.iter().map(|p| (num(p, "x") * 7.0) as usize).collect();
    xs.sort_unstable();
    assert_eq!(xs, [0, 1, 2, 3, 4, 5, 6], "one x per seventh of the range");
    let mut ns: Vec<i64> = points.iter().map(|p| p.get("n").and_then(Value::as_i64).unwrap_or(-1)).collect();
    ns.sort_unstable();
    assert_eq!(ns, [0, 1, 2, 3, 4, 5, 6], "every integer once");
    assert_eq!(random::design_point(&space, 4, 7, 3), points[3], "the design depends on the seed only");
}

/// A batch proposed beside the trials still running (the engine's parallel slots): each TPE
/// proposal treats the running points as if they had scored the worst value, so a batch of four
/// spreads over the space instead of piling onto the best region.
#[test]
fn a_batch_proposed_beside_running_trials_spreads_out() {
    let s = search(SearchStrategy::Tpe, 5, vec![("x", range(0.0, 1.0))]);
    let a = advisor(&s);
    let f = |p: &IndexMap<String, Value>| Some((num(p, "x") - 0.3).powi(2));
    let history = run(&a, point(&[("x", json!(0.9))]), 20, f);
    let current = history[0].params.clone();
    let mut batch: Vec<IndexMap<String, Value>> = Vec::new();
    for _ in 0..4 {
        match a.propose_beside(&history, &batch, &current, true) {
            Proposal::Params { params, .. } => batch.push(params),
            Proposal::Exhausted { reason } => panic!("exhausted: {reason}"),
        }
    }
    let mut xs: Vec<f64> = batch.iter().map(|p| num(p, "x")).collect();
    xs.sort_by(f64::total_cmp);
    let gaps: Vec<f64> = xs.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|g| *g > 1e-6), "four distinct points: {xs:?}");
    let spread = xs[3] - xs[0];
    // The same history without liars proposes from one model four times: compare with the
    // spread of one proposal repeated (zero) and demand a real spread.
    assert!(spread > 0.02, "the batch must not collapse onto one point: {xs:?}");
    // Deterministic: the same history and running points give the same batch.
    let mut again: Vec<IndexMap<String, Value>> = Vec::new();
    for _ in 0..4 {
        if let Proposal::Params { params, .. } = a.propose_beside(&history, &again, &current, true) {
            again.push(params);
        }
    }
    assert_eq!(again, batch);
}

/// Running trials are liars in the bad group only: the good group is the best 15 % of the trials
/// measured, whatever runs beside them, and the rationale counts the measured ones.
#[test]
fn running_trials_do_not_enlarge_the_good_group() {
    let s = search(SearchStrategy::Tpe, 5, vec![("x", range(0.0, 1.0))]);
    let a = advisor(&s);
    let f = |p: &IndexMap<String, Value>| Some((num(p, "x") - 0.3).powi(2));
    let history = run(&a, point(&[("x", json!(0.9))]), 20, f);
    let current = history[0].params.clone();
    let label = |running: &[IndexMap<String, Value>]| match a.propose_beside(&history, running, &current, true) {
        Proposal::Params { rationale, .. } => rationale,
        Proposal::Exhausted { reason } => panic!("exhausted: {reason}"),
    };
    let alone = label(&[]);
    assert!(alone.contains("best 4 of 21 runs"), "{alone}");
    // Counted with the 21 measured, eight liars would make the good group 5 of 29.
    let running: Vec<IndexMap<String, Value>> =
        [0.05, 0.15, 0.45, 0.5, 0.6, 0.7, 0.8, 0.95].iter().map(|x| point(&[("x", json!(x))])).collect();
    let beside = label(&running);
    assert!(beside.contains("best 4 of 21 runs"), "liars must not change the good group: {beside}");
}
