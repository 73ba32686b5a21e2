//! Reference data: loading a CSV or JSONL file (at start or through `PUT .../reference`) into the same
//! column form the windows have.
//!
//! A bad file is rejected as a whole, naming the line and the column, so a reference is never silently
//! half-loaded.

use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::column_set::{CategoricalData, ColumnSet, NumericData};
use crate::config::Task;
use crate::event::{BodyFormat, LabelValue, Limits, Parser};
use crate::schema::{Interners, Schema, Slot};
use crate::value::Scalar;
use crate::window::columns::MISSING;

/// Where a model's reference came from; the `source` label of `modelwatch_reference_info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ReferenceSource {
    File,
    Api,
    Warmup,
    Moving,
}

impl ReferenceSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ReferenceSource::File => "file",
            ReferenceSource::Api => "api",
            ReferenceSource::Warmup => "warmup",
            ReferenceSource::Moving => "moving",
        }
    }
}

/// A frozen reference: the columns of the predictions and of the labels it holds.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FrozenReference {
    pub source: ReferenceSource,
    /// Hex SHA-256 of the file or body; empty for warmup references.
    pub sha256: String,
    pub features: Arc<ColumnSet>,
    /// `None` when the reference holds no labels.
    pub labels: Option<Arc<ColumnSet>>,
}

/// A problem in a reference file, with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceError {
    /// 1-based line of the file (the CSV header is line 1).
    pub line: Option<usize>,
    pub column: Option<String>,
    pub message: String,
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, &self.column) {
            (Some(l), Some(c)) => write!(f, "line {l}, column {c:?}: {}", self.message),
            (Some(l), None) => write!(f, "line {l}: {}", self.message),
            (None, Some(c)) => write!(f, "column {c:?}: {}", self.message),
            (None, None) => write!(f, "{}", self.message),
        }
    }
}

impl std::error::Error for ReferenceError {}

