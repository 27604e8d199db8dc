//! Terraform's built-in functions that a static reading can compute: string, collection, numeric, encoding and type
//! conversion functions. Functions whose result only exists at apply time (`timestamp`, `uuid`, `bcrypt`), that read
//! the machine (`file` outside the module, `env`), or that Terraform evaluates lazily (`try`, `can`, see
//! [`super::configuration`]) are not declared here: a call to one leaves the value unknown, never wrong.
//!
//! Sizes are bounded (`range`, `format` widths, repeated `for` growth is bounded by the inputs) so a hostile
//! configuration cannot make day2 allocate without limit.

use hcl::Value;
use hcl::eval::{Context, FuncArgs, FuncDef, ParamType};

/// Longest list a function may build (`range`, `setproduct`, `chunklist`).
const MAX_ELEMENTS: usize = 10_000;
/// Longest string a function may build (`format` padding, `indent`, `join`).
const MAX_STRING: usize = 1 << 20;

type Result = std::result::Result<Value, String>;

/// How an error starts when the function could give a value but day2 does not compute it: such a value is unknown,
/// and `try` must not fall back on it.
pub(super) const NOT_EVALUATED: &str = "not evaluated by day2";

/// Declares every function of this module in `ctx`.
pub(super) fn declare(ctx: &mut Context<'_>) {
    let any = || ParamType::Any;
    let variadic = |f: hcl::eval::Func| FuncDef::builder().variadic_param(ParamType::Any).build(f);
    let unary = |f: hcl::eval::Func| FuncDef::builder().param(ParamType::Any).build(f);
    let binary = |f: hcl::eval::Func| FuncDef::builder().params([any(), any()]).build(f);
    let ternary = |f: hcl::eval::Func| FuncDef::builder().params([any(), any(), any()]).build(f);
    let table: &[(&str, FuncDef)] = &[
        // Strings.
        ("lower", unary(|a| string_map(&a, |s| s.to_lowercase()))),
        ("upper", unary(|a| string_map(&a, |s| s.to_uppercase()))),
        ("title", unary(|a| string_map(&a, title))),
        ("trimspace", unary(|a| string_map(&a, |s| s.trim().to_owned()))),
        ("chomp", unary(|a| string_map(&a, |s| s.trim_end_matches(['\r', '\n']).to_owned()))),
        ("strrev", unary(|a| string_map(&a, |s| s.chars().rev().collect()))),
        ("trim", binary(|a| strings2(&a, |s, cut| s.trim_matches(|c| cut.contains(c)).to_owned()))),
        ("trimprefix", binary(|a| strings2(&a, |s, p| s.strip_prefix(p).unwrap_or(s).to_owned()))),
        ("trimsuffix", binary(|a| strings2(&a, |s, p| s.strip_suffix(p).unwrap_or(s).to_owned()))),
        ("startswith", binary(|a| strings2_bool(&a, |s, p| s.starts_with(p)))),
        ("endswith", binary(|a| strings2_bool(&a, |s, p| s.ends_with(p)))),
        ("strcontains", binary(|a| strings2_bool(&a, |s, p| s.contains(p)))),
        ("split", binary(split)),
        ("join", binary(join)),
        ("replace", ternary(replace)),
        ("substr", ternary(substr)),
        ("format", variadic(format)),
        ("formatlist", variadic(formatlist)),
        ("indent", binary(indent)),
        // Collections.
        ("length", unary(length)),
        ("concat", variadic(concat)),
        ("merge", variadic(merge)),
        ("lookup", FuncDef::builder().params([any(), any()]).variadic_param(any()).build(lookup)),
        ("element", binary(element)),
        ("index", binary(index)),
        ("contains", binary(contains)),
        ("keys", unary(keys)),
        ("values", unary(values)),
        ("distinct", unary(distinct)),
        ("flatten", unary(flatten)),
        ("compact", unary(compact)),
        ("coalesce", variadic(coalesce)),
        ("coalescelist", variadic(coalescelist)),
        ("reverse", unary(reverse)),
        ("sort", unary(sort)),
        ("slice", ternary(slice)),
        ("range", variadic(range)),
        ("zipmap", binary(zipmap)),
        ("one", unary(one)),
        ("alltrue", unary(|a| bools(&a, true))),
        ("anytrue", unary(|a| bools(&a, false))),
        ("sum", unary(sum)),
        ("chunklist", binary(chunklist)),
        ("setunion", variadic(setunion)),
        ("setintersection", variadic(setintersection)),
        ("setsubtract", binary(setsubtract)),
        ("transpose", unary(transpose)),
        // Numbers.
        ("abs", unary(|a| number_map(&a, f64::abs))),
        ("ceil", unary(|a| number_map(&a, f64::ceil))),
        ("floor", unary(|a| number_map(&a, f64::floor))),
        ("signum", unary(|a| number_map(&a, f64::signum))),
        ("max", variadic(|a| fold_numbers(&a, f64::max))),
        ("min", variadic(|a| fold_numbers(&a, f64::min))),
        ("parseint", binary(parseint)),
        // Encoding.
        ("jsonencode", unary(jsonencode)),
        ("jsondecode", unary(jsondecode)),
        ("base64encode", unary(|a| string_map(&a, |s| base64_encode(s.as_bytes())))),
        ("urlencode", unary(|a| string_map(&a, urlencode))),
        // Types.
        ("tostring", unary(tostring)),
        ("tonumber", unary(tonumber)),
        ("tobool", unary(tobool)),
        ("tolist", unary(tolist)),
        ("toset", unary(toset)),
        ("tomap", unary(tomap)),
    ];
    for (name, def) in table {
        ctx.declare_func(*name, def.clone());
    }
}

