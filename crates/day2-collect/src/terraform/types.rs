//! Terraform's type constraints on variables (`type = map(object({ port = optional(number, 80) }))`) and the
//! conversions Terraform applies with them: numbers and bools from strings and back, object attributes the type does
//! not name dropped, `optional` attributes added with their default (or null), sets sorted and deduplicated.
//! A value that does not fit its type is passed on unchanged: the plan would fail, and day2 reports what is written.

use hcl::{Expression, ObjectKey, Value};

/// A type constraint.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Type {
    Any,
    String,
    Number,
    Bool,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Tuple(Vec<Type>),
    Object(Vec<Attribute>),
}

/// One attribute of an object type.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Attribute {
    name: String,
    kind: Type,
    optional: bool,
    default: Option<Value>,
}

impl Type {
    /// The type a `type = …` expression names; `None` for what is not a type expression.
    pub(super) fn parse(expr: &Expression) -> Option<Type> {
        match expr {
            Expression::Variable(v) => match v.as_str() {
                "string" => Some(Type::String),
                "number" => Some(Type::Number),
                "bool" => Some(Type::Bool),
                "any" => Some(Type::Any),
                _ => None,
            },
            Expression::FuncCall(call) => {
                let first = call.args.first()?;
                match call.name.name.as_str() {
                    "list" => Some(Type::List(Box::new(Type::parse(first)?))),
                    "set" => Some(Type::Set(Box::new(Type::parse(first)?))),
                    "map" => Some(Type::Map(Box::new(Type::parse(first)?))),
                    "tuple" => match first {
                        Expression::Array(items) => {
                            Some(Type::Tuple(items.iter().map(Type::parse).collect::<Option<_>>()?))
                        }
                        _ => None,
                    },
                    "object" => match first {
                        Expression::Object(attrs) => {
                            let mut out = Vec::new();
                            for (key, value) in attrs {
                                let name = match key {
                                    ObjectKey::Identifier(i) => i.as_str().to_owned(),
                                    ObjectKey::Expression(Expression::String(s)) => s.clone(),
                                    _ => return None,
                                };
                                out.push(Attribute::parse(name, value)?);
                            }
                            Some(Type::Object(out))
                        }
                        _ => None,
                    },
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Converts a value to this type as Terraform does.
    pub(super) fn convert(&self, value: Value) -> Value {
        match (self, value) {
            (_, Value::Null) => Value::Null,
            (Type::String, Value::Number(n)) => Value::String(n.to_string()),
            (Type::String, Value::Bool(b)) => Value::String(b.to_string()),
            (Type::Number, Value::String(s)) => match s.trim().parse::<i64>() {
                Ok(i) => Value::from(i),
                Err(_) => match s.trim().parse::<f64>().ok().and_then(hcl::Number::from_f64) {
                    Some(n) => Value::Number(n),
                    None => Value::String(s),
                },
            },
            (Type::Bool, Value::String(s)) if s == "true" || s == "false" => Value::Bool(s == "true"),
            (Type::List(t), Value::Array(items)) => Value::Array(items.into_iter().map(|v| t.convert(v)).collect()),
            (Type::Set(t), Value::Array(items)) => {
                Value::Array(super::functions::set_of(items.into_iter().map(|v| t.convert(v)).collect()))
            }
            (Type::Tuple(types), Value::Array(items)) if types.len() == items.len() => {
                Value::Array(items.into_iter().zip(types).map(|(v, t)| t.convert(v)).collect())
            }
            (Type::Map(t), Value::Object(m)) => Value::Object(m.into_iter().map(|(k, v)| (k, t.convert(v))).collect()),
            (Type::Object(attrs), Value::Object(mut m)) => {
                let mut out = hcl::Map::new();
                for a in attrs {
                    match m.shift_remove(&a.name) {
                        Some(v) => {
                            out.insert(a.name.clone(), a.kind.convert(v));
                        }
                        None if a.optional => {
                            out.insert(a.name.clone(), a.default.clone().map_or(Value::Null, |d| a.kind.convert(d)));
                        }
                        // A required attribute is missing: the plan would fail; keep what is there.
                        None => {}
                    }
                }
                out.sort_keys();
                Value::Object(out)
            }
            (_, v) => v,
        }
    }
}

impl Attribute {
    fn parse(name: String, expr: &Expression) -> Option<Attribute> {
        if let Expression::FuncCall(call) = expr
            && call.name.name.as_str() == "optional"
        {
            let kind = Type::parse(call.args.first()?)?;
            let default = call.args.get(1).and_then(|d| {
                use hcl::eval::Evaluate;
                d.evaluate(&hcl::eval::Context::new()).ok()
            });
            return Some(Attribute { name, kind, optional: true, default });
        }
        Some(Attribute { name, kind: Type::parse(expr)?, optional: false, default: None })
    }
}

/// A value with the keys of every object in lexical order, as Terraform iterates maps and objects.
pub(super) fn sorted(value: Value) -> Value {
    match value {
        Value::Object(m) => {
            let mut m: hcl::Map<String, Value> = m.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            m.sort_keys();
            Value::Object(m)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn convert(ty: &str, value: &str) -> serde_json::Value {
        let t = Type::parse(&ty.parse::<Expression>().unwrap()).unwrap();
        let v: Value = {
            use hcl::eval::Evaluate;
            value.parse::<Expression>().unwrap().evaluate(&hcl::eval::Context::new()).unwrap()
        };
        serde_json::to_value(t.convert(v)).unwrap()
    }

    #[test]
    fn conversions_follow_the_type_constraint() {
        use serde_json::json;
        assert_eq!(
            convert(
                "map(object({ image = string, port = optional(number) }))",
                r#"{ w = { image = "x", extra = 1 } }"#
            ),
            json!({"w": {"image": "x", "port": null}}),
            "optional attributes appear as null, unknown ones are dropped"
        );
        assert_eq!(convert("object({ port = optional(number, 80) })", "{}"), json!({"port": 80}));
        assert_eq!(convert("list(number)", r#"["1", 2]"#), json!([1, 2]));
        assert_eq!(convert("set(string)", r#"["b", "a", "b"]"#), json!(["a", "b"]));
        assert_eq!(convert("string", "3"), json!("3"));
        assert_eq!(convert("bool", r#""true""#), json!(true));
        assert_eq!(convert("number", r#""abc""#), json!("abc"), "what does not fit is kept as written");
        assert_eq!(Type::parse(&"foo(string)".parse::<Expression>().unwrap()), None);
    }
}
