//! Demo traffic: a simulated card-fraud model that sends predictions and, after a random delay, labels.
//!
//! Transactions have numeric features (amount, account age, transactions in the last 24 h, distance from
//! home) and categorical ones (country, channel). A fixed logistic "true" model decides which are fraud;
//! the monitored model scores them with the same coefficients plus noise, so it starts out good. After
//! `drift_after`, the inputs shift (larger amounts, more distant and more frequent transactions, a new
//! country, more mobile traffic, more missing distances) and the label relationship changes (mobile
//! transactions become riskier, amounts matter less), which the model does not know: the feature,
//! prediction and label drift panels, the metric panels and the drift alerts all come alive.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Exp, Gamma, LogNormal, Normal, Poisson};
use serde_json::{Value, json};

/// Options of `modelwatch demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub url: String,
    pub model: String,
    /// Predictions per second.
    pub rate: f64,
    pub drift_after: Duration,
    pub seed: u64,
    /// Stop after this long (run forever when `None`).
    pub duration: Option<Duration>,
}

/// One simulated prediction and the label it will get (if the label arrives at all).
#[derive(Debug, Clone)]
pub struct Simulated {
    pub event: Value,
    pub label: Option<(Duration, u8)>,
}

pub struct Simulator {
    rng: StdRng,
    next_id: u64,
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn pick<'a>(rng: &mut StdRng, choices: &[(&'a str, f64)]) -> &'a str {
    let mut u: f64 = rng.random();
    for (name, p) in choices {
        if u < *p {
            return name;
        }
        u -= p;
    }
    choices[choices.len() - 1].0
}

impl Simulator {
    pub fn new(seed: u64) -> Self {
        Simulator {
            rng: StdRng::seed_from_u64(seed),
            next_id: 0,
        }
    }

    /// The next prediction, drawn from the drifted world when `drifted` is set.
    pub fn next(&mut self, drifted: bool) -> Simulated {
        let rng = &mut self.rng;
        self.next_id += 1;
        let id = format!("demo-{}", self.next_id);

        let amount: f64 =
            rng.sample(LogNormal::new(if drifted { 4.3 } else { 3.7 }, 1.0).expect("valid"));
        let age: f64 = rng.sample(Gamma::new(2.0, 400.0).expect("valid"));
        let tx: f64 = rng.sample(Poisson::new(if drifted { 5.5 } else { 3.0 }).expect("valid"));
        let distance: f64 =
            rng.sample(Exp::new(if drifted { 1.0 / 60.0 } else { 1.0 / 25.0 }).expect("valid"));
        let countries: &[(&str, f64)] = if drifted {
            &[
                ("DE", 0.25),
                ("FR", 0.18),
                ("IT", 0.14),
                ("ES", 0.14),
                ("NL", 0.09),
                ("PL", 0.05),
                ("BR", 0.15),
            ]
        } else {
            &[
                ("DE", 0.35),
                ("FR", 0.2),
                ("IT", 0.15),
                ("ES", 0.15),
                ("NL", 0.1),
                ("PL", 0.05),
            ]
        };
        let country = pick(rng, countries);
        let channels: &[(&str, f64)] = if drifted {
            &[("web", 0.3), ("mobile", 0.6), ("pos", 0.1)]
        } else {
            &[("web", 0.5), ("mobile", 0.4), ("pos", 0.1)]
        };
        let channel = pick(rng, channels);
        let distance_missing = rng.random_bool(if drifted { 0.08 } else { 0.01 });

        let risky_country = !matches!(country, "DE" | "FR" | "NL") as u8 as f64;
        let web = (channel == "web") as u8 as f64;
        let mobile = (channel == "mobile") as u8 as f64;
        let base = -4.0 + 1.4 * (amount / 40.0).ln() + 0.45 * (tx - 3.0) + 0.03 * (distance - 25.0)
            - 0.001 * (age - 800.0)
            + 1.3 * risky_country
            + 0.8 * web;
        // The model learned the world before the drift, with some noise of its own.
        let noise: f64 = rng.sample(Normal::new(0.0, 0.2).expect("valid"));
        let score = sigmoid(base + noise);
        // After the drift, fraud moves to mobile and away from large amounts.
        let truth = if drifted {
            base + 2.5 * mobile - 1.3 * (amount / 40.0).ln() - 1.0 * risky_country - 0.5
        } else {
            base
        };
        let label = rng.random_bool(sigmoid(truth)) as u8;

        let error = rng.random_bool(if drifted { 0.02 } else { 0.005 });
        let latency: f64 = rng.sample(
            LogNormal::new((if drifted { 14.0f64 } else { 8.0 }).ln(), 0.45).expect("valid"),
        );
        let mut event = json!({
            "id": id,
            "features": {
                "amount": (amount * 100.0).round() / 100.0,
                "account_age_days": age.round(),
                "transactions_24h": tx,
                "distance_km": if distance_missing { Value::Null } else { json!((distance * 10.0).round() / 10.0) },
                "country": country,
                "channel": channel,
            },
            "latency_ms": (latency * 100.0).round() / 100.0,
        });
        if error {
            event["error"] = json!(true);
            return Simulated { event, label: None };
        }
        event["score"] = json!((score * 1e6).round() / 1e6);
        // Most labels arrive within seconds, a few take a minute, and some never come.
        let label = (!rng.random_bool(0.03)).then(|| {
            let delay: f64 = rng.sample(Exp::new(1.0 / 5.0).expect("valid"));
            (Duration::from_secs_f64(delay.min(60.0)), label)
        });
        Simulated { event, label }
    }
}