fn arg(args: &FuncArgs, i: usize) -> std::result::Result<&Value, String> {
    args.get(i).ok_or_else(|| format!("missing argument {}", i + 1))
}

fn str_arg(args: &FuncArgs, i: usize) -> std::result::Result<String, String> {
    match arg(args, i)? {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!("argument {} must be a string, not {other}", i + 1)),
    }
}

fn list_arg(args: &FuncArgs, i: usize) -> std::result::Result<&Vec<Value>, String> {
    match arg(args, i)? {
        Value::Array(a) => Ok(a),
        other => Err(format!("argument {} must be a list, not {other}", i + 1)),
    }
}

fn int_arg(args: &FuncArgs, i: usize) -> std::result::Result<i64, String> {
    match arg(args, i)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)).ok_or_else(|| "not a number".into()),
        Value::String(s) => s.trim().parse().map_err(|_| format!("`{s}` is not a whole number")),
        other => Err(format!("argument {} must be a number, not {other}", i + 1)),
    }
}

fn number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        Value::from(value as i64)
    } else {
        hcl::Number::from_f64(value).map_or(Value::Null, Value::Number)
    }
}

fn as_f64(v: &Value) -> std::result::Result<f64, String> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| "not a number".into()),
        Value::String(s) => {
            s.parse::<f64>().ok().filter(|f| f.is_finite()).ok_or_else(|| format!("`{s}` is not a number"))
        }
        other => Err(format!("{other} is not a number")),
    }
}

fn bounded(s: String) -> Result {
    if s.len() > MAX_STRING { Err(format!("result longer than {MAX_STRING} bytes")) } else { Ok(Value::String(s)) }
}

fn string_map(args: &FuncArgs, f: impl Fn(&str) -> String) -> Result {
    bounded(f(&str_arg(args, 0)?))
}

fn strings2(args: &FuncArgs, f: impl Fn(&str, &str) -> String) -> Result {
    bounded(f(&str_arg(args, 0)?, &str_arg(args, 1)?))
}

fn strings2_bool(args: &FuncArgs, f: impl Fn(&str, &str) -> bool) -> Result {
    Ok(Value::Bool(f(&str_arg(args, 0)?, &str_arg(args, 1)?)))
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = c.is_whitespace();
    }
    out
}

fn split(args: FuncArgs) -> Result {
    let (sep, s) = (str_arg(&args, 0)?, str_arg(&args, 1)?);
    if sep.is_empty() {
        return Ok(Value::Array(s.chars().map(|c| Value::from(c.to_string())).collect()));
    }
    Ok(Value::Array(s.split(sep.as_str()).map(Value::from).collect()))
}

