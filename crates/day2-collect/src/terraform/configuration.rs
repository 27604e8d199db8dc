//! Terraform configuration read from its HCL (`.tf` files), the way `terraform plan` would see it before any
//! provider is asked: variables (defaults, `terraform.tfvars`, `*.auto.tfvars`, configured var files and values),
//! locals, `count` and `for_each`, `dynamic` blocks, local modules (`source = "./…"`) with their inputs and outputs,
//! and the built-in functions of [`super::functions`].
//!
//! Resources come out in the shape of `terraform show -json`'s `planned_values`, so the same checks read HCL, plans
//! and state: nested blocks are lists of objects, and a value that cannot be known before apply (another resource's
//! computed attribute, a data source, an unset variable, a function day2 does not evaluate) is **absent**, which
//! checks read as unknown, never as a failure. Expressions that reference other resources give `References`
//! relations, `depends_on` gives `DependsOn`, as configuration does in plans.
//!
//! Modules are directories. Of the `.tf` files given, those in a directory that another given directory calls as a
//! local module are read through that call (with its inputs), not as a root of their own. Module sources outside the
//! given paths and the working directory, and registry or Git sources, are not read (a note says so).

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use day2_model::{DeclaredAttributes, Diagnostic, DiagnosticKind, RelationKind, ResourceId, redact};
use hcl::Value;
use hcl::edit::Span;
use hcl::edit::expr::{Expression as EditExpr, TraversalOperator};
use hcl::edit::structure::{Block, Body};
use hcl::edit::visit::{Visit, visit_traversal};
use hcl::eval::{Context, Evaluate};

use super::types::{Type, sorted};
use super::{Parsed, TerraformConfig, functions, json_syntax};
use crate::source::{canonical, normalize};
use day2_input::files::{self, Input};

/// Deepest chain of module calls followed (Terraform itself has no limit; cycles and absurd depth stop here).
const MAX_MODULE_DEPTH: usize = 16;
/// Most instances one `count` or `for_each` expands to.
const MAX_INSTANCES: usize = 10_000;

/// Reads the modules made of `files` (`.tf` files, grouped by directory) into `out`, one root per directory that no
/// other of them calls. `scope_of` gives the resource-id scope of a root directory.
pub(super) fn read_files(
    files: &[PathBuf],
    config: &TerraformConfig,
    source: &str,
    scope_of: &dyn Fn(&Path) -> String,
) -> Parsed {
    let mut out = Parsed::default();
    let mut by_dir: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for f in files {
        by_dir.entry(f.parent().map(Path::to_path_buf).unwrap_or_default()).or_default().push(f.clone());
    }
    let allowed = allowed_roots(by_dir.keys());
    let mut modules: BTreeMap<PathBuf, Module> = BTreeMap::new();
    for (dir, files) in &by_dir {
        modules.insert(dir.clone(), Module::load(files, config, &mut out.diagnostics));
    }
    let called: HashSet<PathBuf> =
        modules.iter().flat_map(|(dir, m)| m.local_calls(dir).into_iter().map(|(_, d)| canonical(&d))).collect();
    for (dir, module) in &modules {
        if !called.contains(&canonical(dir)) {
            read_root(module, dir, &scope_of(dir), config, source, &allowed, &mut out);
        }
    }
    out
}

/// Reads one configuration file as a root module of its own (modules it calls are read from disk, within the
/// file's folder and its repository).
pub(super) fn parse(text: &str, file: &str, scope: &str, source: &str, config: &TerraformConfig) -> Parsed {
    let mut out = Parsed::default();
    let module = match File::parse(file.to_owned(), text) {
        Ok(f) => Module { files: vec![f] },
        Err(d) => {
            out.diagnostics.push(d);
            return out;
        }
    };
    let dir = Path::new(file).parent().map(Path::to_path_buf).unwrap_or_default();
    let allowed = allowed_roots(std::iter::once(&dir));
    read_root(&module, &dir, scope, config, source, &allowed, &mut out);
    out
}

fn read_root(
    module: &Module,
    dir: &Path,
    scope: &str,
    config: &TerraformConfig,
    source: &str,
    allowed: &[PathBuf],
    out: &mut Parsed,
) {
    let inputs = root_inputs(dir, config, out);
    let mut reader = Reader {
        config,
        source,
        scope,
        allowed,
        out,
        by_config_address: HashMap::new(),
        refs: Vec::new(),
        stack: vec![canonical(dir)],
        root: dir,
        loaded: HashMap::new(),
        budget: ROOT_INSTANCE_BUDGET,
        oversized: Rc::default(),
    };
    reader.module(module, dir, "", Inputs { values: inputs, ..Inputs::default() });
    reader.resolve();
    if reader.oversized.get() {
        let why = format!("a value larger than the limit ({MAX_VALUE_WEIGHT} elements) was left unknown");
        out.diagnostics.push(Diagnostic::new(DiagnosticKind::Limit, display_dir(dir), None, why));
    }
}

fn display_dir(dir: &Path) -> String {
    if dir.as_os_str().is_empty() { ".".to_owned() } else { dir.display().to_string() }
}

/// The directories local module sources may resolve into, with all that is below them: the given ones and the
/// repository each is in (the nearest folder above it with a `.git`), so `source = "../../modules/vpc"` works
/// within a repository and leads nowhere outside it.
fn allowed_roots<'a>(dirs: impl Iterator<Item = &'a PathBuf>) -> Vec<PathBuf> {
    let mut roots = Vec::new();
    for dir in dirs {
        let dir = canonical(dir);
        if let Some(repository) = dir.ancestors().find(|a| a.join(".git").exists()) {
            roots.push(repository.to_path_buf());
        }
        roots.push(dir);
    }
    roots
}

/// One `.tf` (or `.tf.json`) file: its text's line starts and its parsed body.
struct File {
    display: String,
    newlines: Vec<usize>,
    body: Body,
    /// For JSON syntax: the JSON file's line of each line of the native text that was parsed.
    json_lines: Option<Vec<u32>>,
}

impl File {
    fn parse(display: String, text: &str) -> Result<File, Diagnostic> {
        if display.ends_with(".json") {
            let rewritten = json_syntax::rewrite(text)
                .map_err(|(line, message)| Diagnostic::new(DiagnosticKind::Syntax, display.clone(), line, message))?;
            let mut file = File::parse_native(display, &rewritten.text)?;
            file.json_lines = Some(rewritten.lines);
            return Ok(file);
        }
        File::parse_native(display, text)
    }

    fn parse_native(display: String, text: &str) -> Result<File, Diagnostic> {
        match hcl::edit::parser::parse_body(text) {
            Ok(body) => Ok(File {
                display,
                newlines: text.match_indices('\n').map(|(i, _)| i).collect(),
                body,
                json_lines: None,
            }),
            Err(e) => Err(Diagnostic::new(
                DiagnosticKind::Syntax,
                display,
                u32::try_from(e.location().line()).ok(),
                format!("invalid HCL: {} (column {})", e.message(), e.location().column()),
            )),
        }
    }

    fn line(&self, span: Option<std::ops::Range<usize>>) -> u32 {
        let offset = span.map_or(0, |s| s.start);
        let line = self.newlines.partition_point(|&n| n < offset);
        match &self.json_lines {
            Some(map) => map.get(line).copied().unwrap_or(1),
            None => 1 + line as u32,
        }
    }
}

