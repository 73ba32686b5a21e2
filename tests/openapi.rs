//! The OpenAPI document describes the real answers: every JSON body the server sends is checked against
//! the schema the document gives for its route and status, with a small JSON Schema checker that is
//! stricter than the standard one in one way: an object may carry only the keys its schema documents.

mod common;

use common::TestServer;
use serde_json::{Value, json};

const CONFIG: &str = r#"
[[model]]
name = "fraud"
task = "binary_classification"
[model.drift]
min_samples = 5
[[model.window]]
name = "last_50"
events = 50
[[model.window]]
name = "1h"
duration = "1h"
[[model.feature]]
name = "amount"
type = "numeric"
[[model.feature]]
name = "country"
type = "categorical"

[[model]]
name = "animals"
task = "multiclass_classification"
classes = ["cat", "dog", "bird"]
[model.drift]
min_samples = 5
[[model.feature]]
name = "weight"
type = "numeric"

[[model]]
name = "price"
task = "regression"
[model.drift]
min_samples = 5
[[model.feature]]
name = "rooms"
type = "numeric"
"#;

/// Follows a `$ref` into `components`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unexpected $ref {r}"));
            let target = &doc["components"]["schemas"][name];
            assert!(!target.is_null(), "{r} is not in the document");
            resolve(doc, target)
        }
        None => schema,
    }
}

fn type_matches(value: &Value, ty: &str) -> bool {
    match ty {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_u64() || value.is_i64(),
        other => panic!("unknown schema type {other}"),
    }
}

/// Checks `value` against `schema`; the error names the path of the first mismatch.
fn check(doc: &Value, value: &Value, schema: &Value, path: &str) -> Result<(), String> {
    let schema = resolve(doc, schema);
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            check(doc, value, s, path)?;
        }
    }
    if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
        let matching = one
            .iter()
            .filter(|s| check(doc, value, s, path).is_ok())
            .count();
        if matching != 1 {
            let mut shown = value.to_string();
            shown.truncate(200);
            return Err(format!(
                "{path}: {shown} matches {matching} of the oneOf schemas"
            ));
        }
    }
    if let Some(ty) = schema.get("type") {
        let ok = match ty {
            Value::String(t) => type_matches(value, t),
            Value::Array(ts) => ts.iter().any(|t| type_matches(value, t.as_str().unwrap())),
            _ => panic!("bad type {ty}"),
        };
        if !ok {
            return Err(format!("{path}: {value} is not of type {ty}"));
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return Err(format!("{path}: {value} is not one of {allowed:?}"));
    }
    if let Some(obj) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for key in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = key.as_str().unwrap();
            if !obj.contains_key(key) {
                return Err(format!("{path}: the required key {key:?} is missing"));
            }
        }
        for (key, v) in obj {
            let p = format!("{path}.{key}");
            match (
                properties.and_then(|ps| ps.get(key)),
                schema.get("additionalProperties"),
            ) {
                (Some(s), _) => check(doc, v, s, &p)?,
                (None, Some(Value::Bool(false))) => {
                    return Err(format!("{p} is not documented"));
                }
                (None, Some(extra)) if extra.is_object() => check(doc, v, extra, &p)?,
                // Keys of an object whose schema documents none belong to a combinator's branch
                // (allOf, oneOf), which checks them; a documented object must document them all.
                (None, _) if properties.is_some() => {
                    return Err(format!("{p} is not documented"));
                }
                (None, _) => {}
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, v) in array.iter().enumerate() {
            check(doc, v, items, &format!("{path}[{i}]"))?;
        }
    }
    Ok(())
}

/// The schema the document gives for a JSON answer of `method path` with `status`.
fn response_schema<'a>(doc: &'a Value, method: &str, path: &str, status: u16) -> &'a Value {
    let schema = &doc["paths"][path][method]["responses"][status.to_string()]["content"]["application/json"]
        ["schema"];
    assert!(
        !schema.is_null(),
        "{method} {path} documents no JSON body for {status}"
    );
    schema
}