fn fail(line: Option<usize>, column: Option<&str>, message: impl Into<String>) -> ReferenceError {
    ReferenceError {
        line,
        column: column.map(str::to_string),
        message: message.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceFormat {
    Csv,
    Jsonl,
}

impl ReferenceFormat {
    pub fn from_path(path: &std::path::Path) -> Option<ReferenceFormat> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(ReferenceFormat::Csv),
            "jsonl" | "ndjson" => Some(ReferenceFormat::Jsonl),
            _ => None,
        }
    }

    pub fn from_content_type(content_type: Option<&str>) -> Option<ReferenceFormat> {
        let essence = content_type?.split(';').next()?.trim().to_ascii_lowercase();
        match essence.as_str() {
            "text/csv" | "application/csv" => Some(ReferenceFormat::Csv),
            _ => match BodyFormat::from_content_type(Some(&essence)) {
                Ok(BodyFormat::Ndjson) => Some(ReferenceFormat::Jsonl),
                _ => None,
            },
        }
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Accumulates rows into columns.
struct Builder {
    numeric: Vec<Vec<f64>>,
    numeric_missing: Vec<u64>,
    categorical: Vec<CategoricalData>,
    rows: usize,
}

impl Builder {
    fn new(numeric: usize, categorical: usize) -> Self {
        Builder {
            numeric: vec![Vec::new(); numeric],
            numeric_missing: vec![0; numeric],
            categorical: vec![CategoricalData::default(); categorical],
            rows: 0,
        }
    }

    fn push(&mut self, num: &[f64], cat: &[u32]) {
        self.rows += 1;
        for (i, &v) in num.iter().enumerate() {
            if v.is_nan() {
                self.numeric_missing[i] += 1;
            } else {
                self.numeric[i].push(v + 0.0);
            }
        }
        for (c, &id) in self.categorical.iter_mut().zip(cat) {
            if id == MISSING {
                c.missing += 1;
            } else {
                let i = id as usize;
                if i >= c.counts.len() {
                    c.counts.resize(i + 1, 0);
                }
                c.counts[i] += 1;
            }
        }
    }

    fn finish(self) -> ColumnSet {
        ColumnSet {
            rows: self.rows,
            numeric: self
                .numeric
                .into_iter()
                .zip(self.numeric_missing)
                .map(|(mut v, missing)| {
                    v.sort_unstable_by(f64::total_cmp);
                    NumericData::new(v, missing)
                })
                .collect(),
            categorical: self.categorical,
        }
    }
}

/// `parse_limited` with the default `max_string_bytes`.
pub fn parse(
    bytes: &[u8],
    format: ReferenceFormat,
    schema: &Schema,
    interners: &Interners,
    max_rows: usize,
    source: ReferenceSource,
) -> Result<FrozenReference, ReferenceError> {
    let max_string_bytes = Limits::default().max_string_bytes;
    parse_limited(
        bytes,
        format,
        schema,
        interners,
        max_rows,
        max_string_bytes,
        source,
    )
}

/// Parses a reference file or body against a model's schema. A cell longer than `max_string_bytes`
/// rejects the whole reference, as it would reject an event. Categorical values are interned into a
/// staging copy of the model's interners and brought into the model's only once the whole reference
/// is valid, so a rejected reference leaves no trace; the reference's category ids are then mapped to
/// the model's, so reference and window category ids agree.
pub fn parse_limited(
    bytes: &[u8],
    format: ReferenceFormat,
    schema: &Schema,
    interners: &Interners,
    max_rows: usize,
    max_string_bytes: usize,
    source: ReferenceSource,
) -> Result<FrozenReference, ReferenceError> {
    let staged = interners.staging();
    let (mut features, labels) = match format {
        ReferenceFormat::Csv => parse_csv(bytes, schema, &staged, max_rows, max_string_bytes)?,
        ReferenceFormat::Jsonl => parse_jsonl(bytes, schema, &staged, max_rows, max_string_bytes)?,
    };
    if features.rows == 0 {
        return Err(fail(None, None, "the reference holds no rows"));
    }
    let ids = interners.commit(&staged);
    for (column, ids) in features.categorical.iter_mut().zip(&ids) {
        let mut counts = Vec::with_capacity(column.counts.len());
        for (staged_id, &n) in column.counts.iter().enumerate() {
            let id = ids[staged_id] as usize;
            if id >= counts.len() {
                counts.resize(id + 1, 0);
            }
            counts[id] += n;
        }
        column.counts = counts;
    }
    Ok(FrozenReference {
        source,
        sha256: sha256_hex(bytes),
        features: Arc::new(features),
        labels: (labels.rows > 0).then(|| Arc::new(labels)),
    })
}

fn label_row(label: LabelValue) -> ([f64; 1], [u32; 1]) {
    match label {
        LabelValue::Binary(b) => ([f64::NAN], [b as u32]),
        LabelValue::Class(c) => ([f64::NAN], [c]),
        LabelValue::Number(v) => ([v], [MISSING]),
    }
}

fn parse_jsonl(
    bytes: &[u8],
    schema: &Schema,
    interners: &Interners,
    max_rows: usize,
    max_string_bytes: usize,
) -> Result<(ColumnSet, ColumnSet), ReferenceError> {
    let parser = Parser {
        schema,
        interners,
        limits: Limits {
            max_events_per_request: max_rows,
            max_string_bytes,
            ..Limits::default()
        },
        now_ns: 0,
        latest_ts_ns: i64::MAX,
    };
    let batch = parser
        .predictions(bytes, BodyFormat::Ndjson)
        .map_err(|e| match e {
            crate::error::Error::TooManyEvents(_) => {
                fail(None, None, format!("more than {max_rows} rows"))
            }
            other => fail(None, None, other.public_message()),
        })?;
    if let Some(e) = batch.errors.iter().min_by_key(|e| e.index) {
        return Err(fail(
            Some(e.index + 1),
            None,
            format!("{}: {}", e.code, e.message),
        ));
    }
    let layout = schema.layout;
    let label_layout = schema.label_layout;
    let mut features = Builder::new(layout.numeric, layout.categorical);
    let mut labels = Builder::new(label_layout.numeric, label_layout.categorical);
    let mut seen = vec![false; schema.slots.len()];
    for (i, event) in batch.events.iter().enumerate() {
        for &(feature, kind) in batch.violations_of(event) {
            if let (
                Some(f),
                crate::schema::Violation::TypeMismatch | crate::schema::Violation::NonFinite,
            ) = (feature, kind)
            {
                let name = feature_name(schema, f as usize);
                return Err(fail(
                    Some(event.index + 1),
                    Some(&name),
                    format!(
                        "{}: the value does not fit the feature's type",
                        kind.as_str()
                    ),
                ));
            }
        }
        let (num, cat) = batch.row(i, layout.numeric, layout.categorical);
        for (f, slot) in schema.slots.iter().enumerate() {
            let present = match *slot {
                Slot::Numeric(c) => !num[c].is_nan(),
                Slot::Categorical(c) => cat[c] != MISSING,
            };
            seen[f] |= present;
        }
        features.push(num, cat);
        if let Some(label) = event.label {
            let (n, c) = label_row(label);
            labels.push(&n[..label_layout.numeric], &c[..label_layout.categorical]);
        }
    }
    if let Some(f) = seen.iter().position(|s| !s)
        && !batch.events.is_empty()
    {
        return Err(fail(
            None,
            Some(&feature_name(schema, f)),
            "the feature has a value in no event of the reference",
        ));
    }
    Ok((features.finish(), labels.finish()))
}

fn feature_name(schema: &Schema, feature: usize) -> String {
    schema
        .feature_names()
        .get(feature)
        .cloned()
        .unwrap_or_else(|| format!("#{feature}"))
}

/// Reads a CSV cell as a JSON client would send it: a number literal as a number (so `1.0` is the class
/// `1`), anything else as a string; an empty cell is missing.
fn csv_scalar(cell: &str) -> Option<Scalar<'_>> {
    let cell = cell.trim();
    if cell.is_empty() {
        return None;
    }
    let looks_numeric = cell
        .bytes()
        .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
        && cell.bytes().any(|b| b.is_ascii_digit())
        && !cell.starts_with('+')
        && !(cell.len() > 1 && cell.starts_with('0') && cell.as_bytes()[1].is_ascii_digit());
    if looks_numeric && let Ok(v) = cell.parse::<f64>() {
        return Some(Scalar::Number(v, cell));
    }
    Some(Scalar::Str(cell.into()))
}

fn parse_csv(
    bytes: &[u8],
    schema: &Schema,
    interners: &Interners,
    max_rows: usize,
    max_string_bytes: usize,
) -> Result<(ColumnSet, ColumnSet), ReferenceError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| fail(Some(1), None, format!("cannot read the header row: {e}")))?
        .clone();
    let position = |name: &str| headers.iter().position(|h| h.trim() == name);
    let names = schema.feature_names();
    let mut feature_columns = Vec::with_capacity(names.len());
    for name in names {
        match position(name) {
            Some(i) => feature_columns.push(i),
            None => {
                return Err(fail(
                    Some(1),
                    Some(name),
                    "missing column: every configured feature needs one",
                ));
            }
        }
    }
    let prediction_col = position("prediction");
    let score_col = position("score");
    let label_col = position("label");

    let layout = schema.layout;
    let label_layout = schema.label_layout;
    let mut features = Builder::new(layout.numeric, layout.categorical);
    let mut labels = Builder::new(label_layout.numeric, label_layout.categorical);
    let mut num = vec![f64::NAN; layout.numeric];
    let mut cat = vec![MISSING; layout.categorical];
    let mut record = csv::StringRecord::new();
    loop {
        let more = reader.read_record(&mut record).map_err(|e| {
            let line = e.position().map(|p| p.line() as usize);
            fail(line, None, format!("malformed CSV: {e}"))
        })?;
        if !more {
            break;
        }
        let line = record.position().map_or(0, |p| p.line() as usize);
        if features.rows >= max_rows {
            return Err(fail(Some(line), None, format!("more than {max_rows} rows")));
        }
        num.fill(f64::NAN);
        cat.fill(MISSING);
        // Every cell counts, not only the ones read: a reference obeys the limits events obey.
        if let Some((i, _)) = record
            .iter()
            .enumerate()
            .find(|(_, cell)| cell.trim().len() > max_string_bytes)
        {
            let column = headers.get(i).unwrap_or("").trim();
            return Err(fail(
                Some(line),
                Some(column),
                format!("a cell is longer than max_string_bytes ({max_string_bytes} bytes)"),
            ));
        }
        for (f, &col) in feature_columns.iter().enumerate() {
            let cell = record.get(col).unwrap_or("");
            let Some(scalar) = csv_scalar(cell) else {
                continue;
            };
            let name = &names[f];
            match schema.slots[f] {
                Slot::Numeric(c) => {
                    num[c] = match scalar {
                        Scalar::Number(v, _) if v.is_finite() => v,
                        Scalar::Str(s)
                            if s.eq_ignore_ascii_case("nan") || s.eq_ignore_ascii_case("na") =>
                        {
                            f64::NAN
                        }
                        _ => {
                            return Err(fail(
                                Some(line),
                                Some(name),
                                format!("invalid number {:?}", cell.trim()),
                            ));
                        }
                    }
                }
                Slot::Categorical(c) => {
                    let canonical = scalar.canonical_class().ok_or_else(|| {
                        fail(
                            Some(line),
                            Some(name),
                            format!("invalid value {:?}", cell.trim()),
                        )
                    })?;
                    cat[c] = interners.intern(c, &canonical);
                }
            }
        }
        let class_of = |col: usize, what: &str| -> Result<Option<u32>, ReferenceError> {
            let Some(scalar) = csv_scalar(record.get(col).unwrap_or("")) else {
                return Ok(None);
            };
            let canonical = scalar.canonical_class().unwrap_or_default();
            schema.class(&canonical).map(Some).ok_or_else(|| {
                fail(
                    Some(line),
                    Some(what),
                    format!(
                        "{canonical:?} is not one of the model's classes {:?}",
                        schema.classes
                    ),
                )
            })
        };
        let number_of = |col: usize, what: &str| -> Result<Option<f64>, ReferenceError> {
            match csv_scalar(record.get(col).unwrap_or("")) {
                None => Ok(None),
                Some(Scalar::Number(v, _)) if v.is_finite() => Ok(Some(v)),
                Some(_) => Err(fail(
                    Some(line),
                    Some(what),
                    format!("invalid number {:?}", record.get(col).unwrap_or("").trim()),
                )),
            }
        };
        // The prediction columns, as at ingest.
        match schema.task {
            Task::BinaryClassification => {
                let score = match score_col {
                    Some(c) => number_of(c, "score")?,
                    None => None,
                };
                if let Some(s) = score
                    && !(0.0..=1.0).contains(&s)
                {
                    return Err(fail(
                        Some(line),
                        Some("score"),
                        format!("score {s} is not in [0, 1]"),
                    ));
                }
                let class = match prediction_col {
                    Some(c) => class_of(c, "prediction")?,
                    None => None,
                }
                .or_else(|| score.map(|s| (s >= schema.threshold) as u32));
                if let (Some(c), Some(s)) = (schema.prediction_numeric, score) {
                    num[c] = s;
                }
                if let (Some(c), Some(class)) = (schema.prediction_categorical, class) {
                    cat[c] = class;
                }
            }
            Task::MulticlassClassification => {
                if let (Some(col), Some(c)) = (prediction_col, schema.prediction_categorical)
                    && let Some(class) = class_of(col, "prediction")?
                {
                    cat[c] = class;
                }
            }
            Task::Regression => {
                if let (Some(col), Some(c)) = (prediction_col, schema.prediction_numeric)
                    && let Some(v) = number_of(col, "prediction")?
                {
                    num[c] = v;
                }
            }
        }
        features.push(&num, &cat);
        if let Some(col) = label_col {
            let label = match schema.task {
                Task::BinaryClassification => {
                    class_of(col, "label")?.map(|c| LabelValue::Binary(c == 1))
                }
                Task::MulticlassClassification => class_of(col, "label")?.map(LabelValue::Class),
                Task::Regression => number_of(col, "label")?.map(LabelValue::Number),
            };
            if let Some(label) = label {
                let (n, c) = label_row(label);
                labels.push(&n[..label_layout.numeric], &c[..label_layout.categorical]);
            }
        }
    }
    Ok((features.finish(), labels.finish()))
}