/// A block and the file it is in.
struct Located<'a> {
    file: &'a File,
    block: &'a Block,
}

/// One module: the parsed `.tf` files of a directory.
struct Module {
    files: Vec<File>,
}

impl Module {
    fn load(paths: &[PathBuf], config: &TerraformConfig, diagnostics: &mut Vec<Diagnostic>) -> Module {
        let mut files = Vec::new();
        for path in paths {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let stem = name.trim_end_matches(".json").trim_end_matches(".tf");
            if stem == "override" || stem.ends_with("_override") {
                let why = "an override file: day2 does not merge overrides yet, so it is not read";
                diagnostics.push(Diagnostic::new(DiagnosticKind::NotRead, path.display().to_string(), None, why));
                continue;
            }
            let Some((display, text)) = read(path, config, diagnostics) else { continue };
            match File::parse(display, &text) {
                Ok(file) => files.push(file),
                Err(d) => diagnostics.push(d),
            }
        }
        Module { files }
    }

    /// Reads every `.tf` file of a module directory.
    fn load_dir(dir: &Path, config: &TerraformConfig, diagnostics: &mut Vec<Diagnostic>) -> Module {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| super::is_configuration(p))
            .filter(|p| regular(p, diagnostics))
            .collect();
        paths.sort();
        Module::load(&paths, config, diagnostics)
    }

    fn blocks<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = Located<'a>> + 'a {
        self.files.iter().flat_map(move |file| file.body.get_blocks(kind).map(move |block| Located { file, block }))
    }

    /// `module` blocks with a local `source`, and the directory each names.
    fn local_calls(&self, dir: &Path) -> Vec<(String, PathBuf)> {
        self.blocks("module")
            .filter_map(|m| {
                let name = m.block.labels.first()?.as_str().to_owned();
                let source = literal_string(m.block.body.get_attribute("source").map(|a| &a.value)?)?;
                is_local(&source).then(|| (name, join(dir, &source)))
            })
            .collect()
    }
}

/// The text of a file and its name for messages; a file that cannot be read is a diagnostic.
fn read(path: &Path, config: &TerraformConfig, diagnostics: &mut Vec<Diagnostic>) -> Option<(String, String)> {
    let input = Input::File(path.to_path_buf());
    let display = input.display();
    match files::read_text(&input, config.limits.max_file_bytes) {
        Ok(text) => Some((display, text)),
        Err(e) => {
            diagnostics.push(Diagnostic::new(DiagnosticKind::Unreadable, display, None, e.to_string()));
            None
        }
    }
}

/// Is `path` a regular file (not a symbolic link, which could lead outside the repository)? A link is noted.
fn regular(path: &Path, diagnostics: &mut Vec<Diagnostic>) -> bool {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => true,
        Ok(m) if m.file_type().is_symlink() => {
            let why = "a symbolic link: not followed, so not read";
            diagnostics.push(Diagnostic::new(DiagnosticKind::NotRead, path.display().to_string(), None, why));
            false
        }
        _ => false,
    }
}

/// `dir` joined with a relative module source, without the `.` steps (`./modules/net`, not `././modules/net`).
fn join(dir: &Path, source: &str) -> PathBuf {
    let mut out = dir.to_path_buf();
    for c in Path::new(source).components() {
        if c != std::path::Component::CurDir {
            out.push(c);
        }
    }
    out
}

fn is_local(source: &str) -> bool {
    source.starts_with("./") || source.starts_with("../")
}

fn literal_string(expr: &EditExpr) -> Option<String> {
    match expr {
        EditExpr::String(s) => Some(s.value().clone()),
        EditExpr::StringTemplate(_) => match hcl::Expression::from(expr.clone()) {
            hcl::Expression::String(s) => Some(s),
            hcl::Expression::TemplateExpr(t) => match *t {
                hcl::expr::TemplateExpr::QuotedString(s) if !s.contains("${") && !s.contains("%{") => Some(s),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

/// Variable values of a root module: `terraform.tfvars`, then `*.auto.tfvars` in lexical order (both in the
/// module's directory), then the configured var files, then the configured values, later ones winning, as
/// Terraform orders them.
fn root_inputs(dir: &Path, config: &TerraformConfig, out: &mut Parsed) -> hcl::Map<String, Value> {
    let mut files: Vec<PathBuf> = Vec::new();
    for name in ["terraform.tfvars", "terraform.tfvars.json"] {
        let p = dir.join(name);
        if p.symlink_metadata().is_ok() && regular(&p, &mut out.diagnostics) {
            files.push(p);
        }
    }
    let mut auto: Vec<PathBuf> = std::fs::read_dir(if dir.as_os_str().is_empty() { Path::new(".") } else { dir })
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            n.ends_with(".auto.tfvars") || n.ends_with(".auto.tfvars.json")
        })
        .collect();
    auto.retain(|p| regular(p, &mut out.diagnostics));
    auto.sort();
    files.extend(auto);
    files.extend(config.var_files.iter().cloned());
    let mut values = hcl::Map::new();
    for path in files {
        values.extend(read_tfvars(&path, config, &mut out.diagnostics).into_iter().map(|(k, v)| (k, sorted(v))));
    }
    for (k, v) in &config.vars {
        if let Ok(v) = hcl::to_value(v) {
            values.insert(k.clone(), v);
        }
    }
    values
}

fn read_tfvars(path: &Path, config: &TerraformConfig, diagnostics: &mut Vec<Diagnostic>) -> hcl::Map<String, Value> {
    let Some((display, text)) = read(path, config, diagnostics) else { return hcl::Map::new() };
    if display.ends_with(".json") {
        return match day2_input::json::from_str(&text) {
            Ok(serde_json::Value::Object(m)) => {
                m.into_iter().filter_map(|(k, v)| Some((k, hcl::to_value(v).ok()?))).collect()
            }
            Ok(_) => {
                diagnostics.push(Diagnostic::new(DiagnosticKind::Schema, display, Some(1), "must be a JSON object"));
                hcl::Map::new()
            }
            Err(e) => {
                let line = u32::try_from(e.line()).ok();
                diagnostics.push(Diagnostic::new(DiagnosticKind::Syntax, display, line, format!("invalid JSON: {e}")));
                hcl::Map::new()
            }
        };
    }
    let body = match hcl::edit::parser::parse_body(&text) {
        Ok(b) => b,
        Err(e) => {
            let line = u32::try_from(e.location().line()).ok();
            diagnostics.push(Diagnostic::new(
                DiagnosticKind::Syntax,
                display,
                line,
                format!("invalid HCL: {}", e.message()),
            ));
            return hcl::Map::new();
        }
    };
    let scope = Scope::plain();
    body.attributes().filter_map(|a| Some((a.key.as_str().to_owned(), evaluate(&a.value, &scope)?))).collect()
}

/// A context with Terraform's functions and nothing else.
fn base_context() -> Context<'static> {
    let mut ctx = Context::new();
    functions::declare(&mut ctx);
    ctx
}

/// Largest value one expression may produce (elements plus string bytes / 16); a larger one is left unknown and
/// reported, so doubling locals or templates cannot exhaust memory.
const MAX_VALUE_WEIGHT: usize = 1_000_000;
/// Most resource and module instances one root may expand to, over all its modules.
const ROOT_INSTANCE_BUDGET: usize = 20_000;

/// Where expressions of one module instance are evaluated: the context, and the names declared there whose value
/// is unknown (a variable without a value, a local not computable, a module input not known), so that `try` does not
/// take their absence for a failure.
#[derive(Clone)]
struct Scope<'c> {
    ctx: Context<'c>,
    unknown: BTreeSet<String>,
    /// Set when a value was left unknown for being over [`MAX_VALUE_WEIGHT`] (shared by clones).
    oversized: Rc<Cell<bool>>,
}