/// Asserts that `body` is what the document says `method path` answers with `status`, and that the
/// schema is a described one, not a bare object.
fn assert_documented(doc: &Value, method: &str, path: &str, status: u16, body: &Value) {
    let schema = response_schema(doc, method, path, status);
    let described = resolve(doc, schema);
    assert!(
        described.get("properties").is_some() || described.get("oneOf").is_some(),
        "{method} {path} {status}: the schema describes nothing: {described}"
    );
    if let Err(e) = check(doc, body, schema, "$") {
        panic!("{method} {path} {status}: {e}\nbody: {body}");
    }
}

async fn put_csv(s: &TestServer, model: &str, csv: String) -> (u16, Value) {
    let resp = s
        .client
        .put(format!("{}/v1/models/{model}/reference", s.base))
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// Sends events to all three models, gives each a reference (which evaluates drift), and returns the
/// server with every kind of status document filled: metrics of all three tasks, NaN metrics (a
/// window without labels), drift reports with quality, and rejected-event counters.
async fn busy_server() -> TestServer {
    let s = TestServer::start(CONFIG).await;
    let fraud: Vec<Value> = (0..40)
        .map(|i| {
            let score = (i % 10) as f64 / 10.0;
            let country = ["DE", "FR", "US"][i % 3];
            let amount = if i % 7 == 0 {
                Value::Null
            } else {
                json!(i as f64 * 1.5)
            };
            json!({"id": format!("f{i}"), "features": {"amount": amount, "country": country}, "score": score})
        })
        .collect();
    let (st, _) = s
        .post_json("/v1/models/fraud/predictions", &Value::Array(fraud))
        .await;
    assert_eq!(st, 200);
    let labels: Vec<Value> = (0..30)
        .map(|i| json!({"id": format!("f{i}"), "label": (i % 3 == 0) as u8}))
        .collect();
    let (st, _) = s
        .post_json("/v1/models/fraud/labels", &Value::Array(labels))
        .await;
    assert_eq!(st, 200);
    // One rejected event, so a rejection counter shows.
    let (st, _) = s
        .post_json(
            "/v1/models/fraud/predictions",
            &json!([{"score": 2.0}, {"score": 0.5}]),
        )
        .await;
    assert_eq!(st, 200);

    let classes = ["cat", "dog", "bird"];
    let animals: Vec<Value> = (0..30)
        .map(|i| {
            json!({
                "features": {"weight": i as f64},
                "prediction": classes[i % 3],
                "label": classes[(i / 2) % 3],
            })
        })
        .collect();
    let (st, _) = s
        .post_json("/v1/models/animals/predictions", &Value::Array(animals))
        .await;
    assert_eq!(st, 200);

    let prices: Vec<Value> = (0..30)
        .map(|i| json!({"features": {"rooms": (i % 5) as f64}, "prediction": i as f64, "label": i as f64 + 1.0}))
        .collect();
    let (st, _) = s
        .post_json("/v1/models/price/predictions", &Value::Array(prices))
        .await;
    assert_eq!(st, 200);
    s
}

#[tokio::test]
async fn status_documents_match_their_typed_schemas() {
    let s = busy_server().await;
    let (_, doc) = s.get("/openapi.json").await;

    let references = [
        (
            "fraud",
            std::iter::once("amount,country\n".to_string())
                .chain((0..40).map(|i| format!("{},{}\n", i as f64, ["DE", "FR"][i % 2])))
                .collect::<String>(),
        ),
        (
            "animals",
            std::iter::once("weight\n".to_string())
                .chain((0..40).map(|i| format!("{}\n", i as f64 * 2.0)))
                .collect(),
        ),
        (
            "price",
            std::iter::once("rooms\n".to_string())
                .chain((0..40).map(|i| format!("{}\n", (i % 4) as f64)))
                .collect(),
        ),
    ];
    for (model, csv) in references {
        let (st, answer) = put_csv(&s, model, csv).await;
        assert_eq!(st, 200, "{answer}");
        assert_eq!(answer["rows"], 40);
        assert_documented(&doc, "put", "/v1/models/{model}/reference", 200, &answer);
    }

    let (st, list) = s.get("/v1/models").await;
    assert_eq!(st, 200);
    assert_documented(&doc, "get", "/v1/models", 200, &list);
    assert_eq!(list["models"].as_array().unwrap().len(), 3);

    for model in ["fraud", "animals", "price"] {
        let (st, status) = s.get(&format!("/v1/models/{model}")).await;
        assert_eq!(st, 200);
        // Each part of the document is really there, so the check below covers it.
        assert!(
            status["drift"]["windows"][0]["columns"][0]["quality"].is_object(),
            "{status}"
        );
        assert!(status["reference"]["ready"].as_bool().unwrap(), "{status}");
        assert_documented(&doc, "get", "/v1/models/{model}", 200, &status);
    }
    let (_, fraud) = s.get("/v1/models/fraud").await;
    assert_eq!(
        fraud["counters"]["rejected_events_total"]["invalid_score"],
        1
    );
    let columns = &fraud["drift"]["windows"][0]["columns"];
    let country = columns
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "country")
        .unwrap();
    assert!(
        country["quality"]["category_ratios"].is_object(),
        "{country}"
    );
    // Without a reference for predictions, their drift statistics are undefined: sent as null, and
    // documented as nullable numbers (checked above).
    let prediction = columns
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["role"] == "prediction")
        .unwrap();
    assert!(prediction["p_value"]["raw"].is_null(), "{prediction}");
    // Every quality number may be null (a window of missing values has no mean), and the schema must
    // say so: a real answer does not always show it.
    let mut nulls = fraud.clone();
    let amount = &mut nulls["drift"]["windows"][0]["columns"][0]["quality"];
    assert!(amount["mean"].is_number(), "{amount}");
    for key in ["mean", "out_of_range_ratio", "missing_ratio"] {
        amount[key] = Value::Null;
    }
    assert_documented(&doc, "get", "/v1/models/{model}", 200, &nulls);

    // The ingest answers: counts with errors by index, unmatched labels, and a 422 for one bad event.
    let (st, report) = s
        .post_json(
            "/v1/models/fraud/predictions",
            &json!([{"score": 0.5}, {"score": "high"}]),
        )
        .await;
    assert_eq!((st, &report["rejected"]), (200, &json!(1)), "{report}");
    assert_documented(&doc, "post", "/v1/models/{model}/predictions", 200, &report);
    let (st, report) = s
        .post_json(
            "/v1/models/fraud/labels",
            &json!([{"id": "nobody", "label": 1}]),
        )
        .await;
    assert_eq!(st, 200, "{report}");
    assert_documented(&doc, "post", "/v1/models/{model}/labels", 200, &report);
    let (st, error) = s
        .post_json("/v1/models/fraud/predictions", &json!({"score": 7}))
        .await;
    assert_eq!(st, 422, "{error}");
    assert_documented(&doc, "post", "/v1/models/{model}/predictions", 422, &error);

    let (st, health) = s.get("/healthz").await;
    assert_eq!(st, 200);
    assert_documented(&doc, "get", "/healthz", 200, &health);
    let (st, ready) = s.get("/readyz").await;
    assert_eq!(st, 200);
    assert_documented(&doc, "get", "/readyz", 200, &ready);
    let (st, error) = s.get("/v1/models/nope").await;
    assert_eq!(st, 404);
    assert_documented(&doc, "get", "/v1/models/{model}", 404, &error);
    s.stop().await;
}

/// The checker itself: it refuses what it should, so a passing check above means something.
#[test]
fn the_checker_refuses_undocumented_keys_wrong_types_and_missing_keys() {
    let doc = json!({"components": {"schemas": {"N": {"type": ["number", "null"]}}}});
    let schema = json!({
        "type": "object",
        "required": ["a"],
        "properties": {"a": {"$ref": "#/components/schemas/N"}, "b": {"type": "string"}},
    });
    assert!(check(&doc, &json!({"a": null}), &schema, "$").is_ok());
    assert!(check(&doc, &json!({"a": 1.5, "b": "x"}), &schema, "$").is_ok());
    assert!(check(&doc, &json!({"b": "x"}), &schema, "$").is_err());
    assert!(check(&doc, &json!({"a": "1"}), &schema, "$").is_err());
    assert!(check(&doc, &json!({"a": 1, "c": 2}), &schema, "$").is_err());
    let either = json!({"oneOf": [{"type": "integer"}, {"type": "number"}]});
    assert!(check(&doc, &json!(1.5), &either, "$").is_ok());
    assert!(check(&doc, &json!(1), &either, "$").is_err());
}
