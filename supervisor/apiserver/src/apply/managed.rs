//! `metadata.managedFields`: one entry per manager, operation and subresource, each with
//! the set of fields it owns.

use serde_json::{Value, json};

use super::fieldset::FieldSet;

/// How a manager last wrote its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Server-side apply: the manager declared these fields.
    Apply,
    /// Create, update or patch: the manager changed these fields.
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// Who is writing: a field manager with an operation, on the main resource or a subresource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manager {
    /// The field manager name (`fieldManager`, or derived from the User-Agent).
    pub name: String,
    /// Apply or Update.
    pub operation: Operation,
    /// `status` for writes through `/status`, empty otherwise.
    pub subresource: String,
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The manager, operation and subresource.
    pub manager: Manager,
    /// The API version the manager wrote with.
    pub api_version: String,
    /// When the manager last changed the object.
    pub time: Option<String>,
    /// The fields it owns.
    pub fields: FieldSet,
}

impl Entry {
    fn to_json(&self) -> Value {
        let mut entry = json!({
            "manager": self.manager.name,
            "operation": self.manager.operation.as_str(),
            "apiVersion": self.api_version,
            "fieldsType": "FieldsV1",
            "fieldsV1": self.fields.to_fields_v1(),
        });
        if let Some(time) = &self.time {
            entry["time"] = json!(time);
        }
        if !self.manager.subresource.is_empty() {
            entry["subresource"] = json!(self.manager.subresource);
        }
        entry
    }

    fn from_json(value: &Value) -> Option<Entry> {
        let text = |f: &str| value.get(f).and_then(Value::as_str).map(str::to_owned);
        let operation = match text("operation")?.as_str() {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            _ => return None,
        };
        Some(Entry {
            manager: Manager {
                name: text("manager").unwrap_or_default(),
                operation,
                subresource: text("subresource").unwrap_or_default(),
            },
            api_version: text("apiVersion").unwrap_or_default(),
            time: text("time"),
            fields: value.get("fieldsV1").map(FieldSet::from_fields_v1).unwrap_or_default(),
        })
    }
}

/// All entries of one object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ManagedFields(pub Vec<Entry>);

impl ManagedFields {
    /// Reads `metadata.managedFields` (entries that cannot be read are dropped).
    pub fn of(object: &Value) -> ManagedFields {
        let entries = object.pointer("/metadata/managedFields").and_then(Value::as_array);
        ManagedFields(entries.into_iter().flatten().filter_map(Entry::from_json).collect())
    }

    /// Writes them into `object.metadata.managedFields` (removed when there are none).
    pub fn store(&self, object: &mut Value) {
        let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) else { return };
        if self.0.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(self.0.iter().map(Entry::to_json).collect()));
        }
    }

    /// The entry of `manager`, if any.
    pub fn get(&self, manager: &Manager) -> Option<&Entry> {
        self.0.iter().find(|e| e.manager == *manager)
    }

    /// Sets the fields of `manager` (creating its entry at the end), recording `time` when
    /// the set changed or `touched` says the object changed.
    pub fn set(&mut self, manager: &Manager, api_version: &str, fields: FieldSet, touched: bool) {
        let now = crate::meta::now();
        match self.0.iter_mut().find(|e| e.manager == *manager) {
            Some(entry) => {
                if entry.fields != fields || touched {
                    entry.time = Some(now);
                    entry.api_version = api_version.to_owned();
                }
                entry.fields = fields;
            }
            None => self.0.push(Entry {
                manager: manager.clone(),
                api_version: api_version.to_owned(),
                time: Some(now),
                fields,
            }),
        }
    }

    /// Takes `fields` (and everything below them) away from every manager but `except`.
    pub fn release(&mut self, except: &Manager, fields: &FieldSet) {
        for entry in self.0.iter_mut().filter(|e| e.manager != *except) {
            entry.fields.retain(|p| !fields.contains(p));
        }
    }

    /// Drops everything at or below `removed` from every manager (the object no longer has it).
    pub fn forget(&mut self, removed: &FieldSet) {
        if removed.is_empty() {
            return;
        }
        for entry in &mut self.0 {
            entry.fields.retain(|p| !removed.covers(p));
        }
    }

    /// Removes entries that own nothing.
    pub fn prune(&mut self) {
        self.0.retain(|e| !e.fields.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::super::fieldset::field_path;
    use super::*;

    fn manager(name: &str, operation: Operation) -> Manager {
        Manager { name: name.into(), operation, subresource: String::new() }
    }

    #[test]
    fn entries_round_trip_through_metadata() {
        let mut object = json!({"metadata": {"name": "a"}});
        let mut managed = ManagedFields::default();
        managed.set(
            &manager("m", Operation::Apply),
            "v1",
            [field_path(&["data", "a"])].into_iter().collect(),
            true,
        );
        managed.set(
            &Manager { subresource: "status".into(), ..manager("s", Operation::Update) },
            "v1",
            [field_path(&["status", "x"])].into_iter().collect(),
            true,
        );
        managed.store(&mut object);
        let stored = &object["metadata"]["managedFields"];
        assert_eq!(stored[0]["manager"], "m");
        assert_eq!(stored[0]["operation"], "Apply");
        assert_eq!(stored[0]["fieldsType"], "FieldsV1");
        assert_eq!(stored[0]["fieldsV1"], json!({"f:data": {"f:a": {}}}));
        assert_eq!(stored[1]["subresource"], "status");
        assert_eq!(ManagedFields::of(&object), managed);
    }

    #[test]
    fn release_and_forget_shrink_other_managers() {
        let (a, b) = (manager("a", Operation::Apply), manager("b", Operation::Update));
        let mut managed = ManagedFields::default();
        let both: FieldSet = [field_path(&["data", "x"]), field_path(&["data", "y"])].into_iter().collect();
        managed.set(&a, "v1", both.clone(), true);
        managed.set(&b, "v1", both, true);
        managed.release(&a, &[field_path(&["data", "x"])].into_iter().collect());
        assert_eq!(managed.get(&b).unwrap().fields.len(), 1);
        assert_eq!(managed.get(&a).unwrap().fields.len(), 2);
        managed.forget(&[field_path(&["data"])].into_iter().collect());
        managed.prune();
        assert!(managed.0.is_empty());
    }
}