impl Scope<'static> {
    fn plain() -> Self {
        Scope { ctx: base_context(), unknown: BTreeSet::new(), oversized: Rc::default() }
    }
}

/// The value of an expression, or `None` when it cannot be known before apply.
fn evaluate(expr: &EditExpr, scope: &Scope<'_>) -> Option<Value> {
    let mut e = hcl::Expression::from(expr.clone());
    resolve_lazy(&mut e, scope);
    let value = guarded(&e, &scope.ctx).ok()?;
    if weight(&value) > MAX_VALUE_WEIGHT {
        scope.oversized.set(true);
        return None;
    }
    Some(value)
}

/// Evaluates with hcl-rs, whose integer arithmetic panics on `x % 0` and on overflow in debug builds: a panic is an
/// unknown value (no error kind), never a crash of the scan.
fn guarded(e: &hcl::Expression, ctx: &Context<'_>) -> Result<Value, Option<Box<hcl::eval::ErrorKind>>> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| e.evaluate(ctx))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(error)) => Err(Some(Box::new(error.into_kind()))),
        Err(_) => Err(None),
    }
}

/// Elements plus string bytes / 16: a measure of what a value costs to hold and copy.
fn weight(v: &Value) -> usize {
    match v {
        Value::String(s) => 1 + s.len() / 16,
        Value::Array(items) => items.iter().fold(1usize, |n, i| n.saturating_add(weight(i))),
        Value::Object(m) => {
            m.iter().fold(1usize, |n, (k, i)| n.saturating_add(1 + k.len() / 16).saturating_add(weight(i)))
        }
        _ => 1,
    }
}

/// Terraform evaluates `try(…)` and `can(…)` lazily: an argument that fails is skipped. hcl-rs evaluates arguments
/// first, so these calls are replaced by their result beforehand, where it is known. An argument whose failure may
/// only mean "unknown until apply" (see [`maybe_unknown`]) leaves the call in place, and the enclosing value unknown.
fn resolve_lazy(expr: &mut hcl::Expression, scope: &Scope<'_>) {
    use hcl::Expression as E;
    match expr {
        E::FuncCall(call) if call.name.namespace.is_empty() && matches!(call.name.name.as_str(), "try" | "can") => {
            call.args.iter_mut().for_each(|a| resolve_lazy(a, scope));
            let is_try = call.name.name.as_str() == "try";
            let mut result = None;
            for a in &call.args {
                match guarded(a, &scope.ctx) {
                    Ok(v) => {
                        result = Some(if is_try { v } else { Value::Bool(true) });
                        break;
                    }
                    Err(None) => return,
                    Err(Some(kind)) if maybe_unknown(&kind, a, &scope.unknown) => return,
                    Err(Some(_)) if is_try => {}
                    Err(Some(_)) => {
                        result = Some(Value::Bool(false));
                        break;
                    }
                }
            }
            if let Some(v) = result {
                *expr = E::from(v);
            }
        }
        E::Array(items) => items.iter_mut().for_each(|a| resolve_lazy(a, scope)),
        E::Object(o) => o.values_mut().for_each(|v| resolve_lazy(v, scope)),
        E::FuncCall(call) => call.args.iter_mut().for_each(|a| resolve_lazy(a, scope)),
        E::Parenthesis(inner) => resolve_lazy(inner, scope),
        E::Conditional(c) => {
            resolve_lazy(&mut c.cond_expr, scope);
            resolve_lazy(&mut c.true_expr, scope);
            resolve_lazy(&mut c.false_expr, scope);
        }
        E::Operation(op) => match op.as_mut() {
            hcl::expr::Operation::Unary(u) => resolve_lazy(&mut u.expr, scope),
            hcl::expr::Operation::Binary(b) => {
                resolve_lazy(&mut b.lhs_expr, scope);
                resolve_lazy(&mut b.rhs_expr, scope);
            }
        },
        E::Traversal(t) => resolve_lazy(&mut t.expr, scope),
        _ => {}
    }
}

/// Errors that may mean "not known before apply" rather than "fails": a name not declared (a resource, data
/// source, `for` variable, a function day2 does not evaluate), a variable, local or module output whose value is
/// unknown, or a function result day2 does not compute.
fn maybe_unknown(kind: &hcl::eval::ErrorKind, expr: &hcl::Expression, unknown: &BTreeSet<String>) -> bool {
    use hcl::eval::ErrorKind as K;
    match kind {
        K::UndefinedVar(_) | K::UndefinedFunc(_) => true,
        K::NoSuchKey(key) => unknown.contains(key) || reads_root(expr, "module"),
        K::Index(_) => reads_root(expr, "module"),
        K::FuncCall(_, message) => message.contains(functions::NOT_EVALUATED),
        _ => false,
    }
}

/// Does the expression read a name under `root` (`module.net.id` under `module`)?
fn reads_root(expr: &hcl::Expression, root: &str) -> bool {
    use hcl::Expression as E;
    match expr {
        E::Variable(v) => v.as_str() == root,
        E::Traversal(t) => reads_root(&t.expr, root),
        E::Array(items) => items.iter().any(|e| reads_root(e, root)),
        E::Object(o) => o.values().any(|e| reads_root(e, root)),
        E::FuncCall(call) => call.args.iter().any(|e| reads_root(e, root)),
        E::Parenthesis(inner) => reads_root(inner, root),
        E::Conditional(c) => [&c.cond_expr, &c.true_expr, &c.false_expr].into_iter().any(|e| reads_root(e, root)),
        E::Operation(op) => match op.as_ref() {
            hcl::expr::Operation::Unary(u) => reads_root(&u.expr, root),
            hcl::expr::Operation::Binary(b) => reads_root(&b.lhs_expr, root) || reads_root(&b.rhs_expr, root),
        },
        E::ForExpr(f) => reads_root(&f.collection_expr, root),
        // A template's interpolations are not parsed here: assume it may.
        E::TemplateExpr(t) => t.to_string().contains(root),
        _ => false,
    }
}

/// The roots of references that name no resource.
const NOT_RESOURCES: &[&str] = &["var", "local", "each", "count", "path", "self", "module", "terraform", "data"];

/// Names an expression reads: `(root, first attribute)` pairs (`("var", "env")`, `("aws_s3_bucket", "logs")`);
/// `var["env"]` reads `("var", "env")`, and a bare `var` or a computed key reads `("var", "*")`.
#[derive(Default)]
struct Reads(BTreeSet<(String, String)>);