fn join(args: FuncArgs) -> Result {
    let sep = str_arg(&args, 0)?;
    let mut parts = Vec::new();
    for v in list_arg(&args, 1)? {
        match v {
            Value::String(s) => parts.push(s.clone()),
            Value::Number(n) => parts.push(n.to_string()),
            Value::Bool(b) => parts.push(b.to_string()),
            other => return Err(format!("join: element {other} is not a string")),
        }
    }
    bounded(parts.join(&sep))
}

/// `replace(string, substring, replacement)`; a `/regex/` substring is not evaluated (the value stays unknown).
fn replace(args: FuncArgs) -> Result {
    let (s, from, to) = (str_arg(&args, 0)?, str_arg(&args, 1)?, str_arg(&args, 2)?);
    if from.len() > 1 && from.starts_with('/') && from.ends_with('/') {
        return Err(format!("{NOT_EVALUATED}: regular-expression replace"));
    }
    if from.is_empty() {
        return Ok(Value::String(s));
    }
    let grown = s.matches(from.as_str()).count().saturating_mul(to.len());
    if s.len().saturating_add(grown) > MAX_STRING {
        return Err(format!("replace: result longer than {MAX_STRING} bytes"));
    }
    Ok(Value::String(s.replace(&from, &to)))
}

fn substr(args: FuncArgs) -> Result {
    let s: Vec<char> = str_arg(&args, 0)?.chars().collect();
    let (offset, length) = (int_arg(&args, 1)?, int_arg(&args, 2)?);
    let len = s.len() as i64;
    let start = if offset < 0 { (len + offset).max(0) } else { offset.min(len) };
    let end = if length < 0 { len } else { (start + length).min(len) };
    Ok(Value::String(s.get(start as usize..end as usize).unwrap_or_default().iter().collect()))
}

/// `format` with Terraform's verbs `%s %d %f %v %q %t %%` and optional width/precision.
fn format(args: FuncArgs) -> Result {
    let spec = str_arg(&args, 0)?;
    let rest: Vec<&Value> = args.iter().skip(1).collect();
    bounded(format_with(&spec, &rest)?)
}

fn format_with(spec: &str, args: &[&Value]) -> std::result::Result<String, String> {
    let mut out = String::new();
    let mut chars = spec.chars().peekable();
    let mut next = args.iter();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = chars.peek() {
            if f.is_ascii_digit() || f == '.' || f == '-' || f == '+' || f == '#' || f == ' ' {
                flags.push(f);
                chars.next();
            } else {
                break;
            }
        }
        let verb = chars.next().ok_or("format: `%` at the end of the format string")?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let value = next.next().ok_or("format: not enough arguments")?;
        let (width, precision) = match flags.trim_start_matches(['-', '+', '#', ' ']).split_once('.') {
            Some((w, p)) => (w.parse::<usize>().ok(), p.parse::<usize>().ok()),
            None => (flags.trim_start_matches(['-', '+', '#', ' ']).parse::<usize>().ok(), None),
        };
        if width.unwrap_or(0) > 4096 || precision.unwrap_or(0) > 64 {
            return Err("format: width or precision too large".into());
        }
        let text = match verb {
            's' | 'v' => plain(value)?,
            'q' => serde_json::to_string(&plain(value)?).map_err(|e| e.to_string())?,
            't' => match value {
                Value::Bool(b) => b.to_string(),
                other => return Err(format!("format: %t needs a bool, not {other}")),
            },
            'd' => format!("{}", as_f64(value)? as i64),
            'f' => format!("{:.*}", precision.unwrap_or(6), as_f64(value)?),
            other => return Err(format!("{NOT_EVALUATED}: format verb %{other}")),
        };
        let pad = width.unwrap_or(0).saturating_sub(text.chars().count());
        if flags.starts_with('-') {
            out.push_str(&text);
            out.extend(std::iter::repeat_n(' ', pad));
        } else {
            if flags.starts_with('0') && verb == 'd' {
                // Zeros go after the sign: `%05d` of -5 is `-0005`.
                let (sign, digits) = text.split_at(usize::from(text.starts_with('-')));
                out.push_str(sign);
                out.extend(std::iter::repeat_n('0', pad));
                out.push_str(digits);
            } else {
                out.extend(std::iter::repeat_n(' ', pad));
                out.push_str(&text);
            }
        }
    }
    Ok(out)
}

