//! Paged list results: `cursor`, `page_size`, `sort_by`, `sort_ascending`,
//! `included_fields`, and the `{results, result_count, cursor, sort_by, sort_ascending}`
//! envelope.
//!
//! The cursor is the offset of the next page as a decimal string: opaque to Policy
//! clients, and a number to search clients (nsxlib's `_search_all` does `int(cursor)` and
//! stops once it reaches `result_count`). A list leaves it out on the last page, as NSX
//! does; a search always carries it (on the last page it equals `result_count`). Offsets over a list that changed between pages can skip or
//! repeat an item, also as NSX does; clients must tolerate that.

use std::cmp::Ordering;

use serde_json::{Map, Value, json};

use super::error::NsxError;

/// Default and maximum `page_size`.
pub(crate) const MAX_PAGE_SIZE: usize = 1000;

/// The list query parameters.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ListParams {
    offset: usize,
    page_size: usize,
    sort_by: Option<String>,
    sort_ascending: bool,
    included_fields: Option<Vec<String>>,
}

impl Default for ListParams {
    fn default() -> ListParams {
        ListParams {
            offset: 0,
            page_size: MAX_PAGE_SIZE,
            sort_by: None,
            sort_ascending: true,
            included_fields: None,
        }
    }
}

impl ListParams {
    /// Parses the list parameters out of a raw query string; other parameters are ignored.
    pub(crate) fn parse(query: Option<&str>) -> Result<ListParams, NsxError> {
        let mut params = ListParams::default();
        for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match &*key {
                "cursor" => params.offset = decode_cursor(&value)?,
                "page_size" => {
                    let size: usize = value
                        .parse()
                        .map_err(|_| NsxError::invalid(format!("Invalid page_size {value}.")))?;
                    if size == 0 {
                        return Err(NsxError::invalid("page_size must be at least 1."));
                    }
                    params.page_size = size.min(MAX_PAGE_SIZE);
                }
                "sort_by" => params.sort_by = Some(value.into_owned()),
                "sort_ascending" => {
                    params.sort_ascending = value
                        .parse()
                        .map_err(|_| NsxError::invalid(format!("Invalid sort_ascending {value}.")))?;
                }
                "included_fields" => {
                    params.included_fields = Some(value.split(',').map(|f| f.trim().to_owned()).collect());
                }
                _ => {}
            }
        }
        Ok(params)
    }
}

/// Sorts `items` (by `sort_by`, then id), cuts the page and wraps it in the list envelope.
pub(crate) fn page(items: Vec<Value>, params: &ListParams) -> Value {
    envelope(items, params, false)
}

/// [`page`] for search results: the cursor is there on the last page too.
pub(crate) fn search_page(items: Vec<Value>, params: &ListParams) -> Value {
    envelope(items, params, true)
}

fn envelope(mut items: Vec<Value>, params: &ListParams, always_cursor: bool) -> Value {
    items.sort_by(|a, b| {
        let by_field = params.sort_by.as_deref().map_or(Ordering::Equal, |f| compare(&a[f], &b[f]));
        let ordering = by_field.then_with(|| compare(&a["id"], &b["id"]));
        if params.sort_ascending { ordering } else { ordering.reverse() }
    });
    let total = items.len();
    let end = params.offset.saturating_add(params.page_size).min(total);
    let results: Vec<Value> = items
        .into_iter()
        .skip(params.offset)
        .take(end.saturating_sub(params.offset))
        .map(|item| project(item, params.included_fields.as_deref()))
        .collect();
    let mut body = json!({
        "results": results,
        "result_count": total,
        "sort_ascending": params.sort_ascending,
    });
    if let Some(sort_by) = &params.sort_by {
        body["sort_by"] = json!(sort_by);
    }
    if end < total || always_cursor {
        body["cursor"] = json!(end.to_string());
    }
    body
}

fn decode_cursor(cursor: &str) -> Result<usize, NsxError> {
    cursor.parse().map_err(|_| NsxError::invalid(format!("Invalid cursor {cursor}.")))
}

fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x.as_f64().unwrap_or(0.0).partial_cmp(&y.as_f64().unwrap_or(0.0)).unwrap_or(Ordering::Equal)
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        _ => a.to_string().cmp(&b.to_string()),
    }
}

fn project(item: Value, fields: Option<&[String]>) -> Value {
    match (item, fields) {
        (Value::Object(map), Some(fields)) => {
            let kept: Map<String, Value> =
                map.into_iter().filter(|(k, _)| fields.iter().any(|f| f == k)).collect();
            Value::Object(kept)
        }
        (item, _) => item,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: usize) -> Vec<Value> {
        (0..n).map(|i| json!({"id": format!("s{i:02}"), "display_name": format!("z{}", n - i)})).collect()
    }

    #[test]
    fn walks_every_page_with_the_cursor() {
        let mut params = ListParams::parse(Some("page_size=2")).unwrap();
        let mut seen = Vec::new();
        loop {
            let body = page(items(5), &params);
            assert_eq!(body["result_count"], 5);
            seen.extend(
                body["results"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()),
            );
            let Some(cursor) = body["cursor"].as_str() else { break };
            params = ListParams::parse(Some(&format!("page_size=2&cursor={cursor}"))).unwrap();
        }
        assert_eq!(seen, ["s00", "s01", "s02", "s03", "s04"]);
    }

    #[test]
    fn sorts_and_projects() {
        let params =
            ListParams::parse(Some("sort_by=display_name&sort_ascending=false&included_fields=id")).unwrap();
        let body = page(items(3), &params);
        assert_eq!(body["results"], json!([{"id": "s00"}, {"id": "s01"}, {"id": "s02"}]));
        assert_eq!(body["sort_by"], "display_name");
        assert!(body.get("cursor").is_none());
    }

    #[test]
    fn refuses_bad_parameters() {
        assert!(ListParams::parse(Some("cursor=@@")).is_err());
    }

    #[test]
    fn search_pages_always_carry_a_numeric_cursor() {
        let items: Vec<Value> = (0..3).map(|i| json!({"id": format!("o{i}")})).collect();
        let params = ListParams::parse(Some("page_size=2&cursor=2")).unwrap();
        let last = search_page(items.clone(), &params);
        assert_eq!(last["cursor"], "3", "the cursor reaches result_count on the last page");
        assert_eq!(last["result_count"], 3);
        assert!(page(items, &params).get("cursor").is_none());
        assert!(ListParams::parse(Some("page_size=0")).is_err());
        assert!(ListParams::parse(Some("page_size=x")).is_err());
        assert_eq!(ListParams::parse(Some("page_size=5000")).unwrap().page_size, MAX_PAGE_SIZE);
    }
}
