//! [`Attr`]: a resource's raw object, held compactly.
//!
//! Inventories hold every object of a fleet at once, twice when drift compares declared with live state. A
//! `serde_json::Value` costs about ten times its JSON text (every object is a hash map with its own table and spare
//! capacity); `Attr` keeps objects as exact-length slices of `(key, value)` pairs in their original order, arrays as
//! exact-length slices, and keys and strings as [`EcoString`]s, which hold up to 15 bytes inline (most keys and many
//! values: `containerPort`, `IfNotPresent`, `100m`), so a node is 24 bytes and nothing is over-allocated.
//!
//! Objects are small (Kubernetes and Terraform objects rarely hold more than a few dozen keys per level), so lookups scan
//! the pairs; callers comparing large maps index them first. The read API mirrors `serde_json::Value` (`pointer`, `get`,
//! `as_str`, …) so code reads the same; [`Attr::to_value`] converts where a `Value` is needed (policy input, patches).

use std::collections::HashMap;
use std::fmt;
use std::ops::Index;

use ecow::EcoString;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Number, Value};

/// One node of a resource's raw object.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Attr {
    /// JSON `null`, and what lookups of absent fields return.
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, exactly as written (integer or float).
    Number(Number),
    /// A string.
    String(EcoString),
    /// An array.
    Array(Box<[Attr]>),
    /// An object: keys in their original order.
    Object(Fields),
}

/// The keys and values of an object, in their original order, each key once.
#[derive(Debug, Clone, Default)]
pub struct Fields(Box<[(EcoString, Attr)]>);

static NULL: Attr = Attr::Null;

impl Fields {
    /// Builds an object from pairs; a repeated key keeps its first position and its last value, as JSON parsers do.
    pub fn from_pairs(pairs: Vec<(EcoString, Attr)>) -> Fields {
        let mut unique: Vec<(EcoString, Attr)> = Vec::with_capacity(pairs.len());
        // Large maps (ConfigMap data, tags) find repeats through an index rather than a scan per key.
        let mut positions: HashMap<EcoString, usize> = HashMap::new();
        let indexed = pairs.len() > 32;
        for (key, value) in pairs {
            let seen = if indexed { positions.get(&key).copied() } else { unique.iter().position(|(k, _)| *k == key) };
            match seen.and_then(|i| unique.get_mut(i)) {
                Some(slot) => slot.1 = value,
                None => {
                    if indexed {
                        positions.insert(key.clone(), unique.len());
                    }
                    unique.push((key, value));
                }
            }
        }
        Fields(unique.into_boxed_slice())
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&Attr> {
        self.0.iter().find(|(k, _)| &**k == key).map(|(_, v)| v)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// `(key, value)` pairs in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Attr)> + DoubleEndedIterator {
        self.0.iter().map(|(k, v)| (&**k, v))
    }

    /// Keys in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> + DoubleEndedIterator {
        self.0.iter().map(|(k, _)| &**k)
    }

    /// Values in key order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &Attr> + DoubleEndedIterator {
        self.0.iter().map(|(_, v)| v)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the object has no keys.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Objects are equal when they hold the same keys with equal values, in any order (as JSON objects are).
impl PartialEq for Fields {
    fn eq(&self, other: &Fields) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl<'a> IntoIterator for &'a Fields {
    type Item = (&'a str, &'a Attr);
    type IntoIter =
        std::iter::Map<std::slice::Iter<'a, (EcoString, Attr)>, fn(&'a (EcoString, Attr)) -> (&'a str, &'a Attr)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (&**k, v))
    }
}

/// What [`Attr::get`] and indexing accept: an object key or an array position.
pub trait AttrIndex {
    /// The node at this key or position of `attr`, if any.
    fn index_into<'a>(&self, attr: &'a Attr) -> Option<&'a Attr>;
}