/// Why a configured reference file could not be loaded; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadReferenceError {
    #[error("{path}: a reference file must end in .csv or .jsonl")]
    UnknownFormat { path: String },
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Invalid {
        path: String,
        source: ReferenceError,
    },
}

/// Loads the file reference of a model, if it has one. The error names the file, line and column.
pub fn load_configured(
    config: &crate::config::Config,
    model: &crate::config::ModelConfig,
    schema: &Schema,
    interners: &Interners,
) -> Result<Option<FrozenReference>, LoadReferenceError> {
    let Some(crate::config::ReferenceConfig::Path(path)) = &model.reference else {
        return Ok(None);
    };
    let resolved = config.resolve(path);
    let shown = || resolved.display().to_string();
    let format = ReferenceFormat::from_path(&resolved)
        .ok_or_else(|| LoadReferenceError::UnknownFormat { path: shown() })?;
    let bytes = std::fs::read(&resolved).map_err(|source| LoadReferenceError::Read {
        path: shown(),
        source,
    })?;
    parse_limited(
        &bytes,
        format,
        schema,
        interners,
        model.drift.max_reference_rows,
        config.server.limits.max_string_bytes,
        ReferenceSource::File,
    )
    .map(Some)
    .map_err(|source| LoadReferenceError::Invalid {
        path: shown(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn schema() -> (Schema, Interners) {
        let c = Config::parse(
            r#"
[[model]]
name = "m"
task = "binary_classification"
[[model.feature]]
name = "amount"
type = "numeric"
[[model.feature]]
name = "country"
type = "categorical"
"#,
        )
        .unwrap();
        let m = &c.models[0];
        (Schema::new(m), Interners::new(1, 100))
    }

    #[test]
    fn csv_with_scores_and_labels() {
        let (s, i) = schema();
        let csv = "amount,country,score,label,extra\n3.5,DE,0.9,1,x\n,FR,0.2,0,y\n1.0,,0.7,,z\n";
        let r = parse(
            csv.as_bytes(),
            ReferenceFormat::Csv,
            &s,
            &i,
            100,
            ReferenceSource::File,
        )
        .unwrap();
        assert_eq!(r.features.rows, 3);
        assert_eq!(r.features.numeric[0].sorted, vec![1.0, 3.5]);
        assert_eq!(r.features.numeric[0].missing, 1);
        // The score is the numeric prediction column; the class is derived from it.
        assert_eq!(r.features.numeric[1].sorted, vec![0.2, 0.7, 0.9]);
        assert_eq!(r.features.categorical[1].counts, vec![1, 2]);
        assert_eq!(r.features.categorical[0].missing, 1);
        let labels = r.labels.unwrap();
        assert_eq!(labels.rows, 2);
        assert_eq!(labels.categorical[0].counts, vec![1, 1]);
        assert_eq!(r.sha256, sha256_hex(csv.as_bytes()));
        assert_eq!(r.sha256.len(), 64);
    }

    #[test]
    fn csv_errors_name_line_and_column() {
        let (s, i) = schema();
        let e = parse(
            b"amount,score\n1,0.5\n",
            ReferenceFormat::Csv,
            &s,
            &i,
            100,
            ReferenceSource::Api,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 1, column \"country\": missing column: every configured feature needs one"
        );
        let e = parse(
            b"amount,country\n1,DE\n2,FR\nabc,DE\n",
            ReferenceFormat::Csv,
            &s,
            &i,
            100,
            ReferenceSource::Api,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 4, column \"amount\": invalid number \"abc\""
        );
        let e = parse(
            b"amount,country,label\n1,DE,7\n",
            ReferenceFormat::Csv,
            &s,
            &i,
            100,
            ReferenceSource::Api,
        )
        .unwrap_err();
        assert_eq!((e.line, e.column.as_deref()), (Some(2), Some("label")));
        let e = parse(
            b"amount,country\n1,DE,9\n",
            ReferenceFormat::Csv,
            &s,
            &i,
            100,
            ReferenceSource::Api,
        )
        .unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = parse(
            b"amount,country\n1,DE\n2,DE\n3,DE\n",
            ReferenceFormat::Csv,
            &s,
            &i,
            2,
            ReferenceSource::Api,
        )
        .unwrap_err();
        assert!(e.message.contains("more than 2 rows"));
        let e = parse(
            b"amount,country\n",
            ReferenceFormat::Csv,
            &s,
            &i,
            2,
            ReferenceSource::Api,
        )
        .unwrap_err();
        assert!(e.message.contains("no rows"));
    }

    #[test]
    fn jsonl_reference() {
        let (s, i) = schema();
        let body = "{\"features\": {\"amount\": 2, \"country\": \"DE\"}, \"score\": 0.4, \"label\": 0}\n\
                    {\"features\": {\"amount\": 1, \"country\": \"IT\"}, \"prediction\": 1}\n";
        let r = parse(
            body.as_bytes(),
            ReferenceFormat::Jsonl,
            &s,
            &i,
            100,
            ReferenceSource::File,
        )
        .unwrap();
        assert_eq!(r.features.rows, 2);
        assert_eq!(r.features.numeric[0].sorted, vec![1.0, 2.0]);
        assert_eq!(r.labels.unwrap().rows, 1);
        let e = parse(
            b"{\"features\": {\"amount\": 1, \"country\": \"x\"}, \"score\": 0.1}\n{\"features\": {\"amount\": \"a\"}, \"score\": 0.1}\n",
            ReferenceFormat::Jsonl,
            &s,
            &i,
            100,
            ReferenceSource::File,
        )
        .unwrap_err();
        assert_eq!((e.line, e.column.as_deref()), (Some(2), Some("amount")));
        let e = parse(
            b"{\"score\": 2}\n",
            ReferenceFormat::Jsonl,
            &s,
            &i,
            100,
            ReferenceSource::File,
        )
        .unwrap_err();
        assert_eq!(e.line, Some(1));
        assert!(e.message.starts_with("invalid_score"));
    }

    #[test]
    fn csv_cells_canonicalise_like_json() {
        assert_eq!(csv_scalar("1.0").unwrap().canonical_class().unwrap(), "1");
        assert_eq!(csv_scalar("007").unwrap().canonical_class().unwrap(), "007");
        assert_eq!(csv_scalar(" DE ").unwrap().canonical_class().unwrap(), "DE");
        assert!(csv_scalar("  ").is_none());
    }
}
