//! Conversions at the edge: JS values into the core's [`Value`], core errors into JS errors.

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::core::options::{ErrorKind, OptionError, Value};

const MAX_DEPTH: u32 = 8;
const MAX_ITEMS: u32 = 1_000;

/// Reads a JS value into a [`Value`], bounded in depth and size. A getter that throws becomes a
/// `TypeError` naming the field.
pub fn to_value(v: &JsValue, path: &str, depth: u32) -> Result<Value, JsValue> {
    if v.is_undefined() {
        return Ok(Value::Undefined);
    }
    if v.is_null() {
        return Ok(Value::Null);
    }
    if let Some(b) = v.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Some(n) = v.as_f64() {
        return Ok(Value::Number(n));
    }
    if let Some(s) = v.as_string() {
        return Ok(Value::String(s));
    }
    let type_name = v.js_typeof().as_string().unwrap_or_default();
    if type_name != "object" || depth >= MAX_DEPTH {
        return Ok(Value::Other(type_name));
    }
    if Array::is_array(v) {
        let array: &Array = v.unchecked_ref();
        if array.length() > MAX_ITEMS {
            let message = format!("ratewindow: `{path}` must have at most {MAX_ITEMS} items, got {}", array.length());
            return Err(js_sys::RangeError::new(&message).into());
        }
        let mut items = Vec::new();
        for i in 0..array.length() {
            let item = Reflect::get_u32(array, i).map_err(|_| unreadable(&format!("{path}[{i}]")))?;
            items.push(to_value(&item, &format!("{path}[{i}]"), depth + 1)?);
        }
        return Ok(Value::Array(items));
    }
    let object: &Object = v.unchecked_ref();
    let mut fields = Vec::new();
    for key in Object::keys(object).iter().take(MAX_ITEMS as usize) {
        let name = key.as_string().unwrap_or_default();
        let field = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
        let value = Reflect::get(object, &key).map_err(|_| unreadable(&field))?;
        fields.push((name, to_value(&value, &field, depth + 1)?));
    }
    Ok(Value::Object(fields))
}

fn unreadable(field: &str) -> JsValue {
    js_sys::TypeError::new(&format!("ratewindow: `{field}` could not be read")).into()
}

/// An invalid option as the JS error a caller expects.
pub fn option_error(e: &OptionError) -> JsValue {
    match e.kind {
        ErrorKind::Type => js_sys::TypeError::new(&e.message).into(),
        ErrorKind::Range => js_sys::RangeError::new(&e.message).into(),
    }
}

/// Sets `key` on `target`, ignoring failure (a plain fresh object never refuses).
pub fn set(target: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(target, &JsValue::from_str(key), &value.into());
}