/// Sends demo traffic until `opts.duration` passes (or forever). A refused or failed request is
/// logged and the traffic goes on, so nothing stops it early.
pub async fn run(opts: DemoOptions) {
    let client = reqwest::Client::new();
    let base = opts.url.trim_end_matches('/').to_string();
    let predictions_url = format!("{base}/v1/models/{}/predictions", opts.model);
    let labels_url = format!("{base}/v1/models/{}/labels", opts.model);
    let mut sim = Simulator::new(opts.seed);
    let start = tokio::time::Instant::now();
    let tick = Duration::from_millis(100);
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut carry = 0.0;
    let mut due: BinaryHeap<Reverse<(tokio::time::Instant, u64, u8)>> = BinaryHeap::new();
    let mut announced_drift = false;
    tracing::info!(url = %base, model = %opts.model, rate = opts.rate, drift_after = ?opts.drift_after, "demo traffic started");
    loop {
        interval.tick().await;
        let now = tokio::time::Instant::now();
        let elapsed = now - start;
        if opts.duration.is_some_and(|d| elapsed >= d) {
            return;
        }
        let drifted = elapsed >= opts.drift_after;
        if drifted && !announced_drift {
            tracing::info!("demo traffic: drift starts now");
            announced_drift = true;
        }
        carry += opts.rate * tick.as_secs_f64();
        let n = carry.floor() as usize;
        carry -= n as f64;
        let mut batch = Vec::with_capacity(n);
        for _ in 0..n {
            let s = sim.next(drifted);
            if let Some((delay, label)) = s.label {
                let id = s.event["id"]
                    .as_str()
                    .and_then(|i| i.strip_prefix("demo-"))
                    .and_then(|i| i.parse().ok());
                if let Some(id) = id {
                    due.push(Reverse((now + delay, id, label)));
                }
            }
            batch.push(s.event);
        }
        if !batch.is_empty() {
            post(&client, &predictions_url, &Value::Array(batch)).await;
        }
        let mut labels = Vec::new();
        while due.peek().is_some_and(|Reverse((t, _, _))| *t <= now) {
            let Reverse((_, id, label)) = due.pop().expect("peeked");
            labels.push(json!({"id": format!("demo-{id}"), "label": label}));
        }
        if !labels.is_empty() {
            post(&client, &labels_url, &Value::Array(labels)).await;
        }
    }
}

async fn post(client: &reqwest::Client, url: &str, body: &Value) {
    match client.post(url).json(body).send().await {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => tracing::warn!(status = %r.status(), url, "demo traffic: request rejected"),
        Err(e) => {
            tracing::warn!(error = %e, url, "demo traffic: modelwatch not reachable; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simulated_model_is_good_before_the_drift_and_worse_after() {
        let mut sim = Simulator::new(7);
        let auc = |sim: &mut Simulator, drifted: bool| {
            let mut pos = Vec::new();
            let mut neg = Vec::new();
            for _ in 0..20_000 {
                let s = sim.next(drifted);
                if let (Some(score), Some((_, label))) = (s.event["score"].as_f64(), s.label) {
                    if label == 1 {
                        pos.push(score)
                    } else {
                        neg.push(score)
                    }
                }
            }
            pos.sort_by(f64::total_cmp);
            neg.sort_by(f64::total_cmp);
            let u2 = crate::stats::metrics::mann_whitney_u2_sorted(&pos, &neg);
            crate::stats::metrics::roc_auc_from_u2(u2, pos.len() as u64, neg.len() as u64)
        };
        let before = auc(&mut sim, false);
        let after = auc(&mut sim, true);
        assert!(before > 0.85, "AUC before drift {before}");
        assert!(after < before - 0.1, "AUC after drift {after} vs {before}");
        eprintln!("demo AUC before drift {before:.3}, after {after:.3}");
    }

    #[test]
    fn the_same_seed_gives_the_same_traffic() {
        let a: Vec<Value> = {
            let mut s = Simulator::new(3);
            (0..50).map(|_| s.next(false).event).collect()
        };
        let b: Vec<Value> = {
            let mut s = Simulator::new(3);
            (0..50).map(|_| s.next(false).event).collect()
        };
        assert_eq!(a, b);
    }
}
