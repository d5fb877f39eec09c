//! Request bodies: read within a size limit and a deadline, then parsed by
//! one mechanism into typed requests (serde, refusing unknown and repeated
//! keys), and hashed in a canonical form for idempotency.

use actix_web::web;
use futures_util::StreamExt;
use serde::Serialize;
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value as Json};
use sha2::{Digest, Sha256};
use std::fmt;

use crate::web::error::ApiError;

/// Reads the body: at most [`crate::web::MAX_BODY`] bytes, arriving at
/// least at the minimum rate (a client that trickles its body is cut off
/// after a few seconds instead of holding a connection), and all of it
/// within `limits.body`.
pub async fn read(
    mut payload: web::Payload,
    limits: &crate::web::Limits,
) -> Result<web::Bytes, ApiError> {
    let started = tokio::time::Instant::now();
    let mut body = web::BytesMut::new();
    loop {
        let due = started + limits.body_deadline(body.len() as u64);
        let chunk = match tokio::time::timeout_at(due, payload.next()).await {
            Err(_) => return Err(ApiError::Timeout),
            Ok(None) => return Ok(body.freeze()),
            Ok(Some(chunk)) => chunk,
        };
        let chunk = chunk.map_err(|_| {
            ApiError::BadRequest("bad_body", "the request body could not be read".into())
        })?;
        if body.len() + chunk.len() > crate::web::MAX_BODY {
            return Err(ApiError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
}

/// Parses a JSON body into `T`. `T` refuses unknown keys
/// (`deny_unknown_fields`) and serde refuses a key given twice, so
/// `{"patient": "B", "patient": "D"}` is an error, not D.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::BadRequest("bad_json", format!("the request body is not valid: {e}"))
    })
}

/// `answers`: item ids to answers, each id at most once; `null` or absent
/// is no answers.
pub fn answers<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Json>, D::Error> {
    struct Answers;
    impl<'de> Visitor<'de> for Answers {
        type Value = Map<String, Json>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object of item ids and answers")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Map::new())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
            let mut m = Map::new();
            while let Some(k) = a.next_key::<String>()? {
                let v: Json = a.next_value()?;
                if m.contains_key(&k) {
                    return Err(de::Error::custom(format_args!(
                        "the answer to `{k}` is given twice"
                    )));
                }
                m.insert(k, v);
            }
            Ok(m)
        }
    }
    d.deserialize_any(Answers)
}

/// The SHA-256 of a request in canonical form: keys sorted, numbers
/// written as their exact decimal without trailing zeros (`3.0` is `3`),
/// so the same request written differently replays instead of conflicting.
pub fn canonical_hash<T: Serialize>(request: &T) -> String {
    let value = serde_json::to_value(request).unwrap_or(Json::Null);
    let mut out = String::new();
    canonical(&value, &mut out);
    hex::encode(Sha256::digest(out.as_bytes()))
}

fn canonical(v: &Json, out: &mut String) {
    match v {
        Json::Number(n) => {
            let text = n.to_string();
            match crate::core::value::exact_decimal(&text) {
                Some(d) => out.push_str(&d.normalize().to_string()),
                None => out.push_str(&text),
            }
        }
        Json::Array(xs) => {
            out.push('[');
            for (i, x) in xs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        Json::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Json::String(k.clone()).to_string());
                out.push(':');
                canonical(&m[k], out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    struct R {
        patient: String,
        #[serde(default, deserialize_with = "answers")]
        answers: Map<String, Json>,
    }

    #[test]
    fn repeated_and_unknown_keys_are_refused() {
        assert!(parse::<R>(br#"{"patient":"B","patient":"D"}"#).is_err());
        assert!(parse::<R>(br#"{"patient":"B","answers":{"q1":1,"q1":2}}"#).is_err());
        assert!(parse::<R>(br#"{"patient":"B","pateint":"D"}"#).is_err());
        assert!(parse::<R>(br#"{"patient":"B","answers":null}"#).is_ok());
    }

    #[test]
    fn the_canonical_hash_ignores_key_order_and_trailing_zeros() {
        let a: R = parse(br#"{"patient":"B","answers":{"q1":3.0,"q2":[1,2]}}"#).expect("a");
        let b: R = parse(br#"{"answers":{"q2":[1,2],"q1":3},"patient":"B"}"#).expect("b");
        let c: R = parse(br#"{"answers":{"q2":[1,2],"q1":3.5},"patient":"B"}"#).expect("c");
        assert_eq!(canonical_hash(&a), canonical_hash(&b));
        assert_ne!(canonical_hash(&a), canonical_hash(&c));
    }
}