impl AttrIndex for str {
    fn index_into<'a>(&self, attr: &'a Attr) -> Option<&'a Attr> {
        attr.as_object().and_then(|fields| fields.get(self))
    }
}

impl AttrIndex for String {
    fn index_into<'a>(&self, attr: &'a Attr) -> Option<&'a Attr> {
        self.as_str().index_into(attr)
    }
}

impl AttrIndex for usize {
    fn index_into<'a>(&self, attr: &'a Attr) -> Option<&'a Attr> {
        attr.as_array().and_then(|items| items.get(*self))
    }
}

impl<T: AttrIndex + ?Sized> AttrIndex for &T {
    fn index_into<'a>(&self, attr: &'a Attr) -> Option<&'a Attr> {
        (**self).index_into(attr)
    }
}

impl Attr {
    /// The node at a key or position, like `serde_json::Value::get`.
    pub fn get<I: AttrIndex>(&self, index: I) -> Option<&Attr> {
        index.index_into(self)
    }

    /// The node at an RFC 6901 JSON pointer (`/spec/template/spec/containers/0/image`); `""` is the whole object.
    pub fn pointer(&self, pointer: &str) -> Option<&Attr> {
        if pointer.is_empty() {
            return Some(self);
        }
        let rest = pointer.strip_prefix('/')?;
        rest.split('/').try_fold(self, |node, token| {
            let token = unescape(token);
            match node {
                Attr::Object(fields) => fields.get(&token),
                Attr::Array(items) => array_index(&token).and_then(|i| items.get(i)),
                _ => None,
            }
        })
    }

    /// The string, when this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Attr::String(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, when this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Attr::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number as `i64`, when it is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_number().and_then(Number::as_i64)
    }

    /// The number as `u64`, when it is a non-negative integer that fits.
    pub fn as_u64(&self) -> Option<u64> {
        self.as_number().and_then(Number::as_u64)
    }

    /// The number as `f64`, when this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        self.as_number().and_then(Number::as_f64)
    }

    /// The number, when this is one.
    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Attr::Number(n) => Some(n),
            _ => None,
        }
    }

    /// The items, when this is an array.
    pub fn as_array(&self) -> Option<&[Attr]> {
        match self {
            Attr::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The fields, when this is an object.
    pub fn as_object(&self) -> Option<&Fields> {
        match self {
            Attr::Object(fields) => Some(fields),
            _ => None,
        }
    }

    /// Whether this is `null` (absent fields read as `null` too).
    pub fn is_null(&self) -> bool {
        matches!(self, Attr::Null)
    }

    /// Whether this is a boolean.
    pub fn is_boolean(&self) -> bool {
        matches!(self, Attr::Bool(_))
    }

    /// Whether this is a number.
    pub fn is_number(&self) -> bool {
        matches!(self, Attr::Number(_))
    }

    /// Whether this is a string.
    pub fn is_string(&self) -> bool {
        matches!(self, Attr::String(_))
    }

    /// Whether this is an array.
    pub fn is_array(&self) -> bool {
        matches!(self, Attr::Array(_))
    }

    /// Whether this is an object.
    pub fn is_object(&self) -> bool {
        matches!(self, Attr::Object(_))
    }

    /// The same data as a `serde_json::Value`, for code that builds or patches JSON.
    pub fn to_value(&self) -> Value {
        match self {
            Attr::Null => Value::Null,
            Attr::Bool(b) => Value::Bool(*b),
            Attr::Number(n) => Value::Number(n.clone()),
            Attr::String(s) => Value::String(s.as_str().to_owned()),
            Attr::Array(items) => Value::Array(items.iter().map(Attr::to_value).collect()),
            Attr::Object(fields) => Value::Object(fields.iter().map(|(k, v)| (k.to_owned(), v.to_value())).collect()),
        }
    }
}

/// `~1` is `/` and `~0` is `~` inside a pointer token.
fn unescape(token: &str) -> std::borrow::Cow<'_, str> {
    if token.contains('~') { token.replace("~1", "/").replace("~0", "~").into() } else { token.into() }
}