impl Visit for Reads {
    fn visit_expr(&mut self, expr: &EditExpr) {
        match expr {
            EditExpr::Variable(v) => {
                self.0.insert((v.as_str().to_owned(), "*".to_owned()));
            }
            other => hcl::edit::visit::visit_expr(self, other),
        }
    }

    fn visit_traversal(&mut self, node: &hcl::edit::expr::Traversal) {
        let EditExpr::Variable(root) = &node.expr else { return visit_traversal(self, node) };
        let first = match node.operators.first().map(|o| o.value()) {
            Some(TraversalOperator::GetAttr(attr)) => attr.as_str().to_owned(),
            Some(TraversalOperator::Index(EditExpr::String(key))) => key.value().clone(),
            _ => "*".to_owned(),
        };
        self.0.insert((root.as_str().to_owned(), first));
        for op in &node.operators {
            hcl::edit::visit::visit_traversal_operator(self, op.value());
        }
    }
}

fn reads_of_expr(expr: &EditExpr) -> Reads {
    let mut r = Reads::default();
    r.visit_expr(expr);
    r
}

/// Walks modules and produces resources; one per root.
struct Reader<'a> {
    config: &'a TerraformConfig,
    source: &'a str,
    scope: &'a str,
    allowed: &'a [PathBuf],
    out: &'a mut Parsed,
    /// Configuration address → instance ids, to resolve references.
    by_config_address: HashMap<String, Vec<ResourceId>>,
    /// (from, configuration address of the target, kind).
    refs: Vec<(ResourceId, String, RelationKind)>,
    /// Canonical directories of the modules being read, outermost first (cycle detection).
    stack: Vec<PathBuf>,
    /// The root module's directory, as given (for `path.module`).
    root: &'a Path,
    /// Modules read so far, by canonical directory: a module called many times is parsed once.
    loaded: HashMap<PathBuf, Rc<Module>>,
    /// Instances this root may still expand to.
    budget: usize,
    /// Set when a value was left unknown for its size.
    oversized: Rc<Cell<bool>>,
}

/// What a module call gives its module.
#[derive(Default)]
struct Inputs {
    /// Variable values.
    values: hcl::Map<String, Value>,
    /// Variables given a value that is unknown: never their default.
    unknown: BTreeSet<String>,
    /// Variables given a sensitive value.
    sensitive: BTreeSet<String>,
}

/// What one module instance evaluated to.
struct Evaluated {
    /// Its outputs, where known.
    outputs: hcl::Map<String, Value>,
    /// An output is sensitive, or computed from a sensitive value.
    sensitive: bool,
}

