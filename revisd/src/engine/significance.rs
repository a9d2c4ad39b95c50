//! Whether a trial's repeated runs beat the incumbent's by more than chance: Welch's t-test,
//! one-sided, on the runs' primary values. With a single incumbent value (a best promoted by
//! one run, a baseline without replicates) it becomes a one-sample t-test of the trial's runs
//! against that value. The Student t distribution comes from the regularized incomplete beta
//! function (a continued fraction, as in Numerical Recipes §6.4).

use super::rules;

/// The figures of one comparison, kept with the trial and shown in `show`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Comparison {
    pub candidate_mean: f64,
    pub incumbent_mean: f64,
    /// The gain of the candidate's mean over the incumbent's (positive: better).
    pub gain: f64,
    pub t: f64,
    pub df: f64,
    /// One-sided: the chance of a gain this large or larger if the candidate were no better.
    pub p: f64,
}

/// Compares the candidate's runs with the incumbent's (`minimize`: lower is better).
pub fn compare(candidate: &[f64], incumbent: &[f64], minimize: bool) -> Comparison {
    let (ma, mb) = (rules::mean(candidate), rules::mean(incumbent));
    let gain = rules::gain(ma, mb, minimize);
    let (va, vb) = (variance(candidate), variance(incumbent));
    let (na, nb) = (candidate.len() as f64, incumbent.len() as f64);
    let (se2, df) = if incumbent.len() < 2 {
        (va / na, na - 1.0)
    } else {
        let (a, b) = (va / na, vb / nb);
        let df = (a + b).powi(2) / (a.powi(2) / (na - 1.0) + b.powi(2) / (nb - 1.0));
        (a + b, df)
    };
    let (t, p) = if se2 <= 0.0 || !se2.is_finite() || df.is_nan() || df <= 0.0 {
        // No spread at all: the difference is what it is.
        let t = if gain > 0.0 {
            f64::INFINITY
        } else if gain < 0.0 {
            f64::NEG_INFINITY
        } else {
            0.0
        };
        (t, if gain > 0.0 { 0.0 } else { 1.0 })
    } else {
        let t = gain / se2.sqrt();
        (t, upper_tail(t, df))
    };
    Comparison { candidate_mean: ma, incumbent_mean: mb, gain, t, df, p }
}

/// Sample variance (n - 1); 0 for fewer than two values.
fn variance(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let m = rules::mean(values);
    values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (values.len() - 1) as f64
}

/// P(T > t) for Student's t with `df` degrees of freedom.
fn upper_tail(t: f64, df: f64) -> f64 {
    let x = df / (df + t * t);
    let tail = 0.5 * incomplete_beta(df / 2.0, 0.5, x);
    if t > 0.0 { tail } else { 1.0 - tail }
}

/// The regularized incomplete beta function I_x(a, b).
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front = (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    // The continued fraction converges fast below the mean of the distribution; above it the
    // symmetry I_x(a, b) = 1 - I_{1-x}(b, a) is used.
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_fraction(b, a, 1.0 - x) / b
    }
}

fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..300 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-14 {
            break;
        }
    }
    h
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection keeps the series in its accurate range.
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = G[0];
    for (i, g) in G.iter().enumerate().skip(1) {
        sum += g / (x + i as f64);
    }
    let t = x + 7.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn the_t_distribution_matches_its_tables() {
        // Two-sided 95 % critical values: P(T > t) = 0.025.
        for (df, t) in [(1.0, 12.706), (2.0, 4.303), (5.0, 2.571), (10.0, 2.228), (30.0, 2.042)] {
            let p = upper_tail(t, df);
            assert!(close(p, 0.025, 2e-4), "df {df}: P(T > {t}) = {p}");
        }
        assert!(close(upper_tail(0.0, 7.0), 0.5, 1e-12));
        assert!(close(upper_tail(-2.571, 5.0), 0.975, 2e-4));
        assert!(close(ln_gamma(5.0), 24f64.ln(), 1e-12));
    }

    #[test]
    fn welch_agrees_with_a_worked_example() {
        // scipy.stats.ttest_ind(a, b, equal_var=False, alternative='less'): t = -2.2192,
        // df = 24.496, p = 0.017986 for the lower (minimized) candidate; here the gain is the
        // incumbent's mean minus the candidate's, so t is positive.
        let a = [19.8, 20.4, 19.6, 17.8, 18.5, 18.9, 18.3, 18.9, 19.5, 22.0];
        let b = [
            28.2, 26.6, 20.1, 23.3, 25.2, 22.1, 17.7, 27.6, 20.6, 13.7, 23.2, 17.5, 20.6, 18.0, 23.9, 21.6, 24.3, 20.4,
            24.0, 13.2,
        ];
        let c = compare(&a, &b, true);
        assert!(close(c.t, 2.219_241, 1e-5), "{c:?}");
        assert!(close(c.df, 24.496_223, 1e-5), "{c:?}");
        assert!(close(c.p, 0.017_986, 1e-5), "{c:?}");
    }

    #[test]
    fn one_incumbent_value_is_a_one_sample_test_and_no_spread_is_decisive() {
        let c = compare(&[0.4, 0.7, 0.7], &[0.7], true);
        assert!(close(c.gain, 0.1, 1e-12) && close(c.df, 2.0, 1e-12), "{c:?}");
        // scipy.stats.ttest_1samp([0.4, 0.7, 0.7], 0.7, alternative='less'): p = 0.211325.
        assert!(close(c.p, 0.211_325, 1e-5), "a lucky first run is not confirmed: {c:?}");
        assert_eq!(compare(&[0.1, 0.1], &[0.7, 0.7], true).p, 0.0);
        assert_eq!(compare(&[0.9, 0.9], &[0.7, 0.7], true).p, 1.0);
    }
}
