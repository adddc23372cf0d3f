//! Reading common argument shapes of `ctx.actions` methods, for the domains' method fragments,
//! so each shape is checked, and its errors worded, once.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use starlark::values::dict::DictRef;
use starlark::values::Value;

/// A string-to-string dict (or `None`, read as empty), sorted by key. `what` names the
/// argument in errors (`//app:gen: ctx.actions.run: env`).
pub fn string_dict(v: Value, what: &str) -> Result<BTreeMap<String, String>> {
    if v.is_none() {
        return Ok(BTreeMap::new());
    }
    let d = DictRef::from_value(v).ok_or_else(|| anyhow!("{what} must be a dict, got {}", v.get_type()))?;
    d.iter()
        .map(|(k, x)| match (k.unpack_str(), x.unpack_str()) {
            (Some(k), Some(x)) => Ok((k.to_string(), x.to_string())),
            _ => Err(anyhow!("{what} must map strings to strings, got {}: {}", k.to_repr(), x.to_repr())),
        })
        .collect()
}