impl Reader<'_> {
    /// Reads one module instance: `prefix` is its address with a trailing dot (`module.net.`, empty for the root).
    fn module(&mut self, module: &Module, dir: &Path, prefix: &str, inputs: Inputs) -> Evaluated {
        let mut vars = hcl::Map::new();
        let mut unknown = BTreeSet::new();
        let mut taint = Taint { vars: inputs.sensitive, ..Taint::default() };
        let plain = Scope::plain();
        for v in module.blocks("variable") {
            let Some(name) = v.block.labels.first().map(|l| l.as_str().to_owned()) else { continue };
            let attribute = |key: &str| v.block.body.get_attribute(key).and_then(|a| evaluate(&a.value, &plain));
            if attribute("sensitive") == Some(Value::Bool(true)) {
                taint.vars.insert(name.clone());
            }
            let value = match inputs.values.get(&name) {
                Some(given) => Some(given.clone()),
                None if inputs.unknown.contains(&name) => None,
                None => attribute("default"),
            };
            let kind =
                v.block.body.get_attribute("type").and_then(|a| Type::parse(&hcl::Expression::from(a.value.clone())));
            match value {
                Some(value) => {
                    let value = kind.map_or(value.clone(), |k| k.convert(value));
                    vars.insert(name, sorted(value));
                }
                None => {
                    unknown.insert(name);
                }
            }
        }
        let mut scope = Scope { ctx: base_context(), unknown, oversized: self.oversized.clone() };
        scope.ctx.declare_var("var", Value::Object(vars));
        let mut path = hcl::Map::new();
        path.insert("module".to_owned(), Value::from(relative_to(dir, self.root)));
        path.insert("root".to_owned(), Value::from("."));
        scope.ctx.declare_var("path", Value::Object(path));
        self.locals(module, &mut scope, &mut taint);
        self.module_calls(module, dir, prefix, &mut scope, &mut taint);
        let providers = required_providers(module, &scope);
        for r in module.blocks("resource") {
            self.resource(&r, prefix, &scope, &taint, &providers);
        }
        let mut evaluated = Evaluated { outputs: hcl::Map::new(), sensitive: false };
        for o in module.blocks("output") {
            let Some(name) = o.block.labels.first().map(|l| l.as_str().to_owned()) else { continue };
            let Some(value) = o.block.body.get_attribute("value") else { continue };
            let marked = o.block.body.get_attribute("sensitive").and_then(|a| evaluate(&a.value, &scope));
            if marked == Some(Value::Bool(true)) || taint.reads_sensitive(&reads_of_expr(&value.value)) {
                evaluated.sensitive = true;
            }
            if let Some(v) = evaluate(&value.value, &scope) {
                evaluated.outputs.insert(name, sorted(v));
            }
        }
        evaluated
    }

    /// Evaluates `locals` until no more become known (the rest are unknown); notes in `taint` those derived from
    /// sensitive values.
    fn locals(&mut self, module: &Module, scope: &mut Scope<'_>, taint: &mut Taint) {
        let defs: Vec<(String, &EditExpr)> = module
            .blocks("locals")
            .flat_map(|l| l.block.body.attributes().map(|a| (a.key.as_str().to_owned(), &a.value)))
            .collect();
        let mut known = hcl::Map::new();
        let mut pending: Vec<usize> = (0..defs.len()).collect();
        let names = |pending: &[usize]| -> BTreeSet<String> {
            pending.iter().filter_map(|&i| defs.get(i).map(|(n, _)| n.clone())).collect()
        };
        let unknown_before = scope.unknown.clone();
        loop {
            scope.ctx.declare_var("local", Value::Object(known.clone()));
            scope.unknown = unknown_before.union(&names(&pending)).cloned().collect();
            let before = pending.len();
            pending.retain(|&i| {
                let Some((name, expr)) = defs.get(i) else { return false };
                match evaluate(expr, scope) {
                    Some(v) => {
                        known.insert(name.clone(), sorted(v));
                        false
                    }
                    None => true,
                }
            });
            if pending.len() == before {
                break;
            }
        }
        scope.ctx.declare_var("local", Value::Object(known));
        loop {
            let before = taint.locals.len();
            for (name, expr) in &defs {
                if taint.reads_sensitive(&reads_of_expr(expr)) {
                    taint.locals.insert(name.clone());
                }
            }
            if taint.locals.len() == before {
                return;
            }
        }
    }

    /// Reads the local modules a module calls, in order, declaring `module.<name>` (outputs, by instance key when
    /// the call has `count` or `for_each`) as each is read, so later calls and resources see it.
    fn module_calls(&mut self, module: &Module, dir: &Path, prefix: &str, scope: &mut Scope<'_>, taint: &mut Taint) {
        let mut values = hcl::Map::new();
        for call in module.blocks("module") {
            let Some(name) = call.block.labels.first().map(|l| l.as_str().to_owned()) else { continue };
            let Some(child_dir) = self.module_dir(&call, &name, dir) else { continue };
            let canonical_dir = canonical(&child_dir);
            let child = match self.loaded.get(&canonical_dir) {
                Some(m) => m.clone(),
                None => {
                    let m = Rc::new(Module::load_dir(&child_dir, self.config, &mut self.out.diagnostics));
                    self.loaded.insert(canonical_dir.clone(), m.clone());
                    m
                }
            };
            let Some(instances) = self.instances(&call, scope) else { continue };
            let call_taint = taint.bound("each", &call, "for_each");
            let keyed = !matches!(instances.as_slice(), [Instance { key: None, .. }]);
            let (mut by_key, mut list) = (hcl::Map::new(), Vec::new());
            let mut bound = None;
            for instance in instances {
                let at = instance.bind(scope, &mut bound);
                let mut inputs = Inputs::default();
                for attr in call.block.body.attributes() {
                    let key = attr.key.as_str();
                    if matches!(key, "source" | "version" | "count" | "for_each" | "providers" | "depends_on") {
                        continue;
                    }
                    match evaluate(&attr.value, at) {
                        Some(v) => {
                            inputs.values.insert(key.to_owned(), v);
                        }
                        None => {
                            inputs.unknown.insert(key.to_owned());
                        }
                    }
                    if call_taint.reads_sensitive(&reads_of_expr(&attr.value)) {
                        inputs.sensitive.insert(key.to_owned());
                    }
                }
                let address = format!("{prefix}module.{name}{}", instance.suffix());
                self.stack.push(canonical_dir.clone());
                let evaluated = self.module(&child, &child_dir, &format!("{address}."), inputs);
                self.stack.pop();
                if evaluated.sensitive {
                    taint.modules.insert(name.clone());
                }
                let outputs = Value::Object(evaluated.outputs);
                match &instance.key {
                    Some(InstanceKey::Index(_)) => list.push(outputs),
                    Some(InstanceKey::Key(k)) => {
                        by_key.insert(k.clone(), outputs);
                    }
                    None => {
                        values.insert(name.clone(), outputs);
                    }
                }
            }
            if keyed {
                by_key.sort_keys();
                values.insert(name, if list.is_empty() { Value::Object(by_key) } else { Value::Array(list) });
            }
            scope.ctx.declare_var("module", Value::Object(values.clone()));
        }
        scope.ctx.declare_var("module", Value::Object(values));
    }

    /// The folder a `module` block's local source names, when it may be read; a note says why not otherwise.
    fn module_dir(&mut self, call: &Located<'_>, name: &str, dir: &Path) -> Option<PathBuf> {
        let source = call.block.body.get_attribute("source").and_then(|a| literal_string(&a.value))?;
        let line = call.file.line(call.block.span());
        if !is_local(&source) {
            let why = format!("module `{name}`: source `{source}` is not a local path; its resources are not read");
            self.note(call.file, line, why);
            return None;
        }
        let child_dir = join(dir, &source);
        let canonical_dir = canonical(&child_dir);
        if !self.allowed.iter().any(|root| canonical_dir.starts_with(root)) {
            let why = format!("module `{name}`: `{source}` is outside the paths read and their repository; not read");
            self.note(call.file, line, why);
            return None;
        }
        if self.stack.contains(&canonical_dir) || self.stack.len() >= MAX_MODULE_DEPTH {
            let why =
                format!("module `{name}`: calls itself, or modules nest deeper than {MAX_MODULE_DEPTH}; not read");
            self.note(call.file, line, why);
            return None;
        }
        if !child_dir.is_dir() {
            self.out.diagnostics.push(Diagnostic::new(
                DiagnosticKind::Config,
                call.file.display.clone(),
                Some(line),
                format!("module `{name}`: source `{source}` is not a directory"),
            ));
            return None;
        }
        Some(child_dir)
    }

    /// The instances `count` or `for_each` make of a block; `None` when there are none to read (`count = 0`, too
    /// many). An unknown count or `for_each` gives one instance without a key: its known attributes are still the
    /// configuration's.
    fn instances(&mut self, at: &Located<'_>, scope: &Scope<'_>) -> Option<Vec<Instance>> {
        let body = &at.block.body;
        let line = at.file.line(at.block.span());
        let instances: Vec<Instance> = if let Some(count) = body.get_attribute("count") {
            let n = evaluate(&count.value, scope).and_then(|v| match v {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            });
            match n {
                None => vec![Instance { key: None, binding: None }],
                Some(n) if n > MAX_INSTANCES as u64 => {
                    self.limit(at.file, line, format!("count = {n} is more than {MAX_INSTANCES} instances; not read"));
                    return None;
                }
                Some(n) => (0..n)
                    .map(|i| {
                        let mut count = hcl::Map::new();
                        count.insert("index".to_owned(), Value::from(i));
                        Instance { key: Some(InstanceKey::Index(i)), binding: Some(("count", Value::Object(count))) }
                    })
                    .collect(),
            }
        } else if let Some(for_each) = body.get_attribute("for_each") {
            let entries: Option<Vec<(String, Value)>> = match evaluate(&for_each.value, scope) {
                Some(Value::Object(m)) => Some(m.into_iter().collect()),
                Some(Value::Array(a)) => {
                    Some(a.into_iter().filter_map(|v| v.as_str().map(|s| (s.to_owned(), Value::from(s)))).collect())
                }
                _ => None,
            };
            match entries {
                None => vec![Instance { key: None, binding: None }],
                Some(entries) if entries.len() > MAX_INSTANCES => {
                    self.limit(at.file, line, format!("for_each has more than {MAX_INSTANCES} entries; not read"));
                    return None;
                }
                Some(entries) => entries
                    .into_iter()
                    .map(|(k, v)| {
                        let mut each = hcl::Map::new();
                        each.insert("key".to_owned(), Value::from(k.as_str()));
                        each.insert("value".to_owned(), v);
                        Instance { key: Some(InstanceKey::Key(k)), binding: Some(("each", Value::Object(each))) }
                    })
                    .collect(),
            }
        } else {
            vec![Instance { key: None, binding: None }]
        };
        if instances.len() > self.budget {
            let why = format!("this root expands to more than {ROOT_INSTANCE_BUDGET} instances; the rest is not read");
            self.limit(at.file, line, why);
            self.budget = 0;
            return None;
        }
        self.budget -= instances.len();
        Some(instances)
    }

    fn resource(
        &mut self,
        at: &Located<'_>,
        prefix: &str,
        scope: &Scope<'_>,
        taint: &Taint,
        providers: &BTreeMap<String, String>,
    ) {
        let (Some(kind), Some(name)) = (at.block.labels.first(), at.block.labels.get(1)) else { return };
        let (kind, name) = (kind.as_str(), name.as_str());
        let line = at.file.line(at.block.span());
        let local_provider = at
            .block
            .body
            .get_attribute("provider")
            .and_then(|p| match &p.value {
                EditExpr::Traversal(t) => match &t.expr {
                    EditExpr::Variable(v) => Some(v.as_str().to_owned()),
                    _ => None,
                },
                EditExpr::Variable(v) => Some(v.as_str().to_owned()),
                _ => None,
            })
            .unwrap_or_else(|| kind.split('_').next().unwrap_or(kind).to_owned());
        let provider = match providers.get(&local_provider) {
            Some(source) => source.clone(),
            None if local_provider == "terraform" => "terraform.io/builtin/terraform".to_owned(),
            None => format!("registry.terraform.io/hashicorp/{local_provider}"),
        };
        let Some(instances) = self.instances(at, scope) else { return };
        let taint = taint.bound("each", at, "for_each");
        let module = prefix.strip_suffix('.').filter(|m| !m.is_empty());
        let mut reads = Reads::default();
        reads.visit_body(&at.block.body);
        let mut bound = None;
        for instance in instances {
            let address = format!("{prefix}{kind}.{name}{}", instance.suffix());
            let instance_scope = instance.bind(scope, &mut bound);
            let mut attributes = DeclaredAttributes::default();
            let place = Place { file: at.file, pointer: String::new(), lines: &mut attributes };
            let attrs = serde_json::Value::Object(self.body(&at.block.body, instance_scope, &taint, true, place));
            let id = super::declared_resource(
                &mut self.out.resources,
                super::Declared {
                    scope: self.scope,
                    source: self.source,
                    kind,
                    address: &address,
                    module,
                    provider: &provider,
                    file: &at.file.display,
                    line,
                    attributes,
                },
                attrs,
            );
            self.by_config_address.entry(super::config_address(&address)).or_default().push(id.clone());
            for (root, attr) in &reads.0 {
                if !NOT_RESOURCES.contains(&root.as_str()) {
                    self.refs.push((id.clone(), format!("{prefix}{root}.{attr}"), RelationKind::References));
                }
            }
            if let Some(deps) = at.block.body.get_attribute("depends_on") {
                for (root, attr) in reads_of_expr(&deps.value).0 {
                    if !NOT_RESOURCES.contains(&root.as_str()) {
                        self.refs.push((id.clone(), format!("{prefix}{root}.{attr}"), RelationKind::DependsOn));
                    }
                }
            }
        }
    }

    /// A block body as `planned_values` shows it: attributes by name (absent when unknown), nested blocks as lists
    /// of objects, `dynamic` blocks expanded; meta-arguments left out at the top level.
    fn body(
        &mut self,
        body: &Body,
        scope: &Scope<'_>,
        taint: &Taint,
        top: bool,
        place: Place<'_>,
    ) -> serde_json::Map<String, serde_json::Value> {
        let Place { file, pointer, lines } = place;
        let mut out = serde_json::Map::new();
        for attr in body.attributes() {
            let key = attr.key.as_str();
            if top && matches!(key, "count" | "for_each" | "provider" | "depends_on") {
                continue;
            }
            let Some(value) = evaluate(&attr.value, scope) else {
                lines.unknown.insert(format!("{pointer}/{key}"));
                continue;
            };
            let Ok(mut json) = serde_json::to_value(&value) else { continue };
            if taint.reads_sensitive(&reads_of_expr(&attr.value)) && !json.is_null() {
                redact::Redactor::process().replace(&mut json);
            }
            lines.lines.insert(format!("{pointer}/{key}"), file.line(attr.span()));
            out.insert(key.to_owned(), json);
        }
        let mut blocks: BTreeMap<String, Option<Vec<serde_json::Value>>> = BTreeMap::new();
        for block in body.blocks() {
            let ident = block.ident.as_str();
            if top && matches!(ident, "lifecycle" | "provisioner" | "connection") {
                continue;
            }
            if ident == "dynamic" {
                let Some(label) = block.labels.first().map(|l| l.as_str().to_owned()) else { continue };
                let first = blocks.get(&label).and_then(|l| l.as_ref().map(Vec::len)).unwrap_or(0);
                let at = Place { file, pointer: format!("{pointer}/{label}"), lines: &mut *lines };
                let expanded = self.dynamic(block, &label, scope, taint, first, at);
                let slot = blocks.entry(label).or_insert_with(|| Some(Vec::new()));
                match (slot.as_mut(), expanded) {
                    (Some(list), Some(items)) => list.extend(items),
                    _ => *slot = None,
                }
                continue;
            }
            let slot = blocks.entry(ident.to_owned()).or_insert_with(|| Some(Vec::new()));
            let index = slot.as_ref().map_or(0, Vec::len);
            let at = format!("{pointer}/{ident}/{index}");
            lines.lines.insert(at.clone(), file.line(block.span()));
            let place = Place { file, pointer: at, lines: &mut *lines };
            let value = serde_json::Value::Object(self.body(&block.body, scope, taint, false, place));
            if let Some(Some(list)) = blocks.get_mut(ident) {
                list.push(value);
            }
        }
        for (ident, list) in blocks {
            // A block type with a `dynamic` part that cannot be expanded is unknown as a whole.
            match list {
                Some(list) => {
                    out.insert(ident, serde_json::Value::Array(list));
                }
                None => {
                    lines.unknown.insert(format!("{pointer}/{ident}"));
                }
            }
        }
        out
    }

    /// The blocks a `dynamic "<label>"` block makes, or `None` when its `for_each` is unknown (or too long).
    /// `first` is the index the first block made takes in the list of its type; `place` points at that list.
    fn dynamic(
        &mut self,
        block: &Block,
        label: &str,
        scope: &Scope<'_>,
        taint: &Taint,
        first: usize,
        place: Place<'_>,
    ) -> Option<Vec<serde_json::Value>> {
        let Place { file, pointer, lines } = place;
        let for_each = &block.body.get_attribute("for_each")?.value;
        // Over a set, the key of each element is the element itself; over a list, its index.
        let is_set = matches!(hcl::Expression::from(for_each.clone()), hcl::Expression::FuncCall(c) if c.name.name.as_str() == "toset");
        let items: Vec<(Value, Value)> = match evaluate(for_each, scope)? {
            Value::Object(m) => m.into_iter().map(|(k, v)| (Value::from(k), v)).collect(),
            Value::Array(a) if is_set => a.into_iter().map(|v| (v.clone(), v)).collect(),
            Value::Array(a) => a.into_iter().enumerate().map(|(i, v)| (Value::from(i), v)).collect(),
            _ => return None,
        };
        if items.len() > MAX_INSTANCES {
            self.limit(
                file,
                file.line(block.span()),
                format!("dynamic \"{label}\" makes more than {MAX_INSTANCES} blocks; left unknown"),
            );
            return None;
        }
        let iterator = match block.body.get_attribute("iterator").map(|a| &a.value) {
            Some(EditExpr::Variable(v)) => v.as_str().to_owned(),
            _ => label.to_owned(),
        };
        let taint = taint.bound(&iterator, &Located { file, block }, "for_each");
        let content = block.body.get_blocks("content").next()?;
        let mut inner = scope.clone();
        let mut out = Vec::new();
        for (n, (key, value)) in items.into_iter().enumerate() {
            let mut it = hcl::Map::new();
            it.insert("key".to_owned(), key);
            it.insert("value".to_owned(), value);
            inner.ctx.declare_var(iterator.as_str(), Value::Object(it));
            let at = format!("{pointer}/{}", first + n);
            lines.lines.insert(at.clone(), file.line(content.span()));
            let place = Place { file, pointer: at, lines: &mut *lines };
            out.push(serde_json::Value::Object(self.body(&content.body, &inner, &taint, false, place)));
        }
        Some(out)
    }

    fn note(&mut self, file: &File, line: u32, message: String) {
        self.out.diagnostics.push(Diagnostic::new(DiagnosticKind::NotRead, file.display.clone(), Some(line), message));
    }

    fn limit(&mut self, file: &File, line: u32, message: String) {
        self.out.diagnostics.push(Diagnostic::new(DiagnosticKind::Limit, file.display.clone(), Some(line), message));
    }

    /// Turns the references collected by configuration address into relations between instances.
    fn resolve(&mut self) {
        let mut seen = HashSet::new();
        for (from, to, kind) in std::mem::take(&mut self.refs) {
            for target in self.by_config_address.get(&to).into_iter().flatten() {
                if *target != from && seen.insert((from.clone(), kind, target.clone())) {
                    self.out.relations.push(day2_model::Relation { from: from.clone(), kind, to: target.clone() });
                }
            }
        }
    }
}

