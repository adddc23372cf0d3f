//! Parsing `provider(fields = ...)`: a list of names or a dict of name to doc.

use starlark::values::dict::DictRef;
use starlark::values::list::ListRef;
use starlark::values::tuple::TupleRef;
use starlark::values::Value;

pub(crate) fn parse(fields: Value) -> anyhow::Result<Option<Vec<(String, String)>>> {
    if fields.is_none() {
        return Ok(None);
    }
    let mut out: Vec<(String, String)> = Vec::new();
    let mut push = |name: Value, doc: Option<Value>| -> anyhow::Result<()> {
        let n = name
            .unpack_str()
            .ok_or_else(|| anyhow::anyhow!("provider: field names must be strings, got {}", name.get_type()))?;
        if n.is_empty()
            || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || n.starts_with(|c: char| c.is_ascii_digit())
        {
            anyhow::bail!("provider: field name {n:?} must be an identifier");
        }
        if out.iter().any(|(x, _)| x == n) {
            anyhow::bail!("provider: field {n:?} is listed twice");
        }
        let d = match doc {
            Some(d) => d
                .unpack_str()
                .ok_or_else(|| anyhow::anyhow!("provider: the doc of field {n:?} must be a string"))?
                .to_owned(),
            None => String::new(),
        };
        out.push((n.to_owned(), d));
        Ok(())
    };
    if let Some(d) = DictRef::from_value(fields) {
        for (k, v) in d.iter() {
            push(k, Some(v))?;
        }
    } else if let Some(l) = ListRef::from_value(fields) {
        for v in l.iter() {
            push(v, None)?;
        }
    } else if let Some(t) = TupleRef::from_value(fields) {
        for v in t.iter() {
            push(v, None)?;
        }
    } else {
        anyhow::bail!("provider: fields must be a list of names or a dict of name to doc, got {}", fields.get_type());
    }
    Ok(Some(out))
}
