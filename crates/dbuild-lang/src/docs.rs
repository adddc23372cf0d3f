//! Documentation of `.star` modules for `dbuild doc`: the module's doc string, its rules (from
//! plain-Rust rule metadata) and its documented functions (macros such as `distroless_family`).

use dbuild_core::Label;

use crate::errors::LangError;
use crate::rule::RuleCallable;
use crate::workspace::Workspace;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrDoc {
    pub name: String,
    /// `attr.<type>` constructor name, e.g. `label_list`.
    pub ty: String,
    pub doc: String,
    pub mandatory: bool,
    /// The default as Starlark would spell it, when the rule gives one.
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleDoc {
    pub name: String,
    pub doc: String,
    pub attrs: Vec<AttrDoc>,
}

fn doc_of(name: &str, def: &crate::rule::RuleDef) -> RuleDoc {
    RuleDoc {
        name: name.to_owned(),
        doc: def.doc.clone(),
        // `_name` attributes are the rule's own wiring (a toolchain, say), as in Bazel.
        attrs: def
            .attrs
            .iter()
            .filter(|(n, _)| !n.starts_with('_'))
            .map(|(n, s)| AttrDoc {
                name: n.clone(),
                ty: s.ty.name().to_owned(),
                doc: s.doc.clone(),
                mandatory: s.mandatory,
                default: s.default.as_ref().map(starlark_repr),
            })
            .collect(),
    }
}

fn quote(s: &str) -> String {
    format!("{s:?}")
}

fn starlark_repr(v: &crate::attr::AttrValue) -> String {
    use crate::attr::AttrValue as V;
    let list = |items: Vec<String>| format!("[{}]", items.join(", "));
    let dict = |items: Vec<(String, String)>| {
        format!("{{{}}}", items.into_iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", "))
    };
    match v {
        V::String(s) => quote(s),
        V::Int(i) => i.to_string(),
        V::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        V::StringList(xs) => list(xs.iter().map(|x| quote(x)).collect()),
        V::StringDict(kv) => dict(kv.iter().map(|(k, v)| (quote(k), quote(v))).collect()),
        V::Label(None) => "None".to_string(),
        V::Label(Some(l)) => quote(&l.to_string()),
        V::LabelList(ls) => list(ls.iter().map(|l| quote(&l.to_string())).collect()),
        V::LabelKeyedStringDict(kv) => dict(kv.iter().map(|(k, v)| (quote(&k.to_string()), quote(v))).collect()),
    }
}

/// The rules a `.star` module exports (e.g. `@dbuild//rules:pkg.star`), sorted by name.
/// The native `filegroup` and `alias` are described by [`native_rule_docs`].
pub fn rule_docs(ws: &Workspace, module: &Label) -> Result<Vec<RuleDoc>, LangError> {
    let m = crate::loader::module(ws, module)?;
    let mut out = Vec::new();
    for name in m.names() {
        let Ok(v) = m.get(name.as_str()) else { continue };
        if let Some(r) = RuleCallable::from_value(v.value()) {
            if name.as_str().starts_with('_') {
                continue;
            }
            out.push(doc_of(name.as_str(), &r.def));
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// A function (macro) a module exports, with its doc string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionDoc {
    pub name: String,
    pub doc: String,
    /// Parameters in order: name, default (as written), doc.
    pub params: Vec<(String, Option<String>, String)>,
}

/// Everything `dbuild doc` shows of one module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleDoc {
    pub doc: String,
    pub rules: Vec<RuleDoc>,
    pub functions: Vec<FunctionDoc>,
}

fn doc_text(d: &starlark::docs::DocString) -> String {
    match &d.details {
        Some(details) => format!("{}\n\n{}", d.summary, details),
        None => d.summary.clone(),
    }
}

/// The documentation of a `.star` module: its doc string, its public rules and its public
/// documented functions, each sorted by name.
pub fn module_docs(ws: &Workspace, module: &Label) -> Result<ModuleDoc, LangError> {
    let rules = rule_docs(ws, module)?;
    let m = crate::loader::module(ws, module)?;
    let docs = m.documentation();
    let mut functions = Vec::new();
    for (name, item) in &docs.members {
        if name.starts_with('_') || rules.iter().any(|r| &r.name == name) {
            continue;
        }
        if let starlark::docs::DocItem::Member(starlark::docs::DocMember::Function(f)) = item {
            if let Some(d) = &f.docs {
                let p = &f.params;
                let params = p
                    .pos_only
                    .iter()
                    .chain(&p.pos_or_named)
                    .chain(&p.named_only)
                    .map(|q| {
                        (q.name.clone(), q.default_value.clone(), q.docs.as_ref().map(doc_text).unwrap_or_default())
                    })
                    .collect();
                functions.push(FunctionDoc { name: name.clone(), doc: doc_text(d), params });
            }
        }
    }
    functions.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(ModuleDoc { doc: docs.docs.as_ref().map(doc_text).unwrap_or_default(), rules, functions })
}

/// The native rules' documentation.
pub fn native_rule_docs() -> Vec<RuleDoc> {
    crate::package::native_rules().iter().map(|(n, d)| doc_of(n, d)).collect()
}