/// Where a body is in its resource: its file, its JSON pointer, and what is known of attributes so far (lines, and
/// those set to values unknown before apply).
struct Place<'a> {
    file: &'a File,
    pointer: String,
    lines: &'a mut DeclaredAttributes,
}

/// What holds sensitive values in a module: attributes computed from them are masked.
#[derive(Clone, Default)]
struct Taint {
    vars: BTreeSet<String>,
    locals: BTreeSet<String>,
    /// Module calls with a sensitive output.
    modules: BTreeSet<String>,
    /// Names bound per instance or block (`each`, a `dynamic` iterator) whose values come from sensitive ones.
    bindings: BTreeSet<String>,
}

impl Taint {
    fn reads_sensitive(&self, reads: &Reads) -> bool {
        let hit = |set: &BTreeSet<String>, name: &str| set.contains(name) || (name == "*" && !set.is_empty());
        reads.0.iter().any(|(root, name)| match root.as_str() {
            "var" => hit(&self.vars, name),
            "local" => hit(&self.locals, name),
            "module" => hit(&self.modules, name),
            other => self.bindings.contains(other),
        })
    }

    /// This taint, plus `name` when the block's `attribute` (its `for_each`) reads a sensitive value.
    fn bound(&self, name: &str, at: &Located<'_>, attribute: &str) -> Taint {
        let mut t = self.clone();
        if at.block.body.get_attribute(attribute).is_some_and(|a| self.reads_sensitive(&reads_of_expr(&a.value))) {
            t.bindings.insert(name.to_owned());
        }
        t
    }
}

