//! Parzen estimators for TPE, after Optuna's independent sampler: a mixture of truncated
//! gaussians (one per observation plus a wide prior) for numeric parameters, and smoothed
//! counts for categorical ones. Numeric values arrive already transformed (log for log ranges).

use super::rng::Rng;

/// Weight of the prior component relative to one observation.
const PRIOR_WEIGHT: f64 = 1.0;

/// Optuna's default weights: uniform, except that beyond 25 observations the older ones fade.
fn observation_weights(n: usize) -> Vec<f64> {
    if n < 25 {
        return vec![1.0; n];
    }
    let ramp = n - 25;
    let mut weights: Vec<f64> = (0..ramp)
        .map(|i| {
            let start = 1.0 / n as f64;
            if ramp == 1 { start } else { start + (1.0 - start) * i as f64 / (ramp - 1) as f64 }
        })
        .collect();
    weights.extend(std::iter::repeat_n(1.0, 25));
    weights
}

fn normalized(mut weights: Vec<f64>) -> Vec<f64> {
    let total: f64 = weights.iter().sum();
    if total > 0.0 {
        weights.iter_mut().for_each(|w| *w /= total);
    }
    weights
}

/// Mixture of gaussians truncated to `[low, high]`.
#[derive(Debug, Clone)]
pub struct Numeric {
    mus: Vec<f64>,
    sigmas: Vec<f64>,
    weights: Vec<f64>,
    low: f64,
    high: f64,
}

impl Numeric {
    /// `observations` in chronological order, inside `[low, high]`.
    pub fn new(observations: &[f64], low: f64, high: f64) -> Self {
        let n = observations.len();
        let span = high - low;
        let mut sigmas = neighbour_bandwidths(observations, low, high);
        // Optuna's "magic clip": no kernel narrower than the range over min(100, n + 1).
        let min_sigma = span / (1.0 + n as f64).min(100.0);
        sigmas.iter_mut().for_each(|s| *s = s.clamp(min_sigma, span));
        let mut mus = observations.to_vec();
        mus.push(0.5 * (low + high));
        sigmas.push(span);
        let mut weights = observation_weights(n);
        weights.push(PRIOR_WEIGHT);
        Self { mus, sigmas, weights: normalized(weights), low, high }
    }

    /// A draw from the mixture, inside the bounds.
    pub fn sample(&self, rng: &mut Rng) -> f64 {
        let k = rng.weighted(&self.weights);
        for _ in 0..64 {
            let x = self.mus[k] + self.sigmas[k] * rng.normal();
            if (self.low..=self.high).contains(&x) {
                return x;
            }
        }
        rng.range(self.low, self.high)
    }

    /// Log density at `x`.
    pub fn log_pdf(&self, x: f64) -> f64 {
        let density: f64 = self
            .components()
            .map(|(w, mu, sigma, z)| {
                let u = (x - mu) / sigma;
                w * (-0.5 * u * u).exp() / (sigma * (std::f64::consts::TAU).sqrt() * z)
            })
            .sum();
        density.max(f64::MIN_POSITIVE).ln()
    }

    /// Log probability of `[a, b]` (for integers: the cell around the value).
    pub fn log_mass(&self, a: f64, b: f64) -> f64 {
        let mass: f64 =
            self.components().map(|(w, mu, sigma, z)| w * interval((a - mu) / sigma, (b - mu) / sigma) / z).sum();
        mass.max(f64::MIN_POSITIVE).ln()
    }

    /// (weight, mu, sigma, truncation normalizer) per component.
    fn components(&self) -> impl Iterator<Item = (f64, f64, f64, f64)> + '_ {
        self.weights.iter().zip(&self.mus).zip(&self.sigmas).map(|((w, mu), sigma)| {
            let z = interval((self.low - mu) / sigma, (self.high - mu) / sigma);
            (*w, *mu, *sigma, z.max(f64::MIN_POSITIVE))
        })
    }
}

/// Each kernel is as wide as the larger gap to its neighbours (bounds count as neighbours,
/// except that the outermost kernels look inward only, as Optuna does).
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

/// Smoothed category frequencies: each observation is a kernel that puts most of its weight on
/// its own category, plus a uniform prior.
#[derive(Debug, Clone)]
pub struct Categorical {
    probs: Vec<f64>,
}

impl Categorical {
    pub fn new(observations: &[usize], choices: usize) -> Self {
        let n = observations.len();
        let kernels = n + 1;
        let mut weights = observation_weights(n);
        weights.push(PRIOR_WEIGHT);
        let weights = normalized(weights);
        let mut probs = vec![0.0; choices];
        let base = PRIOR_WEIGHT / kernels as f64;
        // An observed kernel: `base` on every category plus 1 on its own, normalized.
        let own_total = base * choices as f64 + 1.0;
        for (k, w) in weights.iter().enumerate() {
            match observations.get(k) {
                Some(&c) => {
                    probs.iter_mut().for_each(|p| *p += w * base / own_total);
                    if let Some(p) = probs.get_mut(c) {
                        *p += w / own_total;
                    }
                }
                None => probs.iter_mut().for_each(|p| *p += w / choices as f64),
            }
        }
        Self { probs }
    }

    pub fn sample(&self, rng: &mut Rng) -> usize {
        rng.weighted(&self.probs)
    }

    pub fn log_pmf(&self, index: usize) -> f64 {
        self.probs.get(index).copied().unwrap_or(0.0).max(f64::MIN_POSITIVE).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let est = Numeric::new(&[0.2, 0.25, 0.22, 0.21, 0.24, 0.23, 0.26, 0.2, 0.22], 0.0, 1.0);
        assert!(est.log_pdf(0.22) > est.log_pdf(0.9));
        let mut rng = Rng::new(1, 0);
        let draws: Vec<f64> = (0..200).map(|_| est.sample(&mut rng)).collect();
        assert!(draws.iter().all(|x| (0.0..=1.0).contains(x)));
        let near = draws.iter().filter(|x| (0.1..0.35).contains(*x)).count();
        assert!(near > 100, "{near} of 200 draws near the observations");
    }

    #[test]
    fn categorical_estimator_sums_to_one() {
        let est = Categorical::new(&[1, 1, 2], 3);
        let total: f64 = (0..3).map(|i| est.log_pmf(i).exp()).sum();
        assert!((total - 1.0).abs() < 1e-12);
        assert!(est.log_pmf(1) > est.log_pmf(0));
    }
}
