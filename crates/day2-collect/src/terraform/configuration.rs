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

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use day2_model::{Diagnostic, DiagnosticKind, RelationKind, ResourceId, redact};
use hcl::Value;
use hcl::edit::Span;
use hcl::edit::expr::{Expression as EditExpr, TraversalOperator};
use hcl::edit::structure::{Block, Body};
use hcl::edit::visit::{Visit, visit_traversal};
use hcl::eval::{Context, Evaluate};

use super::types::{Type, sorted};
use super::{Parsed, TerraformConfig, functions, json_syntax};
use day2_input::files::{self, Input};

/// Deepest chain of module calls followed (Terraform itself has no limit; cycles and absurd depth stop here).
const MAX_MODULE_DEPTH: usize = 16;
/// Most instances one `count` or `for_each` expands to.
const MAX_INSTANCES: usize = 10_000;

/// Reads the modules made of `files` (`.tf` files, grouped by directory) into `out`, one root per directory that no
/// other of them calls. `scope_of` gives the resource-id scope of a root directory.
pub(super) fn read(
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
    let allowed = allowed_roots(&by_dir);
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
/// file's folder and the working directory).
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
    let mut allowed = vec![canonical(&dir)];
    allowed.extend(std::env::current_dir().ok().map(|d| canonical(&d)));
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
    };
    reader.module(module, dir, "", inputs, &BTreeSet::new());
    reader.resolve();
}

/// The directories local module sources may resolve into: the given ones and the working directory, with all that
/// is below them.
fn allowed_roots(by_dir: &BTreeMap<PathBuf, Vec<PathBuf>>) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = by_dir.keys().map(|d| canonical(d)).collect();
    if let Ok(cwd) = std::env::current_dir() {
        roots.push(canonical(&cwd));
    }
    roots
}

fn canonical(p: &Path) -> PathBuf {
    let p = if p.as_os_str().is_empty() { Path::new(".") } else { p };
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
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
            let input = Input::File(path.clone());
            let display = input.display();
            let text = match files::read_text(&input, config.limits.max_file_bytes) {
                Ok(t) => t,
                Err(e) => {
                    diagnostics.push(Diagnostic::new(DiagnosticKind::Unreadable, display, None, e.to_string()));
                    continue;
                }
            };
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
            .filter(|p| super::is_configuration(p) && p.is_file())
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
        if p.is_file() {
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
            (n.ends_with(".auto.tfvars") || n.ends_with(".auto.tfvars.json")) && p.is_file()
        })
        .collect();
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
    let input = Input::File(path.to_path_buf());
    let display = input.display();
    let text = match files::read_text(&input, config.limits.max_file_bytes) {
        Ok(t) => t,
        Err(e) => {
            diagnostics.push(Diagnostic::new(DiagnosticKind::Unreadable, display, None, e.to_string()));
            return hcl::Map::new();
        }
    };
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
    let ctx = base_context();
    body.attributes().filter_map(|a| Some((a.key.as_str().to_owned(), evaluate(&a.value, &ctx)?))).collect()
}

/// A context with Terraform's functions and nothing else.
fn base_context() -> Context<'static> {
    let mut ctx = Context::new();
    functions::declare(&mut ctx);
    ctx
}

/// The value of an expression, or `None` when it cannot be known before apply.
fn evaluate(expr: &EditExpr, ctx: &Context<'_>) -> Option<Value> {
    let mut e = hcl::Expression::from(expr.clone());
    resolve_lazy(&mut e, ctx);
    e.evaluate(ctx).ok()
}

