//! Body framing: the Content-Type's body format, splitting a JSON object, JSON array or NDJSON body
//! into per-event texts, the per-request event limit, and the whole-request failures.

use serde_json::value::RawValue;

use crate::config::Limits;
use crate::error::{Error, EventCode, EventError};

use super::err;

/// How the body is framed, from the Content-Type header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// One event object or an array of events.
    Json,
    /// One event per line.
    Ndjson,
}

impl BodyFormat {
    /// Accepts `application/json` (also when the header is absent) and the NDJSON / JSON Lines types.
    pub fn from_content_type(content_type: Option<&str>) -> Result<BodyFormat, Error> {
        let Some(ct) = content_type else {
            return Ok(BodyFormat::Json);
        };
        // Media types are case-insensitive; compare without allocating a lowercase copy.
        let essence = ct.split(';').next().unwrap_or("").trim();
        let is = |name: &str| essence.eq_ignore_ascii_case(name);
        if is("application/json") || is("text/json") {
            Ok(BodyFormat::Json)
        } else if is("application/x-ndjson")
            || is("application/ndjson")
            || is("application/jsonl")
            || is("application/x-jsonlines")
            || is("application/jsonlines")
        {
            Ok(BodyFormat::Ndjson)
        } else {
            Err(Error::UnsupportedMediaType(format!(
                "unsupported content type {:?}; send application/json or application/x-ndjson",
                essence.to_ascii_lowercase()
            )))
        }
    }
}

/// One event's text, with its index in the request.
pub(super) struct RawEvent<'a> {
    pub(super) index: usize,
    /// The event's text; `None` when it is not valid UTF-8 (JSON must be). Parsing from `&str` lets
    /// serde_json borrow raw values without checking their UTF-8 again for each one.
    pub(super) text: Option<&'a str>,
}

impl<'a> RawEvent<'a> {
    pub(super) fn text(&self) -> Result<&'a str, EventError> {
        self.text.ok_or_else(|| {
            err(
                self.index,
                EventCode::InvalidJson,
                "the event is not valid UTF-8",
            )
        })
    }
}

/// Splits a body into events. Returns the events and whether the body was a single object (whose
/// invalid event is a 422 rather than a line in a 200 response).
pub(super) fn split_body<'a>(
    body: &'a [u8],
    format: BodyFormat,
    limits: &Limits,
) -> Result<(Vec<RawEvent<'a>>, bool), Error> {
    match format {
        BodyFormat::Json => {
            let first = body.iter().find(|b| !b.is_ascii_whitespace());
            match first {
                Some(b'{') => Ok((
                    vec![RawEvent {
                        index: 0,
                        text: std::str::from_utf8(body).ok(),
                    }],
                    true,
                )),
                Some(b'[') => {
                    let items: Vec<&RawValue> = serde_json::from_slice(body).map_err(|e| {
                        Error::InvalidJson(format!("malformed JSON array: {}", describe(&e)))
                    })?;
                    check_count(items.len(), limits)?;
                    Ok((
                        items
                            .into_iter()
                            .enumerate()
                            .map(|(index, raw)| RawEvent {
                                index,
                                text: Some(raw.get()),
                            })
                            .collect(),
                        false,
                    ))
                }
                Some(_) => Err(Error::InvalidJson(
                    "expected a JSON object (one event) or an array of events".to_string(),
                )),
                None => Err(Error::InvalidJson("empty body".to_string())),
            }
        }
        BodyFormat::Ndjson => {
            let lines = body.iter().filter(|&&b| b == b'\n').count() + 1;
            let mut events = Vec::with_capacity(lines.min(limits.max_events_per_request + 1));
            // Validate the whole body once and split the text; a body with a broken line is split as
            // bytes and checked line by line, so only the broken lines fail.
            match std::str::from_utf8(body) {
                Ok(text) => {
                    for (index, line) in text.split('\n').enumerate() {
                        let trimmed = line.trim_matches(|c: char| c.is_ascii_whitespace());
                        if trimmed.is_empty() {
                            continue;
                        }
                        events.push(RawEvent {
                            index,
                            text: Some(trimmed),
                        });
                        check_count(events.len(), limits)?;
                    }
                }
                Err(_) => {
                    for (index, line) in body.split(|&b| b == b'\n').enumerate() {
                        let trimmed = line.trim_ascii();
                        if trimmed.is_empty() {
                            continue;
                        }
                        events.push(RawEvent {
                            index,
                            text: std::str::from_utf8(trimmed).ok(),
                        });
                        check_count(events.len(), limits)?;
                    }
                }
            }
            Ok((events, false))
        }
    }
}

fn check_count(n: usize, limits: &Limits) -> Result<(), Error> {
    if n > limits.max_events_per_request {
        return Err(Error::TooManyEvents(format!(
            "more than {} events in one request; split the batch",
            limits.max_events_per_request
        )));
    }
    Ok(())
}

/// A serde error without the parts that echo internal type names.
pub(super) fn describe(e: &serde_json::Error) -> String {
    match e.classify() {
        serde_json::error::Category::Eof => format!(
            "unexpected end of input at line {} column {}",
            e.line(),
            e.column()
        ),
        _ => {
            let msg = e.to_string();
            msg.split(" at line ").next().unwrap_or(&msg).to_string()
                + &format!(" at line {} column {}", e.line(), e.column())
        }
    }
}

/// Whole-request failure when the body was a single object, or NDJSON whose every line is broken JSON.
pub(super) fn whole_request_failure(
    single: bool,
    raws: usize,
    errors: &[EventError],
) -> Option<Error> {
    if single {
        if let Some(e) = errors.first() {
            if e.code == EventCode::InvalidJson {
                return Some(Error::InvalidJson(e.message.clone()));
            }
            return Some(Error::InvalidEvent(e.clone()));
        }
    } else if raws > 0
        && errors.len() == raws
        && errors.iter().all(|e| e.code == EventCode::InvalidJson)
    {
        return Some(Error::InvalidJson(format!(
            "no line of the body is valid JSON (first: {})",
            errors[0].message
        )));
    }
    None
}