/// A value as `%s` prints it: strings bare, numbers and bools as text, collections as JSON.
fn plain(value: &Value) -> std::result::Result<String, String> {
    Ok(match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => return Err("format: null argument".into()),
        other => serde_json::to_string(other).map_err(|e| e.to_string())?,
    })
}

fn formatlist(args: FuncArgs) -> Result {
    let spec = str_arg(&args, 0)?;
    let rest: Vec<&Value> = args.iter().skip(1).collect();
    let n = rest.iter().filter_map(|v| v.as_array().map(Vec::len)).max().unwrap_or(1);
    let mut out = Vec::with_capacity(n);
    if n > MAX_ELEMENTS {
        return Err(format!("formatlist: more than {MAX_ELEMENTS} elements"));
    }
    for i in 0..n {
        let row: Vec<&Value> = rest
            .iter()
            .map(|v| match v {
                Value::Array(a) => a.get(i).ok_or_else(|| "formatlist: lists of different lengths".to_owned()),
                other => Ok(*other),
            })
            .collect::<std::result::Result<_, _>>()?;
        out.push(Value::String(format_with(&spec, &row)?));
    }
    if out.iter().map(|v| v.as_str().map_or(0, str::len)).sum::<usize>() > MAX_STRING {
        return Err(format!("formatlist: results longer than {MAX_STRING} bytes"));
    }
    Ok(Value::Array(out))
}

fn indent(args: FuncArgs) -> Result {
    let spaces = usize::try_from(int_arg(&args, 0)?).map_err(|_| "indent: negative width")?.min(4096);
    let s = str_arg(&args, 1)?;
    let pad = " ".repeat(spaces);
    bounded(s.replace('\n', &format!("\n{pad}")))
}

fn length(args: FuncArgs) -> Result {
    Ok(Value::from(match arg(&args, 0)? {
        Value::Array(a) => a.len(),
        Value::Object(o) => o.len(),
        Value::String(s) => s.chars().count(),
        other => return Err(format!("length of {other}")),
    }))
}

fn concat(args: FuncArgs) -> Result {
    let mut out = Vec::new();
    for i in 0..args.len() {
        out.extend(list_arg(&args, i)?.iter().cloned());
    }
    Ok(Value::Array(out))
}

fn merge(args: FuncArgs) -> Result {
    let mut out = hcl::Map::new();
    for v in args.iter() {
        match v {
            Value::Object(o) => out.extend(o.iter().map(|(k, v)| (k.clone(), v.clone()))),
            Value::Null => {}
            other => return Err(format!("merge: {other} is not a map")),
        }
    }
    out.sort_keys();
    Ok(Value::Object(out))
}

fn lookup(args: FuncArgs) -> Result {
    let key = str_arg(&args, 1)?;
    match arg(&args, 0)? {
        Value::Object(o) => match o.get(&key) {
            Some(v) => Ok(v.clone()),
            None => args.get(2).cloned().ok_or_else(|| format!("lookup: no key `{key}` and no default")),
        },
        other => Err(format!("lookup: {other} is not a map")),
    }
}

fn element(args: FuncArgs) -> Result {
    let list = list_arg(&args, 0)?;
    if list.is_empty() {
        return Err("element: empty list".into());
    }
    let i = int_arg(&args, 1)?.rem_euclid(list.len() as i64) as usize;
    list.get(i).cloned().ok_or_else(|| "element: index".into())
}

fn index(args: FuncArgs) -> Result {
    let wanted = arg(&args, 1)?;
    list_arg(&args, 0)?
        .iter()
        .position(|v| v == wanted)
        .map(Value::from)
        .ok_or_else(|| format!("index: {wanted} is not in the list"))
}

fn contains(args: FuncArgs) -> Result {
    Ok(Value::Bool(list_arg(&args, 0)?.contains(arg(&args, 1)?)))
}

