//! `attr.*`: attribute schemas of rules, and the coercion of BUILD-file values into plain Rust
//! [`AttrValue`]s at the moment a target is declared (so errors point at the BUILD file).

use std::fmt;
use std::sync::Arc;

use allocative::Allocative;
use dbuild_core::{Label, Repo};
use starlark::any::ProvidesStaticType;
use starlark::environment::GlobalsBuilder;
use starlark::eval::Evaluator;
use starlark::starlark_simple_value;
use starlark::values::dict::DictRef;
use starlark::values::list::ListRef;
use starlark::values::tuple::TupleRef;
use starlark::values::{NoSerialize, StarlarkValue, Value};
use starlark_derive::{starlark_module, starlark_value, StarlarkPagablePanic};

use crate::context::EvalContext;

/// The kinds of attribute dbuild supports (Bazel's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrType {
    String,
    Int,
    Bool,
    StringList,
    StringDict,
    Label,
    LabelList,
    LabelKeyedStringDict,
}

impl AttrType {
    /// The `attr.<name>` constructor, for docs and messages.
    pub fn name(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Int => "int",
            AttrType::Bool => "bool",
            AttrType::StringList => "string_list",
            AttrType::StringDict => "string_dict",
            AttrType::Label => "label",
            AttrType::LabelList => "label_list",
            AttrType::LabelKeyedStringDict => "label_keyed_string_dict",
        }
    }

    fn expectation(self) -> &'static str {
        match self {
            AttrType::String => "a string",
            AttrType::Int => "an int",
            AttrType::Bool => "a bool",
            AttrType::StringList => "a list of strings",
            AttrType::StringDict => "a dict of string to string",
            AttrType::Label => "a label string",
            AttrType::LabelList => "a list of label strings",
            AttrType::LabelKeyedStringDict => "a dict of label string to string",
        }
    }

    pub(crate) fn is_label_kind(self) -> bool {
        matches!(self, AttrType::Label | AttrType::LabelList | AttrType::LabelKeyedStringDict)
    }
}

/// Which files a label attribute accepts (`allow_files = True` or `[".ext", ...]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileFilter {
    Any,
    Extensions(Vec<String>),
}

impl FileFilter {
    pub(crate) fn accepts(&self, basename: &str) -> bool {
        match self {
            FileFilter::Any => true,
            FileFilter::Extensions(exts) => exts.iter().any(|e| basename.ends_with(e.as_str())),
        }
    }
}

/// A coerced attribute value: plain data, safe to keep past any Starlark heap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttrValue {
    String(String),
    Int(i32),
    Bool(bool),
    StringList(Vec<String>),
    StringDict(Vec<(String, String)>),
    Label(Option<Label>),
    LabelList(Vec<Label>),
    LabelKeyedStringDict(Vec<(Label, String)>),
}

impl AttrValue {
    /// The labels this value depends on, in order.
    pub(crate) fn labels(&self) -> Vec<&Label> {
        match self {
            AttrValue::Label(Some(l)) => vec![l],
            AttrValue::LabelList(ls) => ls.iter().collect(),
            AttrValue::LabelKeyedStringDict(kv) => kv.iter().map(|(l, _)| l).collect(),
            _ => Vec::new(),
        }
    }
}

/// The schema of one attribute, as declared with `attr.*(...)`. Kept in plain Rust so a
/// `dbuild doc` command can print it without running Starlark.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrSpec {
    pub ty: AttrType,
    /// `None` means the type's natural empty value (`""`, `0`, `False`, `[]`, `{}`, no label).
    pub default: Option<AttrValue>,
    pub mandatory: bool,
    pub doc: String,
    pub allow_files: Option<FileFilter>,
    /// Set for `attr.label(allow_single_file = ...)`: the attribute also appears in `ctx.file`.
    pub allow_single_file: Option<FileFilter>,
}

impl AttrSpec {
    pub(crate) fn default_value(&self) -> AttrValue {
        if let Some(d) = &self.default {
            return d.clone();
        }
        match self.ty {
            AttrType::String => AttrValue::String(String::new()),
            AttrType::Int => AttrValue::Int(0),
            AttrType::Bool => AttrValue::Bool(false),
            AttrType::StringList => AttrValue::StringList(Vec::new()),
            AttrType::StringDict => AttrValue::StringDict(Vec::new()),
            AttrType::Label => AttrValue::Label(None),
            AttrType::LabelList => AttrValue::LabelList(Vec::new()),
            AttrType::LabelKeyedStringDict => AttrValue::LabelKeyedStringDict(Vec::new()),
        }
    }