/// Terraform evaluates `try(…)` and `can(…)` lazily: an argument that fails is skipped. hcl-rs evaluates arguments
/// first, so these calls are replaced by their result beforehand, where it is known. An argument whose failure may
/// only mean "unknown until apply" (it names a resource, data source or module, or a name not defined here, like a
/// `for` variable) leaves the call in place, and the enclosing value unknown.
fn resolve_lazy(expr: &mut hcl::Expression, ctx: &Context<'_>) {
    use hcl::Expression as E;
    match expr {
        E::FuncCall(call) if call.name.namespace.is_empty() && matches!(call.name.name.as_str(), "try" | "can") => {
            call.args.iter_mut().for_each(|a| resolve_lazy(a, ctx));
            let is_try = call.name.name.as_str() == "try";
            let mut result = None;
            for a in &call.args {
                match a.evaluate(ctx) {
                    Ok(v) => {
                        result = Some(if is_try { v } else { Value::Bool(true) });
                        break;
                    }
                    Err(error) if maybe_unknown(error.kind(), a) => return,
                    Err(_) if is_try => {}
                    Err(_) => {
                        result = Some(Value::Bool(false));
                        break;
                    }
                }
            }
            if let Some(v) = result {
                *expr = E::from(v);
            }
        }
        E::Array(items) => items.iter_mut().for_each(|a| resolve_lazy(a, ctx)),
        E::Object(o) => o.values_mut().for_each(|v| resolve_lazy(v, ctx)),
        E::FuncCall(call) => call.args.iter_mut().for_each(|a| resolve_lazy(a, ctx)),
        E::Parenthesis(inner) => resolve_lazy(inner, ctx),
        E::Conditional(c) => {
            resolve_lazy(&mut c.cond_expr, ctx);
            resolve_lazy(&mut c.true_expr, ctx);
            resolve_lazy(&mut c.false_expr, ctx);
        }
        E::Operation(op) => match op.as_mut() {
            hcl::expr::Operation::Unary(u) => resolve_lazy(&mut u.expr, ctx),
            hcl::expr::Operation::Binary(b) => {
                resolve_lazy(&mut b.lhs_expr, ctx);
                resolve_lazy(&mut b.rhs_expr, ctx);
            }
        },
        E::Traversal(t) => resolve_lazy(&mut t.expr, ctx),
        _ => {}
    }
}