/// An array position as RFC 6901 writes it: digits, no leading zero.
fn array_index(token: &str) -> Option<usize> {
    if token.is_empty() || (token.len() > 1 && token.starts_with('0')) || !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    token.parse().ok()
}

impl<I: AttrIndex> Index<I> for Attr {
    type Output = Attr;

    /// Like `serde_json::Value`: an absent key or position reads as `null`.
    fn index(&self, index: I) -> &Attr {
        index.index_into(self).unwrap_or(&NULL)
    }
}

impl From<Value> for Attr {
    fn from(value: Value) -> Attr {
        match value {
            Value::Null => Attr::Null,
            Value::Bool(b) => Attr::Bool(b),
            Value::Number(n) => Attr::Number(n),
            Value::String(s) => Attr::String(s.into()),
            Value::Array(items) => Attr::Array(items.into_iter().map(Attr::from).collect()),
            Value::Object(map) => {
                Attr::Object(Fields(map.into_iter().map(|(k, v)| (k.into(), Attr::from(v))).collect()))
            }
        }
    }
}

impl From<&Value> for Attr {
    fn from(value: &Value) -> Attr {
        Attr::from(value.clone())
    }
}

impl From<Attr> for Value {
    fn from(attr: Attr) -> Value {
        attr.to_value()
    }
}

impl From<&Attr> for Value {
    fn from(attr: &Attr) -> Value {
        attr.to_value()
    }
}

impl From<&str> for Attr {
    fn from(s: &str) -> Attr {
        Attr::String(s.into())
    }
}

impl From<String> for Attr {
    fn from(s: String) -> Attr {
        Attr::String(s.into())
    }
}

impl From<bool> for Attr {
    fn from(b: bool) -> Attr {
        Attr::Bool(b)
    }
}

/// Numbers as `serde_json` makes them.
macro_rules! attr_from_number {
    ($($t:ty),*) => {$(
        impl From<$t> for Attr {
            fn from(n: $t) -> Attr {
                Attr::from(Value::from(n))
            }
        }
    )*};
}
attr_from_number!(i32, i64, u32, u64, usize, f64);

impl PartialEq<str> for Attr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

impl PartialEq<&str> for Attr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

impl PartialEq<bool> for Attr {
    fn eq(&self, other: &bool) -> bool {
        self.as_bool() == Some(*other)
    }
}

impl PartialEq<i64> for Attr {
    fn eq(&self, other: &i64) -> bool {
        self.as_i64() == Some(*other)
    }
}

impl PartialEq<Value> for Attr {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Attr::Null, Value::Null) => true,
            (Attr::Bool(a), Value::Bool(b)) => a == b,
            (Attr::Number(a), Value::Number(b)) => a == b,
            (Attr::String(a), Value::String(b)) => a.as_str() == b.as_str(),
            (Attr::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y),
            (Attr::Object(a), Value::Object(b)) => {
                a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| v == w))
            }
            _ => false,
        }
    }
}

/// Compact JSON, like `serde_json::Value`'s `Display`.
impl fmt::Display for Attr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl Serialize for Attr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Attr::Null => serializer.serialize_unit(),
            Attr::Bool(b) => serializer.serialize_bool(*b),
            Attr::Number(n) => n.serialize(serializer),
            Attr::String(s) => serializer.serialize_str(s),
            Attr::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Attr::Object(fields) => fields.serialize(serializer),
        }
    }
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (k, v) in self {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// Reads any self-describing format (JSON, YAML) straight into the compact form, with no `Value` in between.
impl<'de> Deserialize<'de> for Attr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Attr, D::Error> {
        deserializer.deserialize_any(AttrVisitor)
    }
}

struct AttrVisitor;

