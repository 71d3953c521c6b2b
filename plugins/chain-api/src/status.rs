//! Status writes the way every chain plugin makes them: from the status the
//! object has, changed in place, applied through the status subresource only
//! when something changed, so a reconcile that finds nothing new writes
//! nothing (and triggers no watch event that would reconcile it again).

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasmvisor_sdk::{Context, Error, Object};

use crate::Resource;

/// Applies `object`'s status as `change` leaves it, when it differs from the
/// status the object has: the usual way to write a status.
pub fn set<Spec, Status>(
    ctx: &Context,
    object: &Object<Spec, Status>,
    change: impl FnOnce(&mut Status),
) -> Result<(), Error>
where
    Object<Spec, Status>: Resource + Serialize + DeserializeOwned,
    Spec: Default + Clone,
    Status: Default + Clone + PartialEq,
{
    update(ctx, object, |status| {
        let before = status.clone();
        change(status);
        *status != before
    })
}

/// Applies `object`'s status as `change` leaves it, when `change` says it
/// changed anything. `change` starts from the current status (or the default).
pub fn update<Spec, Status>(
    ctx: &Context,
    object: &Object<Spec, Status>,
    change: impl FnOnce(&mut Status) -> bool,
) -> Result<(), Error>
where
    Object<Spec, Status>: Resource + Serialize + DeserializeOwned,
    Spec: Default + Clone,
    Status: Default + Clone,
{
    let mut status = object.status.clone().unwrap_or_default();
    if !change(&mut status) {
        return Ok(());
    }
    let mut update = crate::new_object::<Spec, Status>(
        object.metadata.namespace.as_deref().unwrap_or_default(),
        &object.metadata.name,
        Spec::default(),
    );
    update.status = Some(status);
    ctx.kube().apply_status(ctx.cluster(), &update)?;
    Ok(())
}