/// Errors that may mean "not known before apply" rather than "fails": a name not declared (a resource, data
/// source, `for` variable, a function day2 does not evaluate), or a missing attribute of a module's outputs (those
/// known only after apply are left out of `module.<name>`).
fn maybe_unknown(kind: &hcl::eval::ErrorKind, expr: &hcl::Expression) -> bool {
    use hcl::eval::ErrorKind as K;
    match kind {
        K::UndefinedVar(_) | K::UndefinedFunc(_) => true,
        K::NoSuchKey(_) | K::Index(_) => reads_root(expr, "module"),
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

/// Names an expression reads: `(root, first attribute)` pairs (`("var", "env")`, `("aws_s3_bucket", "logs")`).
#[derive(Default)]
struct Reads(BTreeSet<(String, String)>);

impl Visit for Reads {
    fn visit_traversal(&mut self, node: &hcl::edit::expr::Traversal) {
        if let EditExpr::Variable(root) = &node.expr
            && let Some(TraversalOperator::GetAttr(attr)) = node.operators.first().map(|o| o.value())
        {
            self.0.insert((root.as_str().to_owned(), attr.as_str().to_owned()));
        }
        visit_traversal(self, node);
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
}

/// What one module evaluated to: its outputs, where known.
type Outputs = hcl::Map<String, Value>;

impl Reader<'_> {
    /// Reads one module instance: `prefix` is its address with a trailing dot (`module.net.`, empty for the root),
    /// `inputs` its variable values, `sensitive_inputs` those fed from sensitive values.
    fn module(
        &mut self,
        module: &Module,
        dir: &Path,
        prefix: &str,
        inputs: hcl::Map<String, Value>,
        sensitive_inputs: &BTreeSet<String>,
    ) -> Outputs {
        let mut vars = hcl::Map::new();
        let mut sensitive: BTreeSet<String> = sensitive_inputs.clone();
        for v in module.blocks("variable") {
            let Some(name) = v.block.labels.first().map(|l| l.as_str().to_owned()) else { continue };
            if v.block.body.get_attribute("sensitive").and_then(|a| evaluate(&a.value, &base_context()))
                == Some(Value::Bool(true))
            {
                sensitive.insert(name.clone());
            }
            let value = match inputs.get(&name) {
                Some(given) => Some(given.clone()),
                None => v.block.body.get_attribute("default").and_then(|a| evaluate(&a.value, &base_context())),
            };
            let kind =
                v.block.body.get_attribute("type").and_then(|a| Type::parse(&hcl::Expression::from(a.value.clone())));
            if let Some(value) = value {
                let value = kind.map_or(value.clone(), |k| k.convert(value));
                vars.insert(name, sorted(value));
            }
        }
        let mut ctx = base_context();
        ctx.declare_var("var", Value::Object(vars));
        let mut path = hcl::Map::new();
        path.insert("module".to_owned(), Value::from(relative_to(dir, self.root)));
        path.insert("root".to_owned(), Value::from("."));
        path.insert("cwd".to_owned(), Value::from("."));
        ctx.declare_var("path", Value::Object(path));
        let mut terraform = hcl::Map::new();
        terraform.insert("workspace".to_owned(), Value::from("default"));
        ctx.declare_var("terraform", Value::Object(terraform));
        let sensitive_locals = self.locals(module, &mut ctx, &sensitive);
        let taint = Taint { vars: &sensitive, locals: &sensitive_locals };
        let module_outputs = self.module_calls(module, dir, prefix, &ctx, &taint);
        ctx.declare_var("module", Value::Object(module_outputs));
        let providers = required_providers(module, &ctx);
        for r in module.blocks("resource") {
            self.resource(&r, prefix, &ctx, &taint, &providers);
        }
        let mut outputs = Outputs::new();
        for o in module.blocks("output") {
            let Some(name) = o.block.labels.first().map(|l| l.as_str().to_owned()) else { continue };
            if let Some(v) = o.block.body.get_attribute("value").and_then(|a| evaluate(&a.value, &ctx)) {
                outputs.insert(name, sorted(v));
            }
        }
        outputs
    }

    /// Evaluates `locals` until no more become known; returns the names of those derived from sensitive values.
    fn locals(
        &mut self,
        module: &Module,
        ctx: &mut Context<'_>,
        sensitive_vars: &BTreeSet<String>,
    ) -> BTreeSet<String> {
        let defs: Vec<(String, &EditExpr)> = module
            .blocks("locals")
            .flat_map(|l| l.block.body.attributes().map(|a| (a.key.as_str().to_owned(), &a.value)))
            .collect();
        let mut known = hcl::Map::new();
        let mut pending: Vec<usize> = (0..defs.len()).collect();
        loop {
            ctx.declare_var("local", Value::Object(known.clone()));
            let before = pending.len();
            pending.retain(|&i| {
                let Some((name, expr)) = defs.get(i) else { return false };
                match evaluate(expr, ctx) {
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
        ctx.declare_var("local", Value::Object(known));
        let mut tainted: BTreeSet<String> = BTreeSet::new();
        loop {
            let before = tainted.len();
            for (name, expr) in &defs {
                let reads = reads_of_expr(expr);
                if (Taint { vars: sensitive_vars, locals: &tainted }).reads_sensitive(&reads) {
                    tainted.insert(name.clone());
                }
            }
            if tainted.len() == before {
                return tainted;
            }
        }
    }

    /// Reads the local modules a module calls; returns `module.<name>` values (outputs, by instance key when the
    /// call has `count` or `for_each`).
    fn module_calls(
        &mut self,
        module: &Module,
        dir: &Path,
        prefix: &str,
        ctx: &Context<'_>,
        taint: &Taint<'_>,
    ) -> hcl::Map<String, Value> {
        let mut values = hcl::Map::new();
        for call in module.blocks("module") {
            let Some(name) = call.block.labels.first().map(|l| l.as_str().to_owned()) else { continue };
            let Some(source) = call.block.body.get_attribute("source").and_then(|a| literal_string(&a.value)) else {
                continue;
            };
            let line = call.file.line(call.block.span());
            if !is_local(&source) {
                self.note(
                    call.file,
                    line,
                    format!("module `{name}`: source `{source}` is not a local path; its resources are not read"),
                );
                continue;
            }
            let child_dir = join(dir, &source);
            let canonical_dir = canonical(&child_dir);
            if !self.allowed.iter().any(|root| canonical_dir.starts_with(root)) {
                self.note(
                    call.file,
                    line,
                    format!(
                        "module `{name}`: `{source}` is outside the paths read and the working directory; not read"
                    ),
                );
                continue;
            }
            if self.stack.contains(&canonical_dir) || self.stack.len() >= MAX_MODULE_DEPTH {
                self.note(
                    call.file,
                    line,
                    format!("module `{name}`: calls itself, or modules nest deeper than {MAX_MODULE_DEPTH}; not read"),
                );
                continue;
            }
            if !child_dir.is_dir() {
                self.out.diagnostics.push(Diagnostic::new(
                    DiagnosticKind::Config,
                    call.file.display.clone(),
                    Some(line),
                    format!("module `{name}`: source `{source}` is not a directory"),
                ));
                continue;
            }
            let child = Module::load_dir(&child_dir, self.config, &mut self.out.diagnostics);
            let Some(instances) = self.instances(&call, ctx) else { continue };
            let keyed = !matches!(instances.as_slice(), [Instance { key: None, .. }]);
            let mut outputs_by_key = hcl::Map::new();
            let mut outputs_list = Vec::new();
            for instance in instances {
                let mut inputs = hcl::Map::new();
                let mut sensitive_inputs = BTreeSet::new();
                for attr in call.block.body.attributes() {
                    let key = attr.key.as_str();
                    if matches!(key, "source" | "version" | "count" | "for_each" | "providers" | "depends_on") {
                        continue;
                    }
                    if let Some(v) = evaluate(&attr.value, &instance.ctx) {
                        inputs.insert(key.to_owned(), v);
                    }
                    if taint.reads_sensitive(&reads_of_expr(&attr.value)) {
                        sensitive_inputs.insert(key.to_owned());
                    }
                }
                let address = format!("{prefix}module.{name}{}", instance.suffix());
                self.stack.push(canonical_dir.clone());
                let outputs = self.module(&child, &child_dir, &format!("{address}."), inputs, &sensitive_inputs);
                self.stack.pop();
                match &instance.key {
                    Some(InstanceKey::Index(_)) => outputs_list.push(Value::Object(outputs)),
                    Some(InstanceKey::Key(k)) => {
                        outputs_by_key.insert(k.clone(), Value::Object(outputs));
                    }
                    None => {
                        values.insert(name.clone(), Value::Object(outputs));
                    }
                }
            }
            if keyed {
                outputs_by_key.sort_keys();
                let v =
                    if outputs_list.is_empty() { Value::Object(outputs_by_key) } else { Value::Array(outputs_list) };
                values.insert(name, v);
            }
        }
        values
    }

    /// The instances `count` or `for_each` make of a block, each with its evaluation context; `None` when there
    /// are none to read (`count = 0`, too many). An unknown count or `for_each` gives one instance without a key:
    /// its known attributes are still the configuration's.
    fn instances<'c>(&mut self, at: &Located<'_>, ctx: &Context<'c>) -> Option<Vec<Instance<'c>>> {
        let body = &at.block.body;
        let line = at.file.line(at.block.span());
        let single = || vec![Instance { key: None, ctx: ctx.clone() }];
        if let Some(count) = body.get_attribute("count") {
            let Some(n) = evaluate(&count.value, ctx).and_then(|v| match v {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            }) else {
                return Some(single());
            };
            if n as usize > MAX_INSTANCES {
                self.limit(at.file, line, format!("count = {n} is more than {MAX_INSTANCES} instances; not read"));
                return None;
            }
            return Some(
                (0..n)
                    .map(|i| {
                        let mut c = ctx.clone();
                        let mut count = hcl::Map::new();
                        count.insert("index".to_owned(), Value::from(i));
                        c.declare_var("count", Value::Object(count));
                        Instance { key: Some(InstanceKey::Index(i)), ctx: c }
                    })
                    .collect(),
            );
        }
        if let Some(for_each) = body.get_attribute("for_each") {
            let entries: Vec<(String, Value)> = match evaluate(&for_each.value, ctx) {
                Some(Value::Object(m)) => m.into_iter().collect(),
                Some(Value::Array(a)) => {
                    a.into_iter().filter_map(|v| v.as_str().map(|s| (s.to_owned(), Value::from(s)))).collect()
                }
                _ => return Some(single()),
            };
            if entries.len() > MAX_INSTANCES {
                self.limit(at.file, line, format!("for_each has more than {MAX_INSTANCES} entries; not read"));
                return None;
            }
            return Some(
                entries
                    .into_iter()
                    .map(|(k, v)| {
                        let mut c = ctx.clone();
                        let mut each = hcl::Map::new();
                        each.insert("key".to_owned(), Value::from(k.as_str()));
                        each.insert("value".to_owned(), v);
                        c.declare_var("each", Value::Object(each));
                        Instance { key: Some(InstanceKey::Key(k)), ctx: c }
                    })
                    .collect(),
            );
        }
        Some(single())
    }

    fn resource(
        &mut self,
        at: &Located<'_>,
        prefix: &str,
        ctx: &Context<'_>,
        taint: &Taint<'_>,
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
        let Some(instances) = self.instances(at, ctx) else { return };
        let module = prefix.strip_suffix('.').filter(|m| !m.is_empty());
        let mut reads = Reads::default();
        reads.visit_body(&at.block.body);
        for instance in instances {
            let address = format!("{prefix}{kind}.{name}{}", instance.suffix());
            let mut lines = BTreeMap::new();
            let place = Place { file: at.file, pointer: String::new(), lines: &mut lines };
            let attrs = serde_json::Value::Object(self.body(&at.block.body, &instance.ctx, taint, true, place));
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
                    attribute_lines: lines,
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
        ctx: &Context<'_>,
        taint: &Taint<'_>,
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
            let Some(value) = evaluate(&attr.value, ctx) else { continue };
            let Ok(mut json) = serde_json::to_value(&value) else { continue };
            if taint.reads_sensitive(&reads_of_expr(&attr.value)) && !json.is_null() {
                redact::Redactor::process().replace(&mut json);
            }
            lines.insert(format!("{pointer}/{key}"), file.line(attr.span()));
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
                let expanded = self.dynamic(block, &label, ctx, taint, first, at);
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
            lines.insert(at.clone(), file.line(block.span()));
            let value = serde_json::Value::Object(self.body(
                &block.body,
                ctx,
                taint,
                false,
                Place { file, pointer: at, lines: &mut *lines },
            ));
            if let Some(Some(list)) = blocks.get_mut(ident) {
                list.push(value);
            }
        }
        for (ident, list) in blocks {
            // A block type with a `dynamic` part that cannot be expanded is unknown as a whole.
            if let Some(list) = list {
                out.insert(ident, serde_json::Value::Array(list));
            }
        }
        out
    }

    /// The blocks a `dynamic "<label>"` block makes, or `None` when its `for_each` is unknown.
    /// `first` is the index the first block made takes in the list of its type; `place` points at that list.
    fn dynamic(
        &mut self,
        block: &Block,
        label: &str,
        ctx: &Context<'_>,
        taint: &Taint<'_>,
        first: usize,
        place: Place<'_>,
    ) -> Option<Vec<serde_json::Value>> {
        let Place { file, pointer, lines } = place;
        let items: Vec<(Value, Value)> = match evaluate(&block.body.get_attribute("for_each")?.value, ctx)? {
            Value::Object(m) => m.into_iter().map(|(k, v)| (Value::from(k), v)).collect(),
            Value::Array(a) => a.into_iter().enumerate().map(|(i, v)| (Value::from(i), v)).collect(),
            _ => return None,
        };
        let iterator = match block.body.get_attribute("iterator").map(|a| &a.value) {
            Some(EditExpr::Variable(v)) => v.as_str().to_owned(),
            _ => label.to_owned(),
        };
        let content = block.body.get_blocks("content").next()?;
        let mut out = Vec::new();
        for (n, (key, value)) in items.into_iter().take(MAX_INSTANCES).enumerate() {
            let mut c = ctx.clone();
            let mut it = hcl::Map::new();
            it.insert("key".to_owned(), key);
            it.insert("value".to_owned(), value);
            c.declare_var(iterator.as_str(), Value::Object(it));
            let at = format!("{pointer}/{}", first + n);
            lines.insert(at.clone(), file.line(content.span()));
            let place = Place { file, pointer: at, lines: &mut *lines };
            out.push(serde_json::Value::Object(self.body(&content.body, &c, taint, false, place)));
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

/// Where a body is in its resource: its file, its JSON pointer, and the attribute lines found so far.
struct Place<'a> {
    file: &'a File,
    pointer: String,
    lines: &'a mut BTreeMap<String, u32>,
}

/// Variables and locals holding sensitive values: attributes computed from them are masked.
struct Taint<'a> {
    vars: &'a BTreeSet<String>,
    locals: &'a BTreeSet<String>,
}

impl Taint<'_> {
    fn reads_sensitive(&self, reads: &Reads) -> bool {
        reads.0.iter().any(|(root, name)| {
            (root == "var" && self.vars.contains(name)) || (root == "local" && self.locals.contains(name))
        })
    }
}

#[derive(Clone)]
enum InstanceKey {
    Index(u64),
    Key(String),
}

struct Instance<'c> {
    key: Option<InstanceKey>,
    ctx: Context<'c>,
}

impl Instance<'_> {
    /// `[0]` or `["key"]` as in Terraform addresses.
    fn suffix(&self) -> String {
        match &self.key {
            None => String::new(),
            Some(InstanceKey::Index(i)) => format!("[{i}]"),
            Some(InstanceKey::Key(k)) => format!("[{}]", serde_json::Value::from(k.as_str())),
        }
    }
}

/// `terraform { required_providers { aws = { source = "hashicorp/aws" } } }` → local name → full source address.
fn required_providers(module: &Module, ctx: &Context<'_>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for t in module.blocks("terraform") {
        for rp in t.block.body.get_blocks("required_providers") {
            for attr in rp.body.attributes() {
                let source = match evaluate(&attr.value, ctx) {
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
    let mut parts: Vec<String> = Vec::new();
    let rest = dir.strip_prefix(root).unwrap_or(dir);
    for c in rest.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir if parts.last().is_some_and(|p| p != "..") => {
                parts.pop();
            }
            other => parts.push(other.as_os_str().to_string_lossy().into_owned()),
        }
    }
    if parts.is_empty() { ".".to_owned() } else { parts.join("/") }
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
    fn registry_modules_are_noted_not_read() {
        let p = read("module \"vpc\" {\n  source = \"terraform-aws-modules/vpc/aws\"\n}\n");
        assert!(p.resources.is_empty());
        assert_eq!(p.diagnostics[0].kind, DiagnosticKind::NotRead);
        assert!(p.diagnostics[0].message.contains("not a local path"), "{:?}", p.diagnostics);
    }
}