impl<'de> Visitor<'de> for AttrVisitor {
    type Value = Attr;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Attr, E> {
        Ok(Attr::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Attr, E> {
        Ok(Attr::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Attr, E> {
        Ok(Attr::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Attr, E> {
        // JSON has no NaN or infinity; serde_json reads them as null too.
        Ok(Number::from_f64(v).map_or(Attr::Null, Attr::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Attr, E> {
        Ok(Attr::String(v.into()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Attr, E> {
        Ok(Attr::String(v.into()))
    }

    fn visit_none<E: de::Error>(self) -> Result<Attr, E> {
        Ok(Attr::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Attr, D::Error> {
        Deserialize::deserialize(deserializer)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Attr, E> {
        Ok(Attr::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Attr, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Attr::Array(items.into_boxed_slice()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attr, A::Error> {
        let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
        while let Some(pair) = map.next_entry::<EcoString, Attr>()? {
            pairs.push(pair);
        }
        Ok(Attr::Object(Fields::from_pairs(pairs)))
    }
}

/// Any JSON value, in schemas that describe resources.
impl schemars::JsonSchema for Attr {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AnyValue".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        Value::json_schema(generator)
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "cart", "annotations": {"example.com/a/b": "x", "t~d": "y"}},
            "spec": {"replicas": 3, "ratio": 0.5, "paused": false, "template": {"spec": {"containers": [
                {"name": "app", "image": "cart:1", "ports": [{"containerPort": 8080}]}]}}}})
    }

    #[test]
    fn reads_like_serde_json_value() {
        let value = deployment();
        let attr = Attr::from(value.clone());
        for pointer in [
            "",
            "/kind",
            "/metadata/annotations/example.com~1a~1b",
            "/metadata/annotations/t~0d",
            "/spec/replicas",
            "/spec/ratio",
            "/spec/paused",
            "/spec/template/spec/containers/0/ports/0/containerPort",
            "/spec/template/spec/containers/01",
            "/spec/template/spec/containers/1",
            "/spec/template/spec/containers/-",
            "/nope/deeper",
            "spec",
        ] {
            assert_eq!(attr.pointer(pointer).map(Attr::to_value).as_ref(), value.pointer(pointer), "{pointer}");
        }
        assert_eq!(attr["spec"]["template"]["spec"]["containers"][0]["image"], "cart:1");
        assert!(attr["spec"]["missing"][3].is_null());
        assert_eq!(attr["spec"]["replicas"].as_i64(), Some(3));
        assert_eq!(attr.get("kind").and_then(Attr::as_str), Some("Deployment"));
        assert_eq!(
            attr.as_object().map(|o| o.keys().collect::<Vec<_>>()),
            Some(vec!["apiVersion", "kind", "metadata", "spec"])
        );
        assert_eq!(attr, value);
        assert_eq!(attr.to_value(), value);
    }

    #[test]
    fn serializes_and_deserializes_as_the_same_json() {
        let value = deployment();
        let text = serde_json::to_string(&value).unwrap_or_default();
        let attr: Attr = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(attr.to_string(), text, "key order and number forms are kept");
        assert_eq!(attr, Attr::from(value));
    }

    #[test]
    fn a_repeated_key_keeps_its_first_place_and_last_value() {
        let attr: Attr = serde_json::from_str(r#"{"a": 1, "b": 2, "a": 3}"#).unwrap_or_default();
        assert_eq!(attr.to_string(), r#"{"a":3,"b":2}"#);
    }

    #[test]
    fn objects_compare_without_regard_to_key_order() {
        let a: Attr = serde_json::from_str(r#"{"a": 1, "b": [true, null]}"#).unwrap_or_default();
        let b: Attr = serde_json::from_str(r#"{"b": [true, null], "a": 1}"#).unwrap_or_default();
        assert_eq!(a, b);
        assert_ne!(a, Attr::from(json!({"a": 1})));
    }

    #[test]
    fn a_node_is_three_words() {
        assert_eq!(std::mem::size_of::<Attr>(), 24);
    }
}
