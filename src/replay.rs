//! `modelwatch replay`: posts recorded events from a JSONL file, in order.
//!
//! Each line is one event. A line with only `id`, `label` and optionally `timestamp` is a label event;
//! any other line is a prediction event. Consecutive lines of the same kind are sent together as NDJSON
//! batches, so predictions and their later labels keep their relative order.

use std::time::Duration;

use serde_json::Value;

#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub file: std::path::PathBuf,
    pub url: String,
    pub model: String,
    pub batch: usize,
    /// Events per second; `None` sends as fast as the server answers.
    pub rate: Option<f64>,
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: line {line}: {source}")]
    Line {
        path: String,
        line: usize,
        source: LineError,
    },
    #[error("{url}: {source}")]
    Request { url: String, source: reqwest::Error },
    /// modelwatch refused a whole batch (a per-event rejection is counted, not an error).
    #[error("{url}: {status}: {answer}")]
    Refused {
        url: String,
        status: reqwest::StatusCode,
        answer: Value,
    },
}

/// Why a line of the file is not an event.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error("not a JSON object")]
    NotObject,
}

/// Totals of a replay.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplaySummary {
    pub predictions: u64,
    pub labels: u64,
    pub accepted: u64,
    pub rejected: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Prediction,
    Label,
}

fn kind_of(line: &str) -> Result<Kind, LineError> {
    let v: Value = serde_json::from_str(line)?;
    let obj = v.as_object().ok_or(LineError::NotObject)?;
    let label_only = obj.contains_key("label")
        && obj
            .keys()
            .all(|k| matches!(k.as_str(), "id" | "label" | "timestamp"));
    Ok(if label_only {
        Kind::Label
    } else {
        Kind::Prediction
    })
}

pub async fn run(opts: ReplayOptions) -> Result<ReplaySummary, ReplayError> {
    let path = || opts.file.display().to_string();
    let text = std::fs::read_to_string(&opts.file).map_err(|source| ReplayError::Read {
        path: path(),
        source,
    })?;
    let client = reqwest::Client::new();
    let base = opts.url.trim_end_matches('/');
    let mut summary = ReplaySummary::default();
    let mut batch: Vec<&str> = Vec::new();
    let mut batch_kind = Kind::Prediction;
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    for (i, (n, line)) in lines.iter().enumerate() {
        let kind = kind_of(line).map_err(|source| ReplayError::Line {
            path: path(),
            line: n + 1,
            source,
        })?;
        if !batch.is_empty() && (kind != batch_kind || batch.len() >= opts.batch) {
            send(&client, base, &opts, batch_kind, &batch, &mut summary).await?;
            batch.clear();
        }
        batch_kind = kind;
        batch.push(line);
        if i + 1 == lines.len() {
            send(&client, base, &opts, batch_kind, &batch, &mut summary).await?;
        }
    }
    Ok(summary)
}

async fn send(
    client: &reqwest::Client,
    base: &str,
    opts: &ReplayOptions,
    kind: Kind,
    lines: &[&str],
    summary: &mut ReplaySummary,
) -> Result<(), ReplayError> {
    let path = match kind {
        Kind::Prediction => "predictions",
        Kind::Label => "labels",
    };
    let url = format!("{base}/v1/models/{}/{path}", opts.model);
    let body = lines.join("\n");
    let started = tokio::time::Instant::now();
    let response = client
        .post(&url)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await;
    let response = match response {
        Ok(r) => r,
        Err(source) => return Err(ReplayError::Request { url, source }),
    };
    let status = response.status();
    let answer: Value = match response.json().await {
        Ok(a) => a,
        Err(source) => return Err(ReplayError::Request { url, source }),
    };
    if !status.is_success() {
        return Err(ReplayError::Refused {
            url,
            status,
            answer,
        });
    }
    match kind {
        Kind::Prediction => summary.predictions += lines.len() as u64,
        Kind::Label => summary.labels += lines.len() as u64,
    }
    summary.accepted += answer["accepted"].as_u64().unwrap_or(0);
    summary.rejected += answer["rejected"].as_u64().unwrap_or(0);
    if let Some(rate) = opts.rate {
        let target = Duration::from_secs_f64(lines.len() as f64 / rate);
        tokio::time::sleep_until(started + target).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_lines_are_told_from_prediction_lines() {
        let kind = |line| kind_of(line).ok();
        assert_eq!(kind(r#"{"id": "a", "label": 1}"#), Some(Kind::Label));
        assert_eq!(
            kind(r#"{"id": "a", "label": 1, "timestamp": 5}"#),
            Some(Kind::Label)
        );
        assert_eq!(
            kind(r#"{"id": "a", "score": 0.3, "label": 1}"#),
            Some(Kind::Prediction)
        );
        assert_eq!(kind(r#"{"score": 0.3}"#), Some(Kind::Prediction));
        assert!(matches!(kind_of("[1]"), Err(LineError::NotObject)));
        assert!(matches!(kind_of("{"), Err(LineError::NotJson(_))));
    }

    #[tokio::test]
    async fn a_bad_line_stops_the_replay_naming_the_file_and_line() {
        let dir = std::env::temp_dir().join(format!("mw-replay-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("events.jsonl");
        std::fs::write(&file, "{\"score\": 0.5}\n\n[1]\n").unwrap();
        let err = run(ReplayOptions {
            file: file.clone(),
            // Nothing is sent: the bad line is found before the first batch is full.
            url: "http://127.0.0.1:9".into(),
            model: "m".into(),
            batch: 10,
            rate: None,
        })
        .await
        .unwrap_err();
        assert!(matches!(err, ReplayError::Line { line: 3, .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("{}: line 3: not a JSON object", file.display())
        );
        let missing = dir.join("missing.jsonl");
        let err = run(ReplayOptions {
            file: missing.clone(),
            url: "http://127.0.0.1:9".into(),
            model: "m".into(),
            batch: 10,
            rate: None,
        })
        .await
        .unwrap_err();
        assert!(matches!(err, ReplayError::Read { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with(&format!("{}: ", missing.display()))
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
