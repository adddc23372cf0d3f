//! Rule documentation from plain-Rust metadata, for a `dbuild doc` command (not yet built).

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
        attrs: def
            .attrs
            .iter()
            .map(|(n, s)| AttrDoc {
                name: n.clone(),
                ty: s.ty.name().to_owned(),
                doc: s.doc.clone(),
                mandatory: s.mandatory,
            })
            .collect(),
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

/// The native rules' documentation.
pub fn native_rule_docs() -> Vec<RuleDoc> {
    crate::package::native_rules().iter().map(|(n, d)| doc_of(n, d)).collect()
}
