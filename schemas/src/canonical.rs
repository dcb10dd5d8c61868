//! Canonical JSON: the byte form that hashes and signatures are computed over.
//!
//! Object keys are sorted by their UTF-8 bytes at every depth and there is no insignificant
//! whitespace. This is done explicitly rather than relying on `serde_json::Map` ordering, because
//! any crate in the build enabling serde_json's `preserve_order` feature would silently change
//! map ordering and break every stored hash.

use serde::Serialize;
use serde_json::Value;

/// Serialize `value` to canonical JSON bytes.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let value = serde_json::to_value(value)?;
    let mut out = Vec::with_capacity(256);
    write_value(&value, &mut out)?;
    Ok(out)
}

fn write_value(value: &Value, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, key)?;
                out.push(b':');
                write_value(item, out)?;
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out)?;
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    fn check(input: serde_json::Value, expected: &str) {
        let bytes = super::to_vec(&input).unwrap();
        assert_eq!(String::from_utf8(bytes).unwrap(), expected);
    }

    #[test]
    fn sorts_keys_at_every_depth_without_whitespace() {
        check(
            json!({"b": 1, "a": {"z": [3, {"y": 1, "x": 2}], "c": null}}),
            r#"{"a":{"c":null,"z":[3,{"x":2,"y":1}]},"b":1}"#,
        );
        check(json!("é\n"), r#""é\n""#);
        check(json!([]), "[]");
        check(json!({"B": 1, "a": 2, "_": 3}), r#"{"B":1,"_":3,"a":2}"#);
    }
}