/// Keys of a map in lexical order, as Terraform gives them.
fn keys(args: FuncArgs) -> Result {
    match arg(&args, 0)? {
        Value::Object(o) => {
            let mut k: Vec<&String> = o.keys().collect();
            k.sort();
            Ok(Value::Array(k.into_iter().map(|k| Value::from(k.as_str())).collect()))
        }
        other => Err(format!("keys: {other} is not a map")),
    }
}

fn values(args: FuncArgs) -> Result {
    match arg(&args, 0)? {
        Value::Object(o) => {
            let mut entries: Vec<(&String, &Value)> = o.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Ok(Value::Array(entries.into_iter().map(|(_, v)| v.clone()).collect()))
        }
        other => Err(format!("values: {other} is not a map")),
    }
}

fn distinct(args: FuncArgs) -> Result {
    Ok(Value::Array(unique(list_arg(&args, 0)?.iter().cloned())))
}

/// The values in order, each once.
fn unique(values: impl IntoIterator<Item = Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

fn flatten(args: FuncArgs) -> Result {
    fn go(v: &Value, out: &mut Vec<Value>) {
        match v {
            Value::Array(a) => a.iter().for_each(|x| go(x, out)),
            other => out.push(other.clone()),
        }
    }
    let mut out = Vec::new();
    list_arg(&args, 0)?.iter().for_each(|v| go(v, &mut out));
    Ok(Value::Array(out))
}

fn compact(args: FuncArgs) -> Result {
    Ok(Value::Array(
        list_arg(&args, 0)?.iter().filter(|v| !matches!(v, Value::Null) && v.as_str() != Some("")).cloned().collect(),
    ))
}

fn coalesce(args: FuncArgs) -> Result {
    args.iter()
        .find(|v| !matches!(v, Value::Null) && v.as_str() != Some(""))
        .cloned()
        .ok_or_else(|| "coalesce: no non-null, non-empty argument".into())
}

fn coalescelist(args: FuncArgs) -> Result {
    args.iter()
        .find(|v| v.as_array().is_some_and(|a| !a.is_empty()))
        .cloned()
        .ok_or_else(|| "coalescelist: no non-empty list".into())
}

fn reverse(args: FuncArgs) -> Result {
    Ok(Value::Array(list_arg(&args, 0)?.iter().rev().cloned().collect()))
}

fn sort(args: FuncArgs) -> Result {
    let mut items: Vec<String> = list_arg(&args, 0)?.iter().map(plain).collect::<std::result::Result<_, _>>()?;
    items.sort();
    Ok(Value::Array(items.into_iter().map(Value::from).collect()))
}

fn slice(args: FuncArgs) -> Result {
    let list = list_arg(&args, 0)?;
    let (start, end) = (int_arg(&args, 1)?, int_arg(&args, 2)?);
    let (start, end) = (
        usize::try_from(start).map_err(|_| "slice: negative index")?,
        usize::try_from(end).map_err(|_| "slice: negative index")?,
    );
    list.get(start..end).map(|s| Value::Array(s.to_vec())).ok_or_else(|| "slice: index out of range".into())
}

fn range(args: FuncArgs) -> Result {
    let nums: Vec<f64> = args.iter().map(as_f64).collect::<std::result::Result<_, _>>()?;
    let (start, end, step) = match nums.as_slice() {
        [end] => (0.0, *end, 1.0),
        [start, end] => (*start, *end, if end >= start { 1.0 } else { -1.0 }),
        [start, end, step] => (*start, *end, *step),
        _ => return Err("range takes one to three numbers".into()),
    };
    if step == 0.0 || (end - start) * step < 0.0 {
        return if step == 0.0 && start != end { Err("range: zero step".into()) } else { Ok(Value::Array(Vec::new())) };
    }
    // Counted first, each element from the start: repeated addition loses precision and may never reach `end`.
    let count = ((end - start) / step).ceil();
    if !count.is_finite() || count > MAX_ELEMENTS as f64 {
        return Err(format!("range: more than {MAX_ELEMENTS} elements"));
    }
    let count = count as usize;
    if start.fract() == 0.0 && step.fract() == 0.0 && start.abs() < 9.2e18 && end.abs() < 9.2e18 {
        let (start, step) = (start as i64, step as i64);
        let values = (0..count as i64).map(|i| start.checked_add(i.checked_mul(step)?).map(Value::from));
        return values.collect::<Option<Vec<_>>>().map(Value::Array).ok_or_else(|| "range: overflow".into());
    }
    Ok(Value::Array((0..count).map(|i| number(start + i as f64 * step)).collect()))
}

fn zipmap(args: FuncArgs) -> Result {
    let (k, v) = (list_arg(&args, 0)?, list_arg(&args, 1)?);
    if k.len() != v.len() {
        return Err("zipmap: lists of different lengths".into());
    }
    let mut out = hcl::Map::new();
    for (k, v) in k.iter().zip(v) {
        out.insert(plain(k)?, v.clone());
    }
    Ok(Value::Object(out))
}

fn one(args: FuncArgs) -> Result {
    match list_arg(&args, 0)?.as_slice() {
        [] => Ok(Value::Null),
        [x] => Ok(x.clone()),
        _ => Err("one: more than one element".into()),
    }
}

fn bools(args: &FuncArgs, all: bool) -> Result {
    let items = list_arg(args, 0)?;
    let truth = |v: &Value| matches!(v, Value::Bool(true)) || v.as_str() == Some("true");
    Ok(Value::Bool(if all { items.iter().all(truth) } else { items.iter().any(truth) }))
}

fn sum(args: FuncArgs) -> Result {
    let items = list_arg(&args, 0)?;
    if items.is_empty() {
        return Err("sum of an empty list".into());
    }
    Ok(number(items.iter().map(as_f64).sum::<std::result::Result<f64, _>>()?))
}

fn chunklist(args: FuncArgs) -> Result {
    let list = list_arg(&args, 0)?;
    let size = usize::try_from(int_arg(&args, 1)?).map_err(|_| "chunklist: negative size")?;
    if size == 0 {
        return Ok(Value::Array(vec![Value::Array(list.clone())]));
    }
    Ok(Value::Array(list.chunks(size).map(|c| Value::Array(c.to_vec())).collect()))
}

fn setunion(args: FuncArgs) -> Result {
    let lists: Vec<&Vec<Value>> = (0..args.len()).map(|i| list_arg(&args, i)).collect::<std::result::Result<_, _>>()?;
    Ok(Value::Array(unique(lists.into_iter().flatten().cloned())))
}

fn setintersection(args: FuncArgs) -> Result {
    let first = list_arg(&args, 0)?;
    let rest: Vec<&Vec<Value>> = (1..args.len()).map(|i| list_arg(&args, i)).collect::<std::result::Result<_, _>>()?;
    let mut out: Vec<Value> = Vec::new();
    for v in first {
        if rest.iter().all(|r| r.contains(v)) && !out.contains(v) {
            out.push(v.clone());
        }
    }
    Ok(Value::Array(out))
}

fn setsubtract(args: FuncArgs) -> Result {
    let minus = list_arg(&args, 1)?;
    Ok(Value::Array(list_arg(&args, 0)?.iter().filter(|v| !minus.contains(v)).cloned().collect()))
}

fn transpose(args: FuncArgs) -> Result {
    let Value::Object(map) = arg(&args, 0)? else { return Err("transpose: not a map of lists".into()) };
    let mut out: std::collections::BTreeMap<String, Vec<Value>> = std::collections::BTreeMap::new();
    for (k, list) in map {
        for v in list.as_array().ok_or("transpose: not a map of lists")? {
            out.entry(plain(v)?).or_default().push(Value::from(k.as_str()));
        }
    }
    Ok(Value::Object(out.into_iter().map(|(k, v)| (k, Value::Array(v))).collect()))
}

fn number_map(args: &FuncArgs, f: impl Fn(f64) -> f64) -> Result {
    Ok(number(f(as_f64(arg(args, 0)?)?)))
}

fn fold_numbers(args: &FuncArgs, f: impl Fn(f64, f64) -> f64) -> Result {
    let mut values = args.iter().map(as_f64);
    let first = values.next().ok_or("needs at least one number")??;
    Ok(number(values.try_fold(first, |acc, v| v.map(|v| f(acc, v)))?))
}

fn parseint(args: FuncArgs) -> Result {
    let (s, base) = (str_arg(&args, 0)?, int_arg(&args, 1)?);
    let base = u32::try_from(base).ok().filter(|b| (2..=62).contains(b)).ok_or("parseint: base must be 2–62")?;
    if base > 36 {
        return Err(format!("{NOT_EVALUATED}: parseint with a base above 36"));
    }
    i64::from_str_radix(&s, base).map(Value::from).map_err(|e| format!("parseint: {e}"))
}

/// Terraform's `jsonencode`: keys in lexical order, no spaces.
fn jsonencode(args: FuncArgs) -> Result {
    let json = serde_json::to_value(arg(&args, 0)?).map_err(|e| e.to_string())?;
    // Go's encoder, which Terraform uses, escapes HTML-significant characters.
    let text = sorted(json).to_string().replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026");
    bounded(text)
}

fn sorted(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let mut entries: Vec<(String, serde_json::Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        serde_json::Value::Array(a) => serde_json::Value::Array(a.into_iter().map(sorted).collect()),
        other => other,
    }
}

fn jsondecode(args: FuncArgs) -> Result {
    let text = str_arg(&args, 0)?;
    let json: serde_json::Value = day2_input::json::from_str(&text).map_err(|e| format!("jsondecode: {e}"))?;
    hcl::to_value(json).map_err(|e| e.to_string())
}

fn base64_encode(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(TABLE.get(((n >> shift) & 63) as usize).copied().unwrap_or(b'=')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(b)),
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

fn tostring(args: FuncArgs) -> Result {
    match arg(&args, 0)? {
        Value::Null => Ok(Value::Null),
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(Value::String(str_arg(&args, 0)?)),
        other => Err(format!("tostring: {other} is not a primitive")),
    }
}

fn tonumber(args: FuncArgs) -> Result {
    match arg(&args, 0)? {
        Value::Null => Ok(Value::Null),
        v => Ok(number(as_f64(v)?)),
    }
}

fn tobool(args: FuncArgs) -> Result {
    match arg(&args, 0)? {
        v @ (Value::Null | Value::Bool(_)) => Ok(v.clone()),
        Value::String(s) if s == "true" => Ok(Value::Bool(true)),
        Value::String(s) if s == "false" => Ok(Value::Bool(false)),
        other => Err(format!("tobool: {other}")),
    }
}

fn tolist(args: FuncArgs) -> Result {
    match arg(&args, 0)? {
        v @ (Value::Array(_) | Value::Null) => Ok(v.clone()),
        other => Err(format!("tolist: {other} is not a list")),
    }
}

/// `toset`: distinct elements; Terraform orders a set of strings lexically.
fn toset(args: FuncArgs) -> Result {
    let items = match arg(&args, 0)? {
        Value::Array(a) => a.clone(),
        Value::Null => return Ok(Value::Null),
        other => return Err(format!("toset: {other} is not a list")),
    };
    Ok(Value::Array(set_of(items)))
}

/// A Terraform set of `items`: each value once, in [`sort_set`]'s order.
pub(super) fn set_of(mut items: Vec<Value>) -> Vec<Value> {
    sort_set(&mut items);
    unique(items)
}

/// Terraform's order of a set of strings (lexical) or of numbers (numeric); a mixed set becomes strings.
fn sort_set(items: &mut [Value]) {
    if items.iter().all(|v| matches!(v, Value::Number(_))) {
        items.sort_by(|a, b| as_f64(a).unwrap_or(0.0).total_cmp(&as_f64(b).unwrap_or(0.0)));
    } else if items.iter().all(|v| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_))) {
        for v in items.iter_mut() {
            if let Ok(s) = plain(v) {
                *v = Value::String(s);
            }
        }
        items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    }
}

