//! Parzen estimators for TPE, after Optuna's (multivariate) sampler: one kernel per observation
//! plus a wide prior kernel, per parameter. A numeric parameter's kernels are gaussians
//! truncated to the range; a categorical one's put most of their weight on the observed
//! category. Kernels are indexed alike across parameters, so `tpe` can multiply them into
//! joint kernels. Numeric values arrive already transformed (log for log ranges).
//!
//! An observation that lacks a parameter (`None`) gets the prior kernel for that parameter.

use super::rng::Rng;

/// Weight of the prior kernel relative to one observation.
const PRIOR_WEIGHT: f64 = 1.0;

/// Relative weights of `n` observations in chronological order, Optuna's default: uniform,
/// except that beyond 25 observations the older ones fade.
pub fn chronological_weights(n: usize) -> Vec<f64> {
    if n < 25 {
        return vec![1.0; n];
    }
    let ramp = n - 25;
    let start = 1.0 / n as f64;
    let mut weights: Vec<f64> = (0..ramp)
        .map(|i| if ramp == 1 { start } else { start + (1.0 - start) * i as f64 / (ramp - 1) as f64 })
        .collect();
    weights.extend(std::iter::repeat_n(1.0, 25));
    weights
}

/// The kernels' mixture weights: the observations' relative weights, then the prior's,
/// normalized to sum to one.
pub fn with_prior(observation_weights: &[f64]) -> Vec<f64> {
    let mut weights = observation_weights.to_vec();
    weights.push(PRIOR_WEIGHT);
    let total: f64 = weights.iter().sum();
    weights.iter_mut().for_each(|w| *w /= total);
    weights
}

/// Gaussian kernels truncated to `[low, high]`; the last is the prior.
#[derive(Debug, Clone)]
pub struct Numeric {
    mus: Vec<f64>,
    sigmas: Vec<f64>,
    /// Log of each kernel's mass inside the bounds (its truncation normalizer).
    log_z: Vec<f64>,
    low: f64,
    high: f64,
}

impl Numeric {
    /// `observations` in chronological order, inside `[low, high]`.
    pub fn new(observations: &[Option<f64>], low: f64, high: f64) -> Self {
        let span = high - low;
        let (mid, n) = (0.5 * (low + high), observations.len());
        let present: Vec<f64> = observations.iter().flatten().copied().collect();
        let mut widths = neighbour_bandwidths(&present, low, high).into_iter();
        // Optuna's "magic clip": no kernel narrower than the range over min(100, kernels + 1).
        let min_sigma = span / (n as f64 + 2.0).min(100.0);
        let mut mus = Vec::with_capacity(n + 1);
        let mut sigmas = Vec::with_capacity(n + 1);
        for x in observations {
            match x {
                Some(x) => {
                    mus.push(*x);
                    sigmas.push(widths.next().unwrap_or(span).clamp(min_sigma, span));
                }
                None => {
                    mus.push(mid);
                    sigmas.push(span);
                }
            }
        }
        mus.push(mid);
        sigmas.push(span);
        let log_z = mus
            .iter()
            .zip(&sigmas)
            .map(|(mu, sigma)| interval((low - mu) / sigma, (high - mu) / sigma).max(f64::MIN_POSITIVE).ln())
            .collect();
        Self { mus, sigmas, log_z, low, high }
    }

    /// A draw from kernel `k`, inside the bounds.
    pub fn sample(&self, k: usize, rng: &mut Rng) -> f64 {
        let (mu, sigma) = (self.mus[k], self.sigmas[k]);
        for _ in 0..64 {
            let x = mu + sigma * rng.normal();
            if (self.low..=self.high).contains(&x) {
                return x;
            }
        }
        rng.range(self.low, self.high)
    }

    /// Log density of kernel `k` at `x`.
    pub fn log_pdf(&self, k: usize, x: f64) -> f64 {
        let (mu, sigma) = (self.mus[k], self.sigmas[k]);
        let u = (x - mu) / sigma;
        -0.5 * u * u - (sigma * std::f64::consts::TAU.sqrt()).ln() - self.log_z[k]
    }

    /// Log probability of `[a, b]` under kernel `k` (for integers: the cell around the value).
    pub fn log_mass(&self, k: usize, a: f64, b: f64) -> f64 {
        let (mu, sigma) = (self.mus[k], self.sigmas[k]);
        interval((a - mu) / sigma, (b - mu) / sigma).max(f64::MIN_POSITIVE).ln() - self.log_z[k]
    }
}

/// Each kernel is as wide as the larger gap to its neighbours (bounds count as neighbours,
/// except that the outermost kernels look inward only, as Optuna does). Chronological order.
fn neighbour_bandwidths(observations: &[f64], low: f64, high: f64) -> Vec<f64> {
    let n = observations.len();
    if n == 0 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| observations[a].total_cmp(&observations[b]));
    let mut sorted = Vec::with_capacity(n + 2);
    sorted.push(low);
    sorted.extend(order.iter().map(|&i| observations[i]));
    sorted.push(high);
    let mut by_rank: Vec<f64> = (1..=n).map(|i| (sorted[i] - sorted[i - 1]).max(sorted[i + 1] - sorted[i])).collect();
    if n >= 2 {
        by_rank[0] = sorted[2] - sorted[1];
        by_rank[n - 1] = sorted[n] - sorted[n - 1];
    }
    let mut sigmas = vec![0.0; n];
    for (rank, &i) in order.iter().enumerate() {
        sigmas[i] = by_rank[rank];
    }
    sigmas
}

