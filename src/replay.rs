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

fn kind_of(line: &str) -> Result<Kind, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
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

pub async fn run(opts: ReplayOptions) -> Result<ReplaySummary, String> {
    let text =
        std::fs::read_to_string(&opts.file).map_err(|e| format!("{}: {e}", opts.file.display()))?;
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
        let kind =
            kind_of(line).map_err(|e| format!("{}: line {}: {e}", opts.file.display(), n + 1))?;
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
) -> Result<(), String> {
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
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    let answer: Value = response.json().await.map_err(|e| format!("{url}: {e}"))?;
    if !status.is_success() {
        return Err(format!("{url}: {status}: {answer}"));
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
        assert_eq!(kind_of(r#"{"id": "a", "label": 1}"#), Ok(Kind::Label));
        assert_eq!(
            kind_of(r#"{"id": "a", "label": 1, "timestamp": 5}"#),
            Ok(Kind::Label)
        );
        assert_eq!(
            kind_of(r#"{"id": "a", "score": 0.3, "label": 1}"#),
            Ok(Kind::Prediction)
        );
        assert_eq!(kind_of(r#"{"score": 0.3}"#), Ok(Kind::Prediction));
        assert!(kind_of("[1]").is_err());
    }
}