fn tomap(args: FuncArgs) -> Result {
    match arg(&args, 0)? {
        v @ (Value::Object(_) | Value::Null) => Ok(v.clone()),
        other => Err(format!("tomap: {other} is not a map")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use hcl::eval::{Context, Evaluate};

    fn eval(expr: &str) -> Result<hcl::Value, String> {
        let mut ctx = Context::new();
        super::declare(&mut ctx);
        let e: hcl::Expression = expr.parse().map_err(|e: hcl::Error| e.to_string())?;
        e.evaluate(&ctx).map_err(|e| e.to_string())
    }

    fn json(expr: &str) -> serde_json::Value {
        serde_json::to_value(eval(expr).unwrap()).unwrap()
    }

    #[test]
    fn functions_give_terraform_s_answers() {
        let cases: &[(&str, serde_json::Value)] = &[
            (r#"lower("ABC")"#, "abc".into()),
            (r#"title("hello world-x_y")"#, "Hello World-x_y".into()),
            (r#"format("%s-%03d", "web", 7)"#, "web-007".into()),
            (r#"format("%-5s|", "ab")"#, "ab   |".into()),
            (r#"formatlist("%s.example.com", ["a", "b"])"#, serde_json::json!(["a.example.com", "b.example.com"])),
            (r#"join(",", ["a", "b"])"#, "a,b".into()),
            (r#"split(",", "a,b")"#, serde_json::json!(["a", "b"])),
            (r#"replace("a-b-c", "-", "_")"#, "a_b_c".into()),
            (r#"substr("hello", 1, 3)"#, "ell".into()),
            (r#"substr("hello", -3, -1)"#, "llo".into()),
            (r#"merge({a = 1}, {b = 2}, {a = 3})"#, serde_json::json!({"a": 3, "b": 2})),
            (r#"lookup({a = 1}, "b", 5)"#, 5.into()),
            (r#"element(["a", "b"], 3)"#, "b".into()),
            (r#"keys({b = 1, a = 2})"#, serde_json::json!(["a", "b"])),
            (r#"values({b = 1, a = 2})"#, serde_json::json!([2, 1])),
            (r#"flatten([["a"], ["b", ["c"]]])"#, serde_json::json!(["a", "b", "c"])),
            (r#"toset(["b", "a", "b"])"#, serde_json::json!(["a", "b"])),
            ("toset([3, 1, 2, 1])", serde_json::json!([1, 2, 3])),
            (r#"toset(["b", 1])"#, serde_json::json!(["1", "b"])),
            (
                "range(9007199254740992, 9007199254741000)",
                serde_json::json!([
                    9007199254740992i64,
                    9007199254740993i64,
                    9007199254740994i64,
                    9007199254740995i64,
                    9007199254740996i64,
                    9007199254740997i64,
                    9007199254740998i64,
                    9007199254740999i64
                ]),
            ),
            (r#"format("%05d", -5)"#, "-0005".into()),
            (r#"jsonencode("<&>")"#, r#""\u003c\u0026\u003e""#.into()),
            (r#"merge({b = 1}, {a = 2})"#, serde_json::json!({"a": 2, "b": 1})),
            (r#"range(3)"#, serde_json::json!([0, 1, 2])),
            (r#"range(1, 7, 2)"#, serde_json::json!([1, 3, 5])),
            (r#"zipmap(["a", "b"], [1, 2])"#, serde_json::json!({"a": 1, "b": 2})),
            (r#"coalesce("", "x")"#, "x".into()),
            (r#"max(1, 5, 3)"#, 5.into()),
            (r#"jsonencode({b = [1, true], a = "x"})"#, r#"{"a":"x","b":[1,true]}"#.into()),
            (r#"jsondecode("{\"a\": [1]}")"#, serde_json::json!({"a": [1]})),
            (r#"base64encode("hello")"#, "aGVsbG8=".into()),
            (r#"urlencode("a b/c")"#, "a+b%2Fc".into()),
            (r#"one([])"#, serde_json::Value::Null),
            (r#"alltrue([true, "true"])"#, true.into()),
            (r#"transpose({a = ["1", "2"], b = ["2"]})"#, serde_json::json!({"1": ["a"], "2": ["a", "b"]})),
        ];
        for (expr, want) in cases {
            assert_eq!(&json(expr), want, "{expr}");
        }
    }

    #[test]
    fn what_cannot_be_computed_is_an_error_not_a_guess() {
        for expr in [
            r#"replace("abc", "/b/", "x")"#,
            "range(100000000)",
            r#"format("%999999999d", 1)"#,
            "timestamp()",
            r#"lookup({}, "missing")"#,
            "element([], 0)",
        ] {
            assert!(eval(expr).is_err(), "{expr} should not evaluate");
        }
    }
}