#[derive(Clone)]
enum InstanceKey {
    Index(u64),
    Key(String),
}

/// One instance of a block: its key, and the value it binds (`count` or `each`).
struct Instance {
    key: Option<InstanceKey>,
    binding: Option<(&'static str, Value)>,
}

impl Instance {
    /// `[0]` or `["key"]` as in Terraform addresses.
    fn suffix(&self) -> String {
        match &self.key {
            None => String::new(),
            Some(InstanceKey::Index(i)) => format!("[{i}]"),
            Some(InstanceKey::Key(k)) => format!("[{}]", serde_json::Value::from(k.as_str())),
        }
    }

    /// The scope this instance's expressions are evaluated in: `base`, or one copy of it per block (kept in
    /// `bound`) with this instance's binding declared.
    fn bind<'s, 'c>(&self, base: &'s Scope<'c>, bound: &'s mut Option<Scope<'c>>) -> &'s Scope<'c> {
        match &self.binding {
            None => base,
            Some((name, value)) => {
                let scope = bound.get_or_insert_with(|| base.clone());
                scope.ctx.declare_var(*name, value.clone());
                scope
            }
        }
    }
}

/// `terraform { required_providers { aws = { source = "hashicorp/aws" } } }` → local name → full source address.
fn required_providers(module: &Module, scope: &Scope<'_>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for t in module.blocks("terraform") {
        for rp in t.block.body.get_blocks("required_providers") {
            for attr in rp.body.attributes() {
                let source = match evaluate(&attr.value, scope) {
                    Some(Value::Object(o)) => o.get("source").and_then(Value::as_str).map(str::to_owned),
                    _ => None,
                };
                if let Some(source) = source {
                    let full = match source.matches('/').count() {
                        1 => format!("registry.terraform.io/{source}"),
                        _ => source,
                    };
                    out.insert(attr.key.as_str().to_owned(), full.to_lowercase());
                }
            }
        }
    }
    out
}

