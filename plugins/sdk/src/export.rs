//! Glue between the generated world exports and a [`Reconciler`] (used by
//! [`export!`](crate::export)).

use crate::bindings::{Error as WitError, Outcome, Request};
use crate::{Action, Context, Error, ObjectRef, Reconciler};

fn run<R: Reconciler>(
    request: Request,
    call: fn(&Context, R::Object) -> Result<Action, Error>,
) -> Result<Outcome, WitError> {
    let ctx = Context::new(ObjectRef::from(request.target));
    let object: R::Object = serde_json::from_str(&request.object)
        .map_err(|e| Error::Invalid(format!("the object does not match the plugin's type: {e}")))?;
    let action = call(&ctx, object)?;
    Ok(match action.requeue_after() {
        None => Outcome::Done,
        Some(after) => Outcome::RequeueAfter(u64::try_from(after.as_millis()).unwrap_or(u64::MAX)),
    })
}

/// `reconcile` export.
pub fn reconcile<R: Reconciler>(request: Request) -> Result<Outcome, WitError> {
    run::<R>(request, R::reconcile)
}

/// `finalize` export.
pub fn finalize<R: Reconciler>(request: Request) -> Result<Outcome, WitError> {
    run::<R>(request, R::finalize)
}