    /// Which files `ctx.files.<attr>` may contain, if restricted.
    pub(crate) fn file_filter(&self) -> Option<&FileFilter> {
        self.allow_single_file.as_ref().or(self.allow_files.as_ref())
    }
}

/// The value `attr.string(...)` etc. return; consumed by `rule(attrs = {...})`.
#[derive(Debug, ProvidesStaticType, NoSerialize, Allocative, StarlarkPagablePanic)]
pub(crate) struct AttrObj {
    #[allocative(skip)]
    pub(crate) spec: Arc<AttrSpec>,
}

impl fmt::Display for AttrObj {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<attr.{}>", self.spec.ty.name())
    }
}

starlark_simple_value!(AttrObj);

#[starlark_value(type = "Attribute")]
impl<'v> StarlarkValue<'v> for AttrObj {}

/// Where relative labels in an attribute value are resolved.
#[derive(Clone, Debug)]
pub(crate) struct LabelBase {
    pub repo: Repo,
    pub package: String,
    pub main_name: Option<String>,
}

impl LabelBase {
    fn from_eval(eval: &Evaluator) -> LabelBase {
        match EvalContext::from_eval(eval) {
            Some(EvalContext::Star { label, main_name, .. }) => {
                LabelBase { repo: label.repo.clone(), package: label.package.clone(), main_name: main_name.clone() }
            }
            Some(EvalContext::Build(p)) => {
                LabelBase { repo: p.repo.clone(), package: p.package.clone(), main_name: p.main_name.clone() }
            }
            _ => LabelBase { repo: Repo::Main, package: String::new(), main_name: None },
        }
    }
}

fn type_error(ty: AttrType, v: Value) -> String {
    let mut repr = v.to_repr();
    if repr.len() > 60 {
        let mut cut = 57;
        while !repr.is_char_boundary(cut) {
            cut -= 1;
        }
        repr.truncate(cut);
        repr.push_str("...");
    }
    format!("expected {}, got {} {}", ty.expectation(), v.get_type(), repr)
}

fn items<'v>(v: Value<'v>) -> Option<Vec<Value<'v>>> {
    if let Some(l) = ListRef::from_value(v) {
        return Some(l.iter().collect());
    }
    TupleRef::from_value(v).map(|t| t.iter().collect())
}

fn parse_label(s: &str, base: &LabelBase) -> Result<Label, String> {
    let mut label = Label::parse_relative(s, &base.repo, &base.package).map_err(|e| e.to_string())?;
    if let Repo::Named(r) = &label.repo {
        if base.main_name.as_deref() == Some(r.as_str()) {
            label.repo = Repo::Main;
        }
    }
    Ok(label)
}

/// Converts a Starlark value into an attribute value of type `ty`, or explains why not.
pub(crate) fn coerce(ty: AttrType, v: Value, base: &LabelBase) -> Result<AttrValue, String> {
    let fail = || type_error(ty, v);
    let string_of = |x: Value| x.unpack_str().map(str::to_owned);
    Ok(match ty {
        AttrType::String => AttrValue::String(string_of(v).ok_or_else(fail)?),
        AttrType::Int => {
            if v.unpack_bool().is_some() {
                return Err(fail());
            }
            AttrValue::Int(v.unpack_i32().ok_or_else(fail)?)
        }
        AttrType::Bool => AttrValue::Bool(v.unpack_bool().ok_or_else(fail)?),
        AttrType::StringList => {
            let xs = items(v).ok_or_else(fail)?;
            AttrValue::StringList(xs.into_iter().map(|x| string_of(x).ok_or_else(fail)).collect::<Result<_, _>>()?)
        }
        AttrType::StringDict => {
            let d = DictRef::from_value(v).ok_or_else(fail)?;
            let mut out = Vec::new();
            for (k, x) in d.iter() {
                out.push((string_of(k).ok_or_else(fail)?, string_of(x).ok_or_else(fail)?));
            }
            AttrValue::StringDict(out)
        }
        AttrType::Label => AttrValue::Label(Some(parse_label(v.unpack_str().ok_or_else(fail)?, base)?)),
        AttrType::LabelList => {
            let xs = items(v).ok_or_else(fail)?;
            let mut out = Vec::new();
            for x in xs {
                out.push(parse_label(x.unpack_str().ok_or_else(fail)?, base)?);
            }
            AttrValue::LabelList(out)
        }
        AttrType::LabelKeyedStringDict => {
            let d = DictRef::from_value(v).ok_or_else(fail)?;
            let mut out = Vec::new();
            for (k, x) in d.iter() {
                let label = parse_label(k.unpack_str().ok_or_else(fail)?, base)?;
                out.push((label, string_of(x).ok_or_else(fail)?));
            }
            AttrValue::LabelKeyedStringDict(out)
        }
    })
}