/// `path.module` as Terraform shows it: relative to the root module, `.` for the root itself.
fn relative_to(dir: &Path, root: &Path) -> String {
    let relative = normalize(dir.strip_prefix(root).unwrap_or(dir));
    if relative.as_os_str().is_empty() { ".".to_owned() } else { relative.display().to_string() }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(text: &str) -> Parsed {
        parse(text, "main.tf", "t", "test", &TerraformConfig::default())
    }

    fn attrs(p: &Parsed, name: &str) -> serde_json::Value {
        p.resources
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("{name}: {:?}", p.resources))
            .attrs
            .to_value()
    }

    #[test]
    fn dynamic_blocks_expand_and_unknown_ones_leave_the_block_type_unknown() {
        let p = read(
            r#"
variable "ports" { default = [22, 443] }
resource "aws_security_group" "known" {
  dynamic "ingress" {
    for_each = var.ports
    iterator = port
    content {
      from_port   = port.value
      to_port     = port.value
      cidr_blocks = ["10.0.0.0/8"]
    }
  }
  egress { from_port = 0 }
}
resource "aws_security_group" "unknown" {
  ingress { from_port = 80 }
  dynamic "ingress" {
    for_each = data.x.y.ports
    content { from_port = ingress.value }
  }
}
"#,
        );
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        assert_eq!(
            attrs(&p, "aws_security_group.known"),
            json!({"ingress": [{"from_port": 22, "to_port": 22, "cidr_blocks": ["10.0.0.0/8"]},
                               {"from_port": 443, "to_port": 443, "cidr_blocks": ["10.0.0.0/8"]}],
                   "egress": [{"from_port": 0}]})
        );
        assert_eq!(attrs(&p, "aws_security_group.unknown"), json!({}), "some ingress rules are unknown: all are");
    }

    #[test]
    fn values_from_sensitive_variables_are_masked() {
        let p = read(
            r#"
variable "db_password" {
  default   = "hunter2-hunter2"
  sensitive = true
}
locals { conn = "postgres://app:${var.db_password}@db" }
resource "aws_db_instance" "db" {
  engine   = "postgres"
  master   = var.db_password
  url      = local.conn
}
"#,
        );
        let v = attrs(&p, "aws_db_instance.db");
        assert_eq!(v["engine"], "postgres");
        for key in ["master", "url"] {
            let text = v[key].as_str().unwrap();
            assert!(!text.contains("hunter2"), "{key} = {text}");
        }
    }

    #[test]
    fn unknown_counts_give_one_instance_and_huge_ones_are_refused() {
        let p = read(
            r#"
resource "aws_instance" "maybe" {
  count         = length(data.aws_subnets.all.ids)
  instance_type = "t3.micro"
}
resource "aws_instance" "many" {
  count = 1000000
}
resource "aws_instance" "none" {
  count = 0
}
"#,
        );
        assert_eq!(attrs(&p, "aws_instance.maybe"), json!({"instance_type": "t3.micro"}));
        assert!(
            p.resources
                .iter()
                .all(|r| !r.name.starts_with("aws_instance.many") && !r.name.starts_with("aws_instance.none"))
        );
        assert_eq!(p.diagnostics.len(), 1, "{:?}", p.diagnostics);
        assert_eq!(p.diagnostics[0].kind, DiagnosticKind::Limit);
        assert_eq!(p.diagnostics[0].line, Some(6));
    }

    #[test]
    fn try_falls_back_on_errors_but_not_on_unknowns() {
        let p = read(
            r#"
variable "settings" { default = { a = "x" } }
resource "terraform_data" "t" {
  input            = try(var.settings.missing, "fallback")
  triggers_replace = try(aws_s3_bucket.b.arn, "fallback")
  output           = can(var.settings.a)
}
"#,
        );
        assert_eq!(attrs(&p, "terraform_data.t"), json!({"input": "fallback", "output": true}));
    }

    #[test]
    fn a_syntax_error_names_the_file_and_line() {
        let p = read("resource \"a\" \"b\" {\n  x = \n}\n");
        assert_eq!(p.diagnostics.len(), 1);
        assert_eq!(p.diagnostics[0].kind, DiagnosticKind::Syntax);
        assert_eq!(p.diagnostics[0].file, "main.tf");
        assert_eq!(p.diagnostics[0].line, Some(2), "the attribute without a value");
    }

    #[test]
    fn json_syntax_files_are_read_with_their_json_lines() {
        let json = "{\n  \"resource\": {\n    \"aws_s3_bucket\": {\n      \"logs\": {\"bucket\": \"logs-${var.env}\"}\n    }\n  },\n  \"variable\": {\"env\": {\"default\": \"prod\"}}\n}\n";
        let p = parse(json, "main.tf.json", "t", "test", &TerraformConfig::default());
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        assert_eq!(attrs(&p, "aws_s3_bucket.logs"), json!({"bucket": "logs-prod"}));
        assert_eq!(p.resources[0].location(), Some(("main.tf.json", 4)));
    }

    #[test]
    fn arithmetic_that_panics_in_hcl_rs_is_unknown_not_a_crash() {
        let p = read(
            "resource \"terraform_data\" \"t\" {\n  input  = 1 % 0\n  output = 9223372036854775807 + 1\n  triggers_replace = 7 % 3\n}\n",
        );
        let v = attrs(&p, "terraform_data.t");
        assert!(v.get("input").is_none(), "{v}");
        assert_eq!(v["triggers_replace"], 1);
    }

    #[test]
    fn try_waits_for_locals_defined_later_and_for_values_day2_does_not_compute() {
        let p = read(
            r#"
locals {
  b = try(local.a, "fallback")
  a = "real"
  c = try(format("%x", 255), "none")
}
resource "terraform_data" "t" {
  input  = local.b
  output = local.c
}
"#,
        );
        assert_eq!(attrs(&p, "terraform_data.t"), json!({"input": "real"}), "`c` is unknown, not \"none\"");
    }

    #[test]
    fn an_unknown_module_input_is_not_replaced_by_the_default_and_sensitive_outputs_stay_masked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("db")).unwrap();
        std::fs::write(
            dir.path().join("db/main.tf"),
            r#"
variable "encrypted" { default = false }
variable "password" { default = "" }
resource "aws_db_instance" "db" { storage_encrypted = var.encrypted }
output "url" {
  value     = "postgres://app:${var.password}@db"
  sensitive = true
}
"#,
        )
        .unwrap();
        let main = r#"
module "db" {
  source    = "./db"
  encrypted = data.aws_kms_key.k.enabled
  password  = "hunter2-hunter2"
}
resource "terraform_data" "uses" { input = module.db.url }
"#;
        let file = dir.path().join("main.tf");
        std::fs::write(&file, main).unwrap();
        let p = parse(main, file.to_str().unwrap(), "t", "test", &TerraformConfig::default());
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        assert_eq!(attrs(&p, "module.db.aws_db_instance.db"), json!({}), "unknown, not the default `false`");
        let url = attrs(&p, "terraform_data.uses")["input"].as_str().unwrap().to_owned();
        assert!(!url.contains("hunter2"), "{url}");
    }

    #[test]
    fn dynamic_blocks_over_sets_key_by_element_and_sensitive_iterators_are_masked() {
        let p = read(
            r#"
variable "ports" { default = [443, 22] }
variable "secrets" {
  default   = { a = "s3cr3t-value" }
  sensitive = true
}
resource "aws_security_group" "g" {
  dynamic "ingress" {
    for_each = toset(var.ports)
    content { from_port = ingress.key }
  }
  dynamic "env" {
    for_each = var.secrets
    content { value = env.value }
  }
}
"#,
        );
        let v = attrs(&p, "aws_security_group.g");
        assert_eq!(v["ingress"], json!([{"from_port": 22}, {"from_port": 443}]));
        assert!(!v["env"][0]["value"].as_str().unwrap().contains("s3cr3t"), "{v}");
    }

    #[test]
    fn override_files_and_symbolic_links_are_noted_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.tfvars"), "password = \"from-elsewhere\"\n").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.tfvars"), dir.path().join("terraform.tfvars")).unwrap();
        std::fs::write(
            dir.path().join("main.tf"),
            "variable \"password\" {}\nresource \"terraform_data\" \"t\" { input = var.password }\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("main_override.tf"), "resource \"terraform_data\" \"t\" { input = 1 }\n")
            .unwrap();
        let files = vec![dir.path().join("main.tf"), dir.path().join("main_override.tf")];
        let p = read_files(&files, &TerraformConfig::default(), "test", &|_| "t".to_owned());
        assert_eq!(attrs(&p, "terraform_data.t"), json!({}));
        assert_eq!(p.resources.len(), 1);
        let notes: Vec<&str> =
            p.diagnostics.iter().filter(|d| d.kind == DiagnosticKind::NotRead).map(|d| d.message.as_str()).collect();
        assert_eq!(notes.len(), 2, "{:?}", p.diagnostics);
        assert!(notes.iter().any(|n| n.contains("symbolic link")) && notes.iter().any(|n| n.contains("override")));
    }

    #[test]
    fn a_root_that_expands_too_far_is_cut_with_a_limit() {
        let text: String =
            (0..3).map(|i| format!("resource \"terraform_data\" \"r{i}\" {{\n  count = 9000\n}}\n")).collect();
        let p = read(&text);
        assert_eq!(p.resources.len(), 18_000);
        assert_eq!(p.diagnostics.len(), 1, "{:?}", p.diagnostics);
        assert_eq!(p.diagnostics[0].kind, DiagnosticKind::Limit);
    }

    #[test]
    fn registry_modules_are_noted_not_read() {
        let p = read("module \"vpc\" {\n  source = \"terraform-aws-modules/vpc/aws\"\n}\n");
        assert!(p.resources.is_empty());
        assert_eq!(p.diagnostics[0].kind, DiagnosticKind::NotRead);
        assert!(p.diagnostics[0].message.contains("not a local path"), "{:?}", p.diagnostics);
    }
}