/// Probability mass of a standard normal on `[a, b]`, accurate in the tails.
fn interval(a: f64, b: f64) -> f64 {
    let upper_tail = |z: f64| 0.5 * erfc(z / std::f64::consts::SQRT_2);
    let mass = if a >= 0.0 {
        upper_tail(a) - upper_tail(b)
    } else if b <= 0.0 {
        upper_tail(-b) - upper_tail(-a)
    } else {
        1.0 - upper_tail(-a) - upper_tail(b)
    };
    mass.max(0.0)
}

/// Complementary error function (Numerical Recipes' `erfcc`, relative error below 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Categorical kernels: an observed one puts `prior / kernels` on every category plus 1 on its
/// own (normalized); the prior's (and a missing observation's) is uniform.
#[derive(Debug, Clone)]
pub struct Categorical {
    /// Per kernel, the log probability of each category.
    log_probs: Vec<Vec<f64>>,
    probs: Vec<Vec<f64>>,
}

impl Categorical {
    pub fn new(observations: &[Option<usize>], choices: usize) -> Self {
        let kernels = observations.len() + 1;
        let base = PRIOR_WEIGHT / kernels as f64;
        let uniform = vec![1.0 / choices as f64; choices];
        let probs: Vec<Vec<f64>> = observations
            .iter()
            .map(|c| match c {
                Some(c) if *c < choices => {
                    let total = base * choices as f64 + 1.0;
                    (0..choices).map(|i| (base + if i == *c { 1.0 } else { 0.0 }) / total).collect()
                }
                _ => uniform.clone(),
            })
            .chain(std::iter::once(uniform.clone()))
            .collect();
        let log_probs = probs.iter().map(|row| row.iter().map(|p| p.max(f64::MIN_POSITIVE).ln()).collect()).collect();
        Self { log_probs, probs }
    }

    pub fn sample(&self, k: usize, rng: &mut Rng) -> usize {
        rng.weighted(&self.probs[k])
    }

    pub fn log_pmf(&self, k: usize, index: usize) -> f64 {
        self.log_probs[k].get(index).copied().unwrap_or(f64::MIN_POSITIVE.ln())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mixture_log_pdf(est: &Numeric, weights: &[f64], x: f64) -> f64 {
        weights.iter().enumerate().map(|(k, w)| w * est.log_pdf(k, x).exp()).sum::<f64>().ln()
    }

    #[test]
    fn normal_mass_is_accurate() {
        assert!((interval(-1.0, 1.0) - 0.682_689_49).abs() < 1e-6);
        assert!((interval(0.0, f64::INFINITY) - 0.5).abs() < 1e-7);
        // Deep tail: relative accuracy matters for the l/g ratio.
        let tail = interval(8.0, 9.0);
        assert!((tail / 6.219_831_986e-16 - 1.0).abs() < 1e-5, "{tail}");
    }

    #[test]
    fn numeric_estimator_concentrates_on_observations() {
        let xs = [0.2, 0.25, 0.22, 0.21, 0.24, 0.23, 0.26, 0.2, 0.22];
        let obs: Vec<Option<f64>> = xs.iter().map(|x| Some(*x)).collect();
        let est = Numeric::new(&obs, 0.0, 1.0);
        let weights = with_prior(&chronological_weights(obs.len()));
        assert!(mixture_log_pdf(&est, &weights, 0.22) > mixture_log_pdf(&est, &weights, 0.9));
        let mut rng = Rng::new(1, 0);
        let draws: Vec<f64> = (0..200).map(|_| est.sample(rng.weighted(&weights), &mut rng)).collect();
        assert!(draws.iter().all(|x| (0.0..=1.0).contains(x)));
        let near = draws.iter().filter(|x| (0.1..0.35).contains(*x)).count();
        assert!(near > 100, "{near} of 200 draws near the observations");
        // Each truncated kernel integrates to one over the range.
        let mass = est.log_mass(0, 0.0, 1.0).exp();
        assert!((mass - 1.0).abs() < 1e-9, "{mass}");
    }

    #[test]
    fn a_missing_observation_gets_the_prior_kernel() {
        let est = Numeric::new(&[Some(0.1), None], 0.0, 1.0);
        assert_eq!(est.log_pdf(1, 0.3), est.log_pdf(2, 0.3));
        let cat = Categorical::new(&[Some(0), None], 3);
        assert_eq!(cat.log_pmf(1, 0), cat.log_pmf(2, 0));
    }

    #[test]
    fn categorical_kernels_sum_to_one_and_favour_their_category() {
        let est = Categorical::new(&[Some(1), Some(1), Some(2)], 3);
        for k in 0..4 {
            let total: f64 = (0..3).map(|i| est.log_pmf(k, i).exp()).sum();
            assert!((total - 1.0).abs() < 1e-12);
        }
        assert!(est.log_pmf(0, 1) > est.log_pmf(0, 0));
    }

    #[test]
    fn weights_fade_old_observations_beyond_25() {
        let w = with_prior(&chronological_weights(30));
        assert_eq!(w.len(), 31);
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(w[0] < w[29]);
    }
}
