//! Helpers shared by the integration tests: a real server on 127.0.0.1:0, an HTTP client, and a parser
//! for the Prometheus text format.

#![allow(dead_code)]

use std::collections::BTreeMap;

use modelwatch::clock::Clock;
use modelwatch::config::Config;
use modelwatch::server::Server;
use serde_json::Value;

pub struct TestServer {
    pub server: Server,
    pub base: String,
    pub client: reqwest::Client,
}

impl TestServer {
    pub async fn start(config: &str) -> TestServer {
        let config = Config::parse(config).unwrap_or_else(|e| panic!("test config invalid: {e:?}"));
        TestServer::start_with(config, Clock::new()).await
    }

    pub async fn start_with(config: Config, clock: Clock) -> TestServer {
        let server = Server::start(config, "127.0.0.1:0".parse().unwrap(), clock)
            .await
            .expect("server starts");
        let base = format!("http://{}", server.addr);
        TestServer {
            server,
            base,
            client: reqwest::Client::new(),
        }
    }

    pub async fn post(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<Vec<u8>>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .post(format!("{}{}", self.base, path))
            .body(body.into());
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body read");
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post(
            path,
            Some("application/json"),
            serde_json::to_vec(body).unwrap(),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .client
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .expect("request sent");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body read");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn scrape(&self) -> Scrape {
        let resp = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("scrape");
        assert_eq!(resp.status().as_u16(), 200);
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(
            ct.starts_with("text/plain; version=0.0.4"),
            "content type {ct}"
        );
        Scrape::parse(&resp.text().await.unwrap())
    }

    pub async fn stop(self) {
        self.server.stop().await.expect("clean shutdown");
    }
}

/// A sample's labels, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// One scrape: samples by metric name and sorted label set.
#[derive(Debug, Default)]
pub struct Scrape {
    pub samples: BTreeMap<String, Vec<(Labels, f64)>>,
    pub types: BTreeMap<String, String>,
}

impl Scrape {
    pub fn parse(text: &str) -> Scrape {
        let mut s = Scrape::default();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split_whitespace();
                let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
                s.types.insert(name.to_string(), kind.to_string());
                continue;
            }
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (name, labels, value) = parse_sample(line);
            let same = s.samples.entry(name.clone()).or_default();
            // Every scrape in the tests checks this invariant: a series appears once.
            assert!(
                !same.iter().any(|(l, _)| *l == labels),
                "duplicate series {name}{labels:?} in the exposition"
            );
            same.push((labels, value));
        }
        s
    }

    /// The value of the one sample of `name` whose labels include all of `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let matches: Vec<f64> = self
            .samples
            .get(name)?
            .iter()
            .filter(|(l, _)| {
                labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, v)| *v)
            .collect();
        assert!(
            matches.len() <= 1,
            "{name} {labels:?} matches {} samples",
            matches.len()
        );
        matches.first().copied()
    }

    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels)
            .unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
    }

    pub fn series_count(&self) -> usize {
        self.samples.values().map(Vec::len).sum()
    }
}

fn parse_sample(line: &str) -> (String, Labels, f64) {
    let mut labels = BTreeMap::new();
    let (name, rest) = match line.find('{') {
        Some(i) => {
            let end = line.rfind('}').expect("closing brace");
            let body = &line[i + 1..end];
            let mut chars = body.chars().peekable();
            while chars.peek().is_some() {
                let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
                assert_eq!(chars.next(), Some('"'));
                let mut value = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => match chars.next() {
                            Some('n') => value.push('\n'),
                            Some(other) => value.push(other),
                            None => break,
                        },
                        '"' => break,
                        c => value.push(c),
                    }
                }
                labels.insert(key.trim_start_matches(',').to_string(), value);
                if chars.peek() == Some(&',') {
                    chars.next();
                }
            }
            (line[..i].to_string(), line[end + 1..].trim())
        }
        None => {
            let mut parts = line.splitn(2, ' ');
            (
                parts.next().unwrap().to_string(),
                parts.next().unwrap().trim(),
            )
        }
    };
    let value = match rest.split_whitespace().next().unwrap() {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}")),
    };
    (name, labels, value)
}

/// Relative comparison that treats NaN as equal to NaN and null JSON as NaN.
pub fn assert_close(actual: f64, expected: f64, rel: f64, what: &str) {
    if expected.is_nan() {
        assert!(actual.is_nan(), "{what}: expected NaN, got {actual}");
        return;
    }
    if expected.is_infinite() {
        assert_eq!(actual, expected, "{what}");
        return;
    }
    let tol = rel * expected.abs().max(1e-300);
    assert!(
        (actual - expected).abs() <= tol,
        "{what}: expected {expected:e}, got {actual:e} (rel err {:e})",
        ((actual - expected) / expected).abs()
    );
}

pub fn json_f64(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}