fn file_filter(param: &str, v: Option<Value>) -> anyhow::Result<Option<FileFilter>> {
    let Some(v) = v else { return Ok(None) };
    if v.is_none() {
        return Ok(None);
    }
    if let Some(b) = v.unpack_bool() {
        return Ok(b.then_some(FileFilter::Any));
    }
    if let Some(xs) = items(v) {
        let exts =
            xs.into_iter().map(|x| x.unpack_str().map(str::to_owned)).collect::<Option<Vec<_>>>().ok_or_else(|| {
                anyhow::anyhow!("{param} must be True, False or a list of extensions like [\".txt\"]")
            })?;
        return Ok(Some(FileFilter::Extensions(exts)));
    }
    anyhow::bail!("{param} must be True, False or a list of extensions like [\".txt\"], got {}", v.get_type())
}

fn make_attr<'v>(
    ty: AttrType,
    default: Option<Value<'v>>,
    mandatory: bool,
    doc: &str,
    allow_files: Option<FileFilter>,
    allow_single_file: Option<FileFilter>,
    eval: &Evaluator<'v, '_, '_>,
) -> anyhow::Result<AttrObj> {
    let base = LabelBase::from_eval(eval);
    let default = match default {
        Some(d) if !(d.is_none() && ty == AttrType::Label) => {
            Some(coerce(ty, d, &base).map_err(|e| anyhow::anyhow!("attr.{}: invalid default: {e}", ty.name()))?)
        }
        _ => None,
    };
    let spec = AttrSpec { ty, default, mandatory, doc: doc.to_owned(), allow_files, allow_single_file };
    Ok(AttrObj { spec: Arc::new(spec) })
}

/// `attr.string(default, mandatory, doc)` and friends.
#[starlark_module]
pub(crate) fn attr_module(builder: &mut GlobalsBuilder) {
    fn string<'v>(
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = false)] mandatory: bool,
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<AttrObj> {
        make_attr(AttrType::String, default, mandatory, doc, None, None, eval)
    }

    fn int<'v>(
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = false)] mandatory: bool,
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<AttrObj> {
        make_attr(AttrType::Int, default, mandatory, doc, None, None, eval)
    }

    fn bool<'v>(
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = false)] mandatory: bool,
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<AttrObj> {
        make_attr(AttrType::Bool, default, mandatory, doc, None, None, eval)
    }

    fn string_list<'v>(
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = false)] mandatory: bool,
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<AttrObj> {
        make_attr(AttrType::StringList, default, mandatory, doc, None, None, eval)
    }

    fn string_dict<'v>(
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = false)] mandatory: bool,
        #[starlark(require = named, default = "")] doc: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<AttrObj> {
        make_attr(AttrType::StringDict, default, mandatory, doc, None, None, eval)
    }

    fn label<'v>(
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = false)] mandatory: bool,
        #[starlark(require = named, default = "")] doc: &str,
        #[starlark(require = named)] allow_files: Option<Value<'v>>,
        #[starlark(require = named)] allow_single_file: Option<Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<AttrObj> {
        let allow_files = file_filter("allow_files", allow_files)?;
        let single = file_filter("allow_single_file", allow_single_file)?;
        if allow_files.is_some() && single.is_some() {
            anyhow::bail!("attr.label: allow_files and allow_single_file are mutually exclusive");
        }
        make_attr(AttrType::Label, default, mandatory, doc, allow_files, single, eval)
    }

    fn label_list<'v>(
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = false)] mandatory: bool,
        #[starlark(require = named, default = "")] doc: &str,
        #[starlark(require = named)] allow_files: Option<Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<AttrObj> {
        let allow_files = file_filter("allow_files", allow_files)?;
        make_attr(AttrType::LabelList, default, mandatory, doc, allow_files, None, eval)
    }

    fn label_keyed_string_dict<'v>(
        #[starlark(require = named)] default: Option<Value<'v>>,
        #[starlark(require = named, default = false)] mandatory: bool,
        #[starlark(require = named, default = "")] doc: &str,
        #[starlark(require = named)] allow_files: Option<Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<AttrObj> {
        let allow_files = file_filter("allow_files", allow_files)?;
        make_attr(AttrType::LabelKeyedStringDict, default, mandatory, doc, allow_files, None, eval)
    }
}
